"""The doit task graph of one deployment, declared once for ``dodo.py`` and the CLI.

manifest -> validate -> compile -> generate -> bento -> smoke, and on demand serve,
base_image + wheelhouse -> containerize -> push, and k8s. Each task's targets are exactly
the files it writes; a second run does nothing, and a change reruns only what depends
on it. This module is imported on every doit run, so it and everything it imports use
the standard library (and doit) only: the steps import their stage when they run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doit import create_after
from doit.tools import config_changed

from . import __version__
from .contract.settings_schema import SETTINGS_FILE_ENV, environment
from .plan.layout import Layout, layout_for
from .resources import source_files, template_files
from .steps import (
    base_image_current,
    docker_image_present,
    guarded,
    model_unchanged,
    records_agree,
    run_step,
    serve_step,
    validate_step,
)

DEFAULT_TASKS = ["validate", "compile", "generate", "bento", "smoke"]
PROJECT_SETTINGS = Path("config/settings.yaml")


@dataclass(frozen=True)
class BuildConfig:
    """What one build is of: a manifest's layout, a settings file, option overrides."""

    layout: Layout
    settings_file: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, manifest: str | Path | None = None, output_dir: str | Path | None = None,
               build_dir: str | Path | None = None, settings_file: str | Path | None = None,
               **overrides: Any) -> BuildConfig:
        chosen = settings_file or os.environ.get(SETTINGS_FILE_ENV) or (
            PROJECT_SETTINGS if PROJECT_SETTINGS.is_file() else None)
        return cls(layout_for(manifest, output_dir, build_dir),
                   str(chosen) if chosen else None,
                   {k: v for k, v in overrides.items() if v is not None})

    @property
    def doit_config(self) -> dict[str, Any]:
        """doit's configuration; its database lives in the build state folder, which is
        created here because doit writes the database even when no task of ours ran."""
        self.layout.state.mkdir(parents=True, exist_ok=True)
        return {"default_tasks": DEFAULT_TASKS, "verbosity": 2,
                "dep_file": str(self.layout.doit_db), "backend": "json"}


def _generated_files(layout: Layout) -> list[str]:
    """What generate writes for the runtimes validate and compile chose (known once compile
    has run: generate is created after it)."""
    from .resources import outputs

    context = layout.read_json(layout.context_file)
    runtime = layout.read_json(layout.gate_report)["runtime"]
    files = [*outputs(context["runtimes"]["serving"], runtime), "deployment_manifest.json",
             "api/static/swagger-ui-bundle.js", "api/static/swagger-ui.css",
             "api/static/favicon.png",
             "model/model.onnx" if runtime == "onnx" else context["model"]["file"]]
    return [str(layout.deployment / rel) for rel in files]


