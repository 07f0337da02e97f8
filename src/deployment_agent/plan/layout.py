"""Where one build reads and writes: a :class:`Layout` per experiment manifest.

A manifest inside a folder named ``modeling`` deploys to its sibling ``deployment`` folder
(``artifacts/modeling/experiment_manifest.json`` -> ``artifacts/deployment/``); any other
manifest to a ``deployment`` folder beside it. A manifest with another name gets a folder
of its own, so that experiments sharing a folder do not overwrite each other's deployment
(``artifacts/modeling/recommender.json`` -> ``artifacts/deployment-recommender/``). Build
state (the validated context, the compiled model, the bento store, records of what was
built, doit's database) lives in a sibling ``deployment-build`` folder, or in
``--build-dir``: always beside the user's files, never inside the installed package.

This module is imported when doit loads the task graph, so it uses the standard library
only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DEFAULT_MANIFEST = Path("artifacts/modeling/experiment_manifest.json")
MANIFEST_ENV = "DEPLOYMENT_AGENT_MANIFEST"
BENTO_STORE_ENV = "DEPLOYMENT_AGENT_BENTOS"


# The build state's files, relative to the state folder, and the task that writes each.
STATE_FILES = {
    "context_file": "context.json",  # validate: the typed plan
    "compiled_model": "compiled/model.onnx",  # compile, when the conversion passes the gate
    "gate_report": "compiled/gate.json",  # compile: what the gate found, the runtime chosen
    "compile_log": "compiled/compile.log",  # compile: the full text of failed attempts
    "generated_record": "generated.json",  # generate: what the steps after it build on
    "bento_record": "bento.json",  # bento
    "wheelhouse": "wheelhouse",  # wheelhouse
    "image_record": "image.json",  # containerize
    "push_record": "push.json",  # push
    "smoke_report": "smoke.json",  # smoke
    "report": "report.html",  # report: the model after deployment (Evidently)
    "previous_deployment": "previous-deployment",  # generate: the last one that passed smoke
    "doit_db": "doit.db",  # doit's own database
}


class Layout:
    """The paths of one build (a plain class: doit imports this module on every run)."""

    __slots__ = ("manifest", "deployment", "state", *STATE_FILES)
    manifest: Path
    deployment: Path
    state: Path
    context_file: Path
    compiled_model: Path
    gate_report: Path
    compile_log: Path
    generated_record: Path
    bento_record: Path
    wheelhouse: Path
    image_record: Path
    push_record: Path
    smoke_report: Path
    previous_deployment: Path
    doit_db: Path

    def __init__(self, manifest: Path, deployment: Path, state: Path) -> None:
        self.manifest, self.deployment, self.state = manifest, deployment, state
        for name, relative in STATE_FILES.items():
            setattr(self, name, state / relative)

    def __repr__(self) -> str:
        return f"Layout({self.manifest}, {self.deployment}, {self.state})"

    @property
    def k8s(self) -> Path:
        """The Kubernetes kustomize base (written by ``k8s``), beside the deployment
        (``deployment`` -> ``k8s``, ``deployment-recommender`` -> ``k8s-recommender``)."""
        return self.beside("k8s")

    @property
    def ray(self) -> Path:
        """The Ray Serve target (written by ``ray``), beside the deployment
        (``deployment`` -> ``ray``, ``deployment-recommender`` -> ``ray-recommender``)."""
        return self.beside("ray")

    def beside(self, kind: str) -> Path:
        """A target's folder beside the deployment: ``deployment`` in the deployment's name
        replaced by ``kind``, or ``kind`` appended when the name lacks it (``d`` ->
        ``d-ray``), so that a target never shares the deployment's folder."""
        name = self.deployment.name
        return self.deployment.parent / (name.replace("deployment", kind, 1)
                                         if "deployment" in name else f"{name}-{kind}")

    @property
    def ray_packages(self) -> Path:
        """Every code package the Ray target was made with, one zip per version: kept
        across builds, since a rollback deploys an older one."""
        return self.state / "ray-packages"

    @property
    def ray_history(self) -> Path:
        """Every version deployed to a Ray cluster from this folder, and how it went."""
        return self.deployment.parent / f"{self.deployment.name}_ray_history.json"

    @property
    def history_file(self) -> Path:
        """Every deployment generated into this folder, for rollbacks."""
        return self.deployment.parent / f"{self.deployment.name}_history.json"

    @property
    def bento_store(self) -> Path:
        """BENTOML_HOME of this build (DEPLOYMENT_AGENT_BENTOS moves it)."""
        store = os.environ.get(BENTO_STORE_ENV)
        return Path(store).resolve() if store else (self.state / "bentoml").resolve()

    def read_json(self, path: Path) -> Any:
        """One of the build's JSON records."""
        return json.loads(path.read_text(encoding="utf-8"))


def layout_for(manifest: str | Path | None = None, output_dir: str | Path | None = None,
               build_dir: str | Path | None = None) -> Layout:
    """The layout of ``manifest`` (default: DEPLOYMENT_AGENT_MANIFEST, then the example)."""
    path = Path(manifest or os.environ.get(MANIFEST_ENV) or DEFAULT_MANIFEST)
    name = "deployment" if path.name == DEFAULT_MANIFEST.name else f"deployment-{path.stem}"
    if output_dir:
        out = Path(output_dir)
    elif path.parent.name == "modeling":
        out = path.parent.parent / name
    else:
        out = path.parent / name
    state = Path(build_dir) if build_dir else out.parent / f"{out.name}-build"
    return Layout(manifest=path, deployment=out, state=state)
