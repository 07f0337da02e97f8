"""The generate step: the typed plan in, a checked deployment folder out, swapped in whole.

Every file is rendered into a staging folder beside the deployment, checked (ruff,
compilation, runbook completeness) and only then swapped in with two renames: a failed
run leaves the previous good deployment untouched. ``deployment_manifest.json`` records
what was generated, from what, with every file's sha256.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from importlib.util import find_spec
from pathlib import Path
from typing import Any, NamedTuple

from ..contract.errors import GenerationError
from ..hashing import sha256_file, sha256_text
from ..plan import records
from ..plan.context import Context
from ..plan.history import record
from ..plan.layout import Layout
from ..plan.planner import read_context
from ..plan.runtime import MODELS, SERVING, requirements, wheelhouse_image
from ..resources import DRIFT_FILE, SPEC_FILE, copied_paths, outputs, package_path, scoring_module
from ..service.monitoring.store import POSTGRES
from ..service.spec import ModelSpec
from ..stack import require_module
from .checks import RUFF_CONFIG, check_python, check_runbook
from .escape import md_fence
from .files import staging_dir, swap_in
from .monitoring import dashboard, quality_thresholds, rules_document, rules_tests
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


def verified(layout: Layout) -> bool:
    """Whether the deployment in place is the one the last smoke check passed."""
    record = layout.deployment / DEPLOYMENT_MANIFEST
    if not record.is_file() or not layout.smoke_report.is_file():
        return False
    return layout.read_json(record).get("bento_tag") == \
        layout.read_json(layout.smoke_report).get("tag")


def gate_report(layout: Layout, context: Context) -> dict[str, Any]:
    """What the compile step decided: the model runtime to serve, and why."""
    if layout.gate_report.is_file():
        return layout.read_json(layout.gate_report)
    return {"runtime": "native", "reason": "the compile step has not run", "gate": None,
            "spec": dataclasses.asdict(context.model.spec)}


def bento_version(files: dict[str, str], api_version: str) -> str:
    """``<api version>-<hash of the bento's inputs>``: same inputs, same bento tag."""
    listing = "".join(f"{p} {h}\n" for p, h in sorted(files.items())
                      if p.startswith(BENTO_INPUTS))
    return f"{api_version}-{sha256_text(listing)[:10]}".lower()


class Served(NamedTuple):
    """The model file a deployment serves: its path there, where it comes from, its
    sha256, and the spec its scoring module reads."""

    file: str
    source: Path
    sha256: str
    spec: ModelSpec
    label: str


def served_model(layout: Layout, context: Context, report: dict[str, Any]) -> Served:
    """What the compile step chose to serve: the verified conversion, an ONNX model file
    as it is, or the trained file with its own library."""
    runtime = MODELS[report["runtime"]]
    model = context.model
    spec = dataclasses.replace(
        ModelSpec.from_dict(report["spec"]), name=model.name, version=model.version,
        estimator=model.estimator, runtime=runtime.label if runtime.onnx else
        f"{model.type} (the model's own library)")
    if runtime.onnx and model.type != "onnx":
        return Served(runtime.served_file(model.file), layout.compiled_model,
                      report["onnx_sha256"], spec, runtime.label)
    return Served(runtime.served_file(model.file) if runtime.onnx else model.file,
                  Path(context.model_source), model.sha256, spec, spec.runtime)


def namespace(context: Context, report: dict[str, Any], served: Served) -> dict[str, Any]:
    """What the templates see: the plan's attributes, the runtimes and derived values."""
    serving = SERVING[context.runtimes.serving]
    model_runtime = MODELS[report["runtime"]]
    database = next((s.value for s in context.service_settings
                     if s.env == "FEEDBACK_DATABASE_URL"), None)
    pins = requirements(serving, model_runtime, context.model.requirements,
                        postgres=bool(database) and str(database).startswith(POSTGRES))
    user_text = json.dumps(context.model_dump(mode="json"), ensure_ascii=False)
    return {
        **{name: getattr(context, name) for name in Context.model_fields},
        "prediction_type": context.prediction_type,
        "feature_names": context.feature_names,
        "request_example": context.request_example,
        "feedback_example": context.feedback_example,
        "quality_thresholds": quality_thresholds(context),
        "protocol_example": context.protocol_example,
        "int_fields": [f.ident for f in context.features if f.type == "int" and not f.enum],
        "uses_literal": any(f.enum for f in context.features),
        "serving": serving,
        "model_runtime": model_runtime,
        "served": served,
        "compiled": report,
        "requirements": pins,
        "wheelhouse_image": wheelhouse_image(pins),
        "image_env": [s for s in context.service_settings if s.type in IMAGE_ENV_TYPES],
        "fence": md_fence(user_text),
        "runbook_sections": runbook_sections(),
        "alert_rules": rules_document(context),
        "alert_tests": rules_tests(context),
        "dashboard": dashboard(context),
    }


