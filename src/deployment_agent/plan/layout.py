"""Where one build reads and writes: a :class:`Layout` per experiment manifest.

A manifest inside a folder named ``modeling`` deploys to its sibling ``deployment`` folder
(``artifacts/modeling/experiment_manifest.json`` -> ``artifacts/deployment/``); any other
manifest to a ``deployment`` folder beside it. Build state (the validated context, the
compiled model, the bento store, records of what was built, doit's database) lives in a
sibling ``deployment-build`` folder, or in ``--build-dir``: always beside the user's files,
never inside the installed package.

This module is imported when doit loads the task graph, so it uses the standard library
only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MANIFEST = Path("artifacts/modeling/experiment_manifest.json")
MANIFEST_ENV = "DEPLOYMENT_AGENT_MANIFEST"
BENTO_STORE_ENV = "DEPLOYMENT_AGENT_BENTOS"


@dataclass(frozen=True)
class Layout:
    """The paths of one build."""

    manifest: Path
    deployment: Path
    state: Path

    @property
    def context_file(self) -> Path:
        """The validated, typed template context (written by ``validate``)."""
        return self.state / "context.json"

    @property
    def compiled_model(self) -> Path:
        """The ONNX conversion of the model (written by ``compile`` when it converts)."""
        return self.state / "compiled" / "model.onnx"

    @property
    def gate_report(self) -> Path:
        """What the verification gate found (written by ``compile``)."""
        return self.state / "compiled" / "gate.json"

    @property
    def k8s(self) -> Path:
        """The Kubernetes kustomize base (written by ``k8s``), beside the deployment."""
        return self.deployment.parent / "k8s"

    @property
    def history_file(self) -> Path:
        """Every deployment generated into this folder, for rollbacks."""
        return self.deployment.parent / "deployment_history.json"

    @property
    def bento_store(self) -> Path:
        """BENTOML_HOME of this build (DEPLOYMENT_AGENT_BENTOS moves it)."""
        store = os.environ.get(BENTO_STORE_ENV)
        return Path(store).resolve() if store else (self.state / "bentoml").resolve()

    @property
    def bento_record(self) -> Path:
        return self.state / "bento.json"

    @property
    def image_record(self) -> Path:
        return self.state / "image.json"

    @property
    def push_record(self) -> Path:
        return self.state / "push.json"

    @property
    def wheelhouse(self) -> Path:
        return self.state / "wheelhouse"

    @property
    def smoke_report(self) -> Path:
        return self.state / "smoke.json"

    @property
    def doit_db(self) -> Path:
        return self.state / "doit.db"

    def read_json(self, path: Path) -> Any:
        """One of the build's JSON records."""
        return json.loads(path.read_text(encoding="utf-8"))


def layout_for(manifest: str | Path | None = None, output_dir: str | Path | None = None,
               build_dir: str | Path | None = None) -> Layout:
    """The layout of ``manifest`` (default: DEPLOYMENT_AGENT_MANIFEST, then the example)."""
    path = Path(manifest or os.environ.get(MANIFEST_ENV) or DEFAULT_MANIFEST)
    if output_dir:
        out = Path(output_dir)
    elif path.parent.name == "modeling":
        out = path.parent.parent / "deployment"
    else:
        out = path.parent / "deployment"
    state = Path(build_dir) if build_dir else out.parent / f"{out.name}-build"
    return Layout(manifest=path, deployment=out, state=state)
