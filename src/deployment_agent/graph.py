"""The doit task graph of one deployment, declared once for ``dodo.py`` and the CLI.

manifest -> validate -> compile -> generate -> bento + wheelhouse -> smoke, and on demand
serve, base_image -> containerize -> push, and k8s. Each task's targets are exactly
the files it writes; a second run does nothing, and a change reruns only what depends
on it. This module is imported on every doit run, so it and everything it imports use
the standard library (and doit) only: the steps import their stage when they run.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from doit import create_after
from doit.tools import config_changed

from . import __version__
from .contract.settings_schema import SETTINGS_FILE_ENV, environment
from .plan.layout import Layout, layout_for
from .resources import source_files, template_files, templates_dir
from .steps import (
    base_image_current,
    file_unchanged,
    guarded,
    model_unchanged,
    records_agree,
    remember_file,
    remember_model,
    report_action,
    run_step,
    serve_step,
    validate_step,
)

DEFAULT_TASKS = ["validate", "compile", "generate", "bento", "wheelhouse", "smoke"]
PROJECT_SETTINGS = Path("config/settings.yaml")


class BuildConfig(NamedTuple):
    """What one build is of: a manifest's layout, a settings file, option overrides."""

    layout: Layout
    settings_file: str | None
    overrides: dict[str, Any]

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
    from .resources import DRIFT_FILE, SPEC_FILE, copied_paths, outputs, scoring_module

    context = layout.read_json(layout.context_file)
    model = context["model"]
    onnx = layout.read_json(layout.gate_report)["runtime"] == "onnx"
    scoring = scoring_module("onnx" if onnx else model["type"])
    catalogue = model["catalogue"]
    serving = context["runtimes"]["serving"]
    files = [*outputs(serving), "deployment_manifest.json", SPEC_FILE, DRIFT_FILE, "ruff.toml",
             *copied_paths(scoring, serving, catalogue is not None),
             "api/static/swagger-ui-bundle.js", "api/static/swagger-ui.css",
             "api/static/favicon.png", "model/model.onnx" if onnx else model["file"],
             *([catalogue["file"]] if catalogue else [])]
    return [str(layout.deployment / rel) for rel in files]


def validate(config: BuildConfig) -> dict[str, Any]:
    """Validate the manifest, its model file and the settings; write the typed plan."""
    layout = config.layout
    return {
        "actions": [guarded(validate_step, layout, config.settings_file, config.overrides),
                    remember_model(layout)],
        "file_dep": [str(layout.manifest), *_sources(),
                     *([config.settings_file] if config.settings_file else [])],
        "targets": [str(layout.context_file)],
        "uptodate": [config_changed(json.dumps({
            "env": environment(), "overrides": config.overrides, "version": __version__},
            sort_keys=True, default=str)), model_unchanged(layout)],
        "clean": True,
    }


def compile_(config: BuildConfig) -> dict[str, Any]:
    """Convert the model to ONNX and verify it against scikit-learn (the gate)."""
    layout = config.layout
    return {
        "actions": [guarded(run_step, "compile", layout)],
        "file_dep": [str(layout.context_file), *_sources()],
        "targets": [str(layout.gate_report), str(layout.compile_log)],
        "clean": True,
    }


def generate(config: BuildConfig) -> dict[str, Any]:
    """Render the deployment from the templates, check it, and swap it in whole."""
    layout = config.layout
    record = layout.deployment / "deployment_manifest.json"
    return {
        "actions": [guarded(run_step, "generate", layout), remember_file(record)],
        "file_dep": [str(layout.context_file), str(layout.gate_report), *_sources(),
                     *(str(p) for p in template_files())],
        # The deployment may have been put back to the previous one (a failed smoke check).
        "uptodate": [file_unchanged(record)],
        "targets": [*_generated_files(layout), str(layout.generated_record)],
    }


def bento(config: BuildConfig) -> dict[str, Any]:
    """Build the deployment into a bento in the build's BentoML store."""
    layout = config.layout
    return {
        "actions": [guarded(run_step, "bento", layout)],
        "task_dep": ["generate"],
        "uptodate": [records_agree(layout.bento_record, layout.generated_record,
                                   {"tag": "bento_tag", "image": "image"},
                                   lambda r: Path(r["path"]).is_dir())],
        "targets": [str(layout.bento_record)],
    }


def _follows(layout: Layout, step: str, after: str, record: Path, upstream: Path,
             keys: dict[str, str]) -> dict[str, Any]:
    """A step after ``after`` that writes one record, up to date while its ``keys`` still
    name what ``upstream`` records under theirs."""
    return {
        "actions": [guarded(run_step, step, layout)],
        "task_dep": [after],
        "uptodate": [records_agree(record, upstream, keys)],
        "targets": [str(record)],
    }