def drift_references(context: Context) -> str:
    """The drift monitor's references, as the service reads them (``metrics.py``): each
    watched feature's training distribution, by its position in a row, and the
    predictions'."""
    def reference(name: str, drift: Any) -> dict[str, Any]:
        """One reference: its bins' expected shares, and their edges or categories."""
        bins = {"edges": list(drift.edges)} if drift.kind == "numeric" else \
            {"categories": list(drift.categories)}
        return {"name": name, "expected": list(drift.expected), **bins}

    features = [{"position": i, **reference(f.name, f.drift)}
                for i, f in enumerate(context.features) if f.drift]
    prediction = None if context.prediction_drift is None else \
        reference("prediction", context.prediction_drift)
    return json.dumps({"features": features, "prediction": prediction}, indent=1,
                      ensure_ascii=False) + "\n"


def copied_files(context: Context, served: Served) -> dict[str, Path]:
    """The files a deployment carries as they are: the service's own modules, its scoring
    module, the offline docs' assets, the model file and a recommender's catalogue."""
    catalogue = context.model.catalogue
    files = {rel: package_path(*source.split("/")) for rel, source in copied_paths(
        scoring_module(served.spec.family), context.runtimes.serving,
        catalogue is not None).items()}
    if catalogue is not None:
        files[catalogue.file] = Path(catalogue.source)
    return {**files, **swagger_assets(), served.file: served.source}


def deployment_manifest(context: Context, report: dict[str, Any], served: Served,
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
                  "type": context.model.type, "task": context.model.task,
                  "file": served.file, "sha256": files[served.file],
                  "trained_file_sha256": context.model.sha256,
                  "requirements": context.model.requirements,
                  "verified_in_build": context.model.verified},
        "catalogue": None if context.model.catalogue is None else {
            **context.model.catalogue.model_dump(), "sha256": files[
                context.model.catalogue.file]},
        "files": dict(sorted(files.items())),
        "generator": {"name": "deployment-agent", "version": context.generator_version},
        "generated_at": context.build_time,
    }


def generate(layout: Layout) -> dict[str, Any]:
    """Render the deployment from the plan, check it, swap it in; return its manifest."""
    context = read_context(layout)
    report = gate_report(layout, context)
    served = served_model(layout, context, report)
    values = namespace(context, report, served)
    env = environment(context.runtimes.serving)
    staging = staging_dir(layout.deployment)
    try:
        rendered = outputs(context.runtimes.serving)
        for rel, template in rendered.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_text(render(env, template, values), encoding="utf-8")
        (staging / SPEC_FILE).write_text(served.spec.to_json(), encoding="utf-8")
        (staging / DRIFT_FILE).write_text(drift_references(context), encoding="utf-8")
        for rel, source in copied_files(context, served).items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / rel)
        check_runbook((staging / "runbook.md").read_text(encoding="utf-8"), context)
        shutil.copyfile(package_path("generate", RUFF_CONFIG), staging / RUFF_CONFIG)
        check_python(staging, [rel for rel in rendered if rel.endswith(".py")])
        files = {p.relative_to(staging).as_posix(): sha256_file(p)
                 for p in sorted(staging.rglob("*")) if p.is_file()}
        expected = {served.file: served.sha256}
        if context.model.catalogue is not None:
            expected[context.model.catalogue.file] = context.model.catalogue.sha256
        for rel, sha256 in expected.items():
            if files[rel] != sha256:
                raise GenerationError(f"{rel} changed since it was checked. Fix: run `doit` "
                                      "(or `deployment-agent deploy`) again")
        manifest = deployment_manifest(context, report, served, files)
        (staging / DEPLOYMENT_MANIFEST).write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        swap_in(staging, layout.deployment, keep=layout.previous_deployment
                if verified(layout) else None)
        records.write(layout, records.Generated(
            manifest["bento_tag"], manifest["image"], context.runtimes.serving,
            report["runtime"]))
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    record(layout, {
        "api_version": context.api.version, "image_ref": context.image.ref,
        "bento_tag": manifest["bento_tag"], "model_version": context.model.version,
        "model_sha256": context.model.sha256, "generated_at": context.build_time,
    })
    return manifest