def make_tasks(config: BuildConfig) -> dict[str, Callable[[], Any]]:
    """The task creators of one build, by doit name (``task_<name>``)."""
    layout = config.layout
    sources = [str(p) for p in source_files()]
    deployment_manifest = layout.deployment / "deployment_manifest.json"

    def task_validate() -> dict[str, Any]:
        """Validate the manifest, its model file and the settings; write the typed plan."""
        return {
            "actions": [guarded(validate_step, layout, config.settings_file, config.overrides)],
            "file_dep": [str(layout.manifest), *sources,
                         *([config.settings_file] if config.settings_file else [])],
            "targets": [str(layout.context_file)],
            "uptodate": [config_changed(json.dumps({
                "env": environment(), "overrides": config.overrides, "version": __version__},
                sort_keys=True, default=str)), model_unchanged(layout)],
            "clean": True,
        }

    def task_compile() -> dict[str, Any]:
        """Convert the model to ONNX and verify it against scikit-learn (the gate)."""
        return {
            "actions": [guarded(run_step, "compile", layout)],
            "file_dep": [str(layout.context_file), *sources],
            "targets": [str(layout.gate_report)],
            "clean": True,
        }

    @create_after(executed="compile", target_regex=f"{layout.deployment}/.*")
    def task_generate() -> dict[str, Any]:
        """Render the deployment from the templates, check it, and swap it in whole."""
        return {
            "actions": [guarded(run_step, "generate", layout)],
            "file_dep": [str(layout.context_file), str(layout.gate_report), *sources,
                         *(str(p) for p in template_files())],
            "targets": _generated_files(layout),
        }

    def task_bento() -> dict[str, Any]:
        """Build the deployment into a bento in the build's BentoML store."""
        return {
            "actions": [guarded(run_step, "bento", layout)],
            "task_dep": ["generate"],
            "uptodate": [records_agree(layout.bento_record, "tag", deployment_manifest,
                                       "bento_tag", lambda r: Path(r["path"]).is_dir())],
            "targets": [str(layout.bento_record)],
        }

    def task_smoke() -> dict[str, Any]:
        """Serve the build with the image's entrypoint, check every endpoint, stop it."""
        return {
            "actions": [guarded(run_step, "smoke", layout)],
            "task_dep": ["bento"],
            "uptodate": [records_agree(layout.smoke_report, "tag", layout.bento_record, "tag")],
            "targets": [str(layout.smoke_report)],
        }

    def task_serve() -> dict[str, Any]:
        """Serve the build in the foreground on the configured host and port (PORT)."""
        return {"actions": [guarded(serve_step, layout)], "task_dep": ["bento"],
                "uptodate": [False], "verbosity": 2}

    def task_base_image() -> dict[str, Any]:
        """Make the base image available: present, pulled, or built from Debian packages."""
        return {
            "actions": [guarded(run_step, "base_image", layout)],
            "file_dep": [str(layout.context_file)],
            "uptodate": [base_image_current(layout)],
        }

    def task_wheelhouse() -> dict[str, Any]:
        """Build the pinned, hashed wheelhouse of requirements.txt for offline builds."""
        requirements = layout.deployment / "requirements.txt"

        def wheelhouse_image() -> str | None:
            from .package.wheelhouse import requirement_lines
            from .plan.runtime import wheelhouse_image as image_of

            if not requirements.is_file():
                return None
            return image_of(requirement_lines(requirements.read_text()))

        return {
            "actions": [guarded(run_step, "wheelhouse", layout)],
            "file_dep": [str(requirements)],
            "uptodate": [docker_image_present(wheelhouse_image)],
            "targets": [str(layout.wheelhouse / "requirements.lock.txt")],
        }

    def task_containerize() -> dict[str, Any]:
        """Build the service's image offline (--network=none) for its serving runtime."""

        def current(record: dict[str, Any]) -> bool:
            from .package.docker import image_id as lookup

            return lookup(record["image"]) == record["id"]

        return {
            "actions": [guarded(run_step, "containerize", layout)],
            "task_dep": ["bento", "base_image", "wheelhouse"],
            "uptodate": [records_agree(layout.image_record, "bento_tag", layout.bento_record,
                                       "tag", current)],
            "targets": [str(layout.image_record)],
        }

    def task_push() -> dict[str, Any]:
        """Push the image to deployment.docker.registry; record it by digest."""
        return {
            "actions": [guarded(run_step, "push", layout)],
            "task_dep": ["containerize"],
            "uptodate": [records_agree(layout.push_record, "image_id", layout.image_record,
                                       "id")],
            "targets": [str(layout.push_record)],
        }

    def task_k8s() -> dict[str, Any]:
        """Write the Kubernetes kustomize base (by digest once pushed), validated offline."""
        from .resources import templates_dir

        k8s_templates = sorted((templates_dir() / "k8s").glob("*.j2"))
        return {
            "actions": [guarded(run_step, "k8s", layout)],
            "task_dep": ["generate"],
            "file_dep": [str(layout.context_file), *sources, *map(str, k8s_templates)],
            "uptodate": [config_changed(json.dumps(
                layout.read_json(layout.push_record) if layout.push_record.is_file()
                else {}, sort_keys=True))],
            "targets": [str(layout.k8s / p.name.removesuffix(".j2")) for p in k8s_templates],
        }

    return {name: creator for name, creator in locals().items() if name.startswith("task_")}
