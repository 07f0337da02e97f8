"""The generate step: the typed plan in, a checked deployment folder out, swapped in whole.

Every file is rendered into a staging folder beside the deployment, checked (ruff,
compilation, runbook completeness) and only then swapped in with two renames: a failed
run leaves the previous good deployment untouched. ``deployment_manifest.json`` records
what was generated, from what, with every file's sha256.
"""

from __future__ import annotations

import json
import shutil
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ..contract.errors import GenerationError
from ..hashing import sha256_file, sha256_text
from ..plan.context import Context
from ..plan.history import record
from ..plan.layout import Layout
from ..plan.planner import read_context
from ..plan.runtime import MODELS, SERVING, requirements, wheelhouse_image
from ..resources import outputs
from ..stack import declared_pins, require_module
from .checks import check_python, check_runbook
from .escape import md_fence
from .files import staging_dir, swap_in
from .monitoring import dashboard, rules_document, rules_tests
from .render import environment, render, runbook_sections

DEPLOYMENT_MANIFEST = "deployment_manifest.json"
# Files that make up the bento (and so its version hash); the rest describe the deployment.
BENTO_INPUTS = ("service.py", "bentofile.yaml", "requirements.txt", "api/", "model/", "docker/")
# Setting types that are safe and useful as the image's ENV lines (no free text).
IMAGE_ENV_TYPES = ("int", "float", "bool")


def swagger_assets() -> dict[str, Path]:
    """Swagger UI's files, for an offline /docs page, from the installed BentoML (located
    without importing it: that import alone takes about a second)."""
    require_module("bentoml", "bentoml")
    spec = find_spec("bentoml")
    assert spec is not None and spec.origin is not None
    static = Path(spec.origin).parent / "_internal" / "server" / "static_content"
    return {"api/static/swagger-ui-bundle.js": static / "swagger-ui-bundle.js",
            "api/static/swagger-ui.css": static / "swagger-ui.css",
            "api/static/favicon.png": static / "favicon-light-32x32.png"}


def gate_report(layout: Layout) -> dict[str, Any]:
    """What the compile step decided: the model runtime to serve, and why."""
    if layout.gate_report.is_file():
        return layout.read_json(layout.gate_report)
    return {"runtime": "sklearn", "reason": "the compile step has not run", "gate": None}


def bento_version(files: dict[str, str], api_version: str) -> str:
    """``<api version>-<hash of the bento's inputs>``: same inputs, same bento tag."""
    listing = "".join(f"{p} {h}\n" for p, h in sorted(files.items())
                      if p.startswith(BENTO_INPUTS))
    return f"{api_version}-{sha256_text(listing)[:10]}".lower()


def namespace(context: Context, report: dict[str, Any]) -> dict[str, Any]:
    """What the templates see: the plan's attributes, the runtimes and derived values."""
    serving = SERVING[context.runtimes.serving]
    model_runtime = MODELS[report["runtime"]]
    pins = requirements(serving, model_runtime, context.model.type, context.model.uses_dataframe,
                        context.model.framework_versions)
    user_text = json.dumps(context.model_dump(mode="json"), ensure_ascii=False)
    return {
        **{name: getattr(context, name) for name in Context.model_fields},
        "prediction_type": context.prediction_type,
        "feature_names": context.feature_names,
        "int_fields": [f.ident for f in context.features if f.type == "int" and not f.enum],
        "uses_literal": any(f.enum for f in context.features),
        "serving": serving,
        "model_runtime": model_runtime,
        "compiled": report,
        "requirements": pins,
        "pins": declared_pins(),
        "wheelhouse_image": wheelhouse_image(pins),
        "image_env": [s for s in context.service_settings if s.type in IMAGE_ENV_TYPES],
        "fence": md_fence(user_text),
        "runbook_sections": runbook_sections(),
        "alert_rules": rules_document(context),
        "alert_tests": rules_tests(context),
        "dashboard": dashboard(context),
    }


def served_model_file(layout: Layout, context: Context, report: dict[str, Any]
                      ) -> tuple[str, Path, str]:
    """The model file the deployment carries: its path there, its source and its sha256."""
    runtime = MODELS[report["runtime"]]
    if runtime.serves_compiled:
        return runtime.served_file(context.model.file), layout.compiled_model, \
            report["onnx_sha256"]
    return context.model.file, Path(context.model_source), context.model.sha256


def deployment_manifest(context: Context, report: dict[str, Any], model_file: str,
                        files: dict[str, str]) -> dict[str, Any]:
    """What was generated, from what, with the hash of every file."""
    version = bento_version(files, context.api.version)
    return {
        "api": {"title": context.api.title, "version": context.api.version},
        "endpoints": [e.model_dump() for e in context.endpoints],
        "bento_tag": f"{context.api.slug}:{version}",
        "image": context.image.ref,
        "runtimes": {"serving": context.runtimes.serving, "model": report["runtime"],
                     "model_reason": report["reason"]},
        "gate": report.get("gate"),
        "source_manifest": context.source_manifest.model_dump(),
        "model": {"name": context.model.name, "version": context.model.version,
                  "file": model_file, "sha256": files[model_file],
                  "trained_file_sha256": context.model.sha256},
        "files": dict(sorted(files.items())),
        "generator": {"name": "deployment-agent", "version": context.generator_version},
        "generated_at": context.build_time,
    }


def generate(layout: Layout) -> dict[str, Any]:
    """Render the deployment from the plan, check it, swap it in; return its manifest."""
    context = read_context(layout)
    report = gate_report(layout)
    values = namespace(context, report)
    env = environment(context.runtimes.serving, report["runtime"])
    staging = staging_dir(layout.deployment)
    try:
        for rel, template in outputs(context.runtimes.serving, report["runtime"]).items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_text(render(env, template, values), encoding="utf-8")
        model_file, model_source, expected = served_model_file(layout, context, report)
        for rel, source in {**swagger_assets(), model_file: model_source}.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / rel)
        check_runbook((staging / "runbook.md").read_text(encoding="utf-8"), context)
        check_python(staging)
        files = {p.relative_to(staging).as_posix(): sha256_file(p)
                 for p in sorted(staging.rglob("*")) if p.is_file()}
        if files[model_file] != expected:
            raise GenerationError(f"{model_source} changed since it was checked. Fix: run "
                                  "`doit` (or `deployment-agent deploy`) again")
        manifest = deployment_manifest(context, report, model_file, files)
        (staging / DEPLOYMENT_MANIFEST).write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        swap_in(staging, layout.deployment)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    record(layout, {
        "api_version": context.api.version, "image_ref": context.image.ref,
        "bento_tag": manifest["bento_tag"], "model_version": context.model.version,
        "model_sha256": context.model.sha256, "generated_at": context.build_time,
    })
    return manifest