def smoke(config: BuildConfig) -> dict[str, Any]:
    """Serve the build with the image's entrypoint, in an environment made only from its
    locked wheels; check every endpoint, stop it."""
    layout = config.layout
    task = _follows(layout, "smoke", "bento", layout.smoke_report, layout.bento_record,
                    {"tag": "tag"})
    return {**task, "task_dep": ["bento", "wheelhouse"]}


def serve(config: BuildConfig) -> dict[str, Any]:
    """Serve the build in the foreground on the configured host and port (PORT)."""
    return {"actions": [guarded(serve_step, config.layout)], "task_dep": ["bento"],
            "uptodate": [False], "verbosity": 2}


def base_image(config: BuildConfig) -> dict[str, Any]:
    """Make the base image available: present, pulled, or built from Debian packages."""
    layout = config.layout
    return {
        "actions": [guarded(run_step, "base_image", layout)],
        "file_dep": [str(layout.context_file)],
        "uptodate": [base_image_current(layout)],
    }


def wheelhouse(config: BuildConfig) -> dict[str, Any]:
    """Download and lock the wheels of requirements.txt: the smoke check's environment and
    the image's, offline."""
    layout = config.layout

    def complete() -> bool:
        from .package.wheelhouse import current

        return current(layout)

    return {
        "actions": [guarded(run_step, "wheelhouse", layout)],
        # requirements.txt is generate's: a task created after compile, so doit cannot
        # infer the order from the file; it is declared.
        "task_dep": ["generate"],
        "file_dep": [str(layout.deployment / "requirements.txt")],
        "uptodate": [complete],
        "targets": [str(layout.wheelhouse / name) for name in ("requirements.lock.txt",
                                                               "wheels.txt")],
    }


def containerize(config: BuildConfig) -> dict[str, Any]:
    """Build the service's image offline (--network=none) for its serving runtime."""
    layout = config.layout

    def current(record: dict[str, Any]) -> bool:
        from .package.docker import image_id

        return image_id(record["image"]) == record["id"]

    return {
        "actions": [guarded(run_step, "containerize", layout)],
        "task_dep": ["bento", "base_image", "wheelhouse"],
        # The image is current while it is the bento's, under the reference the plan now
        # names (REGISTRY changes it), and still exists with the recorded id.
        "uptodate": [records_agree(layout.image_record, layout.bento_record,
                                   {"bento_tag": "tag", "image": "image"}, current)],
        "targets": [str(layout.image_record)],
    }


def push(config: BuildConfig) -> dict[str, Any]:
    """Push the image to deployment.docker.registry; record it by digest."""
    layout = config.layout
    return _follows(layout, "push", "containerize", layout.push_record, layout.image_record,
                    {"image_id": "id", "image": "image"})


def k8s(config: BuildConfig) -> dict[str, Any]:
    """Write the Kubernetes kustomize base (by digest once pushed), validated offline."""
    layout = config.layout
    k8s_templates = sorted((templates_dir() / "k8s").glob("*.j2"))
    pushed = layout.read_json(layout.push_record) if layout.push_record.is_file() else {}
    return {
        "actions": [guarded(run_step, "k8s", layout)],
        "task_dep": ["generate"],
        "file_dep": [str(layout.context_file), *_sources(), *map(str, k8s_templates)],
        "uptodate": [config_changed(json.dumps(pushed, sort_keys=True))],
        "targets": [str(layout.k8s / p.name.removesuffix(".j2")) for p in k8s_templates],
    }


def ray(config: BuildConfig) -> dict[str, Any]:
    """Write the Ray Serve target (Serve app and config, node environment, code package,
    KubeRay RayService), validated offline."""
    layout = config.layout
    ray_templates = sorted((templates_dir() / "ray").glob("*.j2"))
    return {
        "actions": [guarded(run_step, "ray", layout)],
        "task_dep": ["generate"],
        # generate's record changes with every file it writes: the code packaged.
        "file_dep": [str(layout.context_file), str(layout.generated_record), *_sources(),
                     *map(str, ray_templates)],
        "targets": [*(str(layout.ray / p.name.removesuffix(".j2")) for p in ray_templates),
                    str(layout.ray_packages)],
    }


