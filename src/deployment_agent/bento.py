"""Build the generated deployment into a bento, in the repository's ``bentos/`` store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .errors import BuildError
from .layout import Layout
from .render import ROOT

# The repository's bento store; DEPLOYMENT_AGENT_BENTOS moves it (tests use a temporary one).
BENTOML_HOME = Path(os.environ.get("DEPLOYMENT_AGENT_BENTOS") or ROOT / "bentos")


def bentoml_env(home: Path = BENTOML_HOME) -> dict[str, str]:
    """The environment for bentoml commands: our store, no usage tracking."""
    return {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"}


def build_bento(layout: Layout, home: Path = BENTOML_HOME) -> dict[str, Any]:
    """``bentoml build`` the deployment with the tag its deployment manifest records."""
    manifest = json.loads((layout.deployment / "deployment_manifest.json").read_text())
    tag = manifest["bento_tag"]
    name, version = tag.split(":")
    store = home / "bentos" / name / version
    if not store.is_dir():  # the same tag always means the same inputs: build once
        result = subprocess.run(
            # BentoML refuses build files outside the working directory: build from inside.
            [sys.executable, "-m", "bentoml", "build", ".", "--version", version,
             "--output", "tag"],
            cwd=layout.deployment, env=bentoml_env(home), capture_output=True, text=True,
        )
        if result.returncode != 0 or f"__tag__:{tag}" not in result.stdout:
            raise BuildError(
                f"bentoml build of {layout.deployment} failed (exit {result.returncode}):\n"
                f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
    record = {"tag": tag, "path": str(store), "image": manifest["image"]}
    layout.bento_record.parent.mkdir(parents=True, exist_ok=True)
    layout.bento_record.write_text(json.dumps(record, indent=2) + "\n")
    return record
