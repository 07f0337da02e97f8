"""Build the generated deployment into a bento in the build's own BentoML store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..contract.errors import BuildError
from ..plan.layout import Layout


def bentoml_env(store: Path) -> dict[str, str]:
    """The environment of bentoml commands: this build's store, no usage tracking."""
    return {**os.environ, "BENTOML_HOME": str(store), "BENTOML_DO_NOT_TRACK": "True"}


def bento_path(store: Path, tag: str) -> Path:
    name, version = tag.split(":")
    return store / "bentos" / name / version


def build(layout: Layout) -> dict[str, Any]:
    """``bentoml build`` the deployment with the tag its deployment manifest records."""
    manifest = json.loads((layout.deployment / "deployment_manifest.json").read_text())
    tag = manifest["bento_tag"]
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
    record = {"tag": tag, "path": str(path), "image": manifest["image"]}
    layout.bento_record.parent.mkdir(parents=True, exist_ok=True)
    layout.bento_record.write_text(json.dumps(record, indent=2) + "\n")
    return record