def ray_action(command: str, layout: Layout) -> Callable[..., Any]:
    """A doit action running ``deployment-agent ray <command>`` on ``layout``."""
    def action(address: str, timeout: float = 0, replicas: int = 0) -> None:
        from .release import ray_deploy

        options = {"address": address or None, "timeout": timeout or None}
        if command == "deploy":
            print(ray_deploy.deploy(layout, replicas=replicas or None, **options))
        elif command == "scale":
            print(ray_deploy.scale(layout, replicas, **options))
        elif command == "rollback":
            print(ray_deploy.rollback(layout, **options))
        else:
            print(ray_deploy.status(layout, address or None))
    return action


RAY_PARAMS = [
    {"name": "address", "long": "address", "type": str,
     "default": os.environ.get("RAY_DASHBOARD_ADDRESS", ""),
     "help": "the cluster's dashboard URL (default RAY_DASHBOARD_ADDRESS, else "
             "http://127.0.0.1:8265)"},
    {"name": "timeout", "long": "timeout", "type": float, "default": 0,
     "help": "seconds to wait for health (default ray.rollout_timeout_seconds)"},
    {"name": "replicas", "long": "replicas", "type": int, "default": 0,
     "help": "replicas (deploy: a fixed count; scale: the new count)"}]


def ray_deploy(config: BuildConfig) -> dict[str, Any]:
    """Deploy the Ray target to the cluster at --address and wait until every replica is
    healthy; a version that is not is rolled back by itself (non-zero exit)."""
    return {"actions": [ray_action("deploy", config.layout)], "task_dep": ["ray"],
            "params": RAY_PARAMS, "uptodate": [False], "verbosity": 2}


def ray_status(config: BuildConfig) -> dict[str, Any]:
    """Show the Ray application's status, version, replicas and proxies."""
    return {"actions": [ray_action("status", config.layout)], "params": RAY_PARAMS,
            "uptodate": [False], "verbosity": 2}


def ray_rollback(config: BuildConfig) -> dict[str, Any]:
    """Deploy the previous healthy version from the Ray history, and wait for it."""
    return {"actions": [ray_action("rollback", config.layout)], "params": RAY_PARAMS,
            "uptodate": [False], "verbosity": 2}


def ray_scale(config: BuildConfig) -> dict[str, Any]:
    """Change the running version's replica count (--replicas), and wait for it."""
    return {"actions": [ray_action("scale", config.layout)], "params": RAY_PARAMS,
            "uptodate": [False], "verbosity": 2}


def report(config: BuildConfig) -> dict[str, Any]:
    """Draw the model's report after deployment (drift, realized quality) from the
    inference log in --log-dir (default INFERENCE_LOG_DIR), with Evidently."""
    layout = config.layout
    return {
        "actions": [report_action(layout)],
        "task_dep": ["validate"],
        "params": [
            {"name": "log_dir", "long": "log-dir", "type": str,
             "default": os.environ.get("INFERENCE_LOG_DIR", "")},
            {"name": "database_url", "long": "database-url", "type": str,
             "default": os.environ.get("FEEDBACK_DATABASE_URL", "")}],
        "uptodate": [False],  # the log grows between runs: always drawn anew
        "targets": [str(layout.report)],
        "verbosity": 2,
    }


# The graph, in the order `doit list` shows it. generate is created once compile has run:
# its targets (the files it writes) depend on the runtime compile chose.
TASKS: dict[str, Callable[[BuildConfig], dict[str, Any]]] = {
    "validate": validate, "compile": compile_, "generate": generate, "bento": bento,
    "smoke": smoke, "serve": serve, "base_image": base_image, "wheelhouse": wheelhouse,
    "containerize": containerize, "push": push, "k8s": k8s, "ray": ray,
    "ray_deploy": ray_deploy, "ray_status": ray_status, "ray_rollback": ray_rollback,
    "ray_scale": ray_scale, "report": report,
}


def _creator(spec: Callable[[BuildConfig], dict[str, Any]], config: BuildConfig
             ) -> Callable[[], dict[str, Any]]:
    """A doit task creator of ``spec`` for ``config`` (one short body: doit reads each
    creator's source lines on every run)."""
    def task() -> dict[str, Any]:
        return spec(config)

    task.__doc__ = spec.__doc__
    return task


@functools.cache
def _sources() -> tuple[str, ...]:
    return tuple(str(p) for p in source_files())


def make_tasks(config: BuildConfig) -> dict[str, Callable[[], Any]]:
    """The task creators of one build, by doit name (``task_<name>``)."""
    creators = {f"task_{name}": _creator(spec, config) for name, spec in TASKS.items()}
    creators["task_generate"] = create_after(
        executed="compile", target_regex=f"{config.layout.deployment}/.*")(
        creators["task_generate"])
    return creators
