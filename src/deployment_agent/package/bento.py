"""Build the generated deployment into a bento in the build's own BentoML store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..contract.errors import BuildError
from ..plan import records
from ..plan.layout import Layout


def bentoml_env(store: Path) -> dict[str, str]:
    """The environment of bentoml commands: this build's store, no usage tracking."""
    return {**os.environ, "BENTOML_HOME": str(store), "BENTOML_DO_NOT_TRACK": "True"}


def bento_path(store: Path, tag: str) -> Path:
    name, version = tag.split(":")
    return store / "bentos" / name / version


def build(layout: Layout) -> records.Bento:
    """``bentoml build`` the deployment with the tag the generate step recorded."""
    generated = records.read(layout, records.Generated)
    tag = generated.bento_tag
    store = layout.bento_store
    path = bento_path(store, tag)
    if not path.is_dir():  # the same tag always means the same inputs: build once
        result = subprocess.run(
            # BentoML refuses build files outside the working directory: build from inside.
            [sys.executable, "-m", "bentoml", "build", ".", "--version", tag.split(":")[1],
             "--output", "tag"],
            cwd=layout.deployment, env=bentoml_env(store), capture_output=True, text=True,
        )
        if result.returncode != 0 or f"__tag__:{tag}" not in result.stdout:
            raise BuildError(
                f"bentoml build of {layout.deployment} failed (exit {result.returncode}):\n"
                f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return records.write(layout, records.Bento(tag, str(path), generated.image))


def exported(folder: Path, tag: str) -> Path:
    """Where the archive of bento ``tag`` goes in ``folder``: ``<name>-<version>.bento``."""
    return folder / f"{tag.replace(':', '-')}.bento"


def export(layout: Layout, folder: Path) -> Path:
    """``bentoml export`` the build's bento into ``folder`` (the repository's ``bentos/``),
    as one archive that ``bentoml import`` restores anywhere; older archives of the same
    bento name are replaced, so that the folder holds what the last build made."""
    bento = records.read(layout, records.Bento)
    target = exported(folder, bento.tag)
    folder.mkdir(parents=True, exist_ok=True)
    name = bento.tag.split(":")[0]
    for old in folder.glob(f"{name}-*.bento"):
        if old != target:
            old.unlink()
    result = subprocess.run([sys.executable, "-m", "bentoml", "export", bento.tag,
                             str(target.resolve())], env=bentoml_env(layout.bento_store),
                            capture_output=True, text=True)
    if result.returncode != 0 or not target.is_file():
        raise BuildError(f"bentoml export {bento.tag} failed (exit {result.returncode}):\n"
                         f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return target
