"""Prepare everything the templates need, as one deterministic JSON-able dict.

Logic lives here, not in Jinja: identifiers, Python annotations, requirement pins,
example requests and timestamps are computed once, and the context is written to
``context.json`` so that unchanged inputs give a byte-identical context (and doit
reruns nothing downstream).
"""

from __future__ import annotations

import json
import keyword
import os
import re
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from . import __version__
from .hashing import sha256_file
from .manifest import ExperimentManifest, FeatureSpec
from .modelfile import ModelInfo
from .settings import DeploymentSettings
from .wheelhouse import wheelhouse_image

# Packages the generated service imports, pinned to the generator environment's versions
# (themselves pinned in pyproject.toml). The model's own libraries are pinned to the
# versions recorded in the manifest instead: see :func:`requirements`.
SERVING_STACK = (
    "bentoml",
    "fastapi",
    "uvicorn",
    # uvicorn's fast HTTP parser and event loop: with plain h11, small responses meet
    # delayed ACKs and /health takes ~40 ms instead of ~2 ms.
    "httptools",
    "uvloop",
    "pydantic",
    "pydantic-settings",
    "prometheus-client",
    "python-json-logger",
    "limits",  # rate limiting (RATE_LIMIT); shipped so that it can be switched on at run time
)
MODEL_STACK = ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl")

# Unbounded int features are limited to the range JSON numbers hold exactly, so a huge
# integer is a 422, not an overflow inside numpy.
JSON_SAFE_INT = 2**53
MAX_STR_LENGTH = 1000

ENDPOINTS = [
    {"method": "GET", "path": "/health", "purpose": "liveness: 200 while the process runs"},
    {"method": "GET", "path": "/health/ready", "purpose": "readiness: 503 until the model is "
     "loaded and self-checked, then 200"},
    {"method": "POST", "path": "/predict", "purpose": "one record"},
    {"method": "POST", "path": "/predict/batch", "purpose": "several records, one model call"},
    {"method": "GET", "path": "/metrics", "purpose": "Prometheus metrics"},
    {"method": "GET", "path": "/docs", "purpose": "Swagger UI (served locally, no CDN)"},
    {"method": "GET", "path": "/openapi.json", "purpose": "OpenAPI 3 document"},
]


def slugify(text: str) -> str:
    """``"Customer Churn API"`` -> ``"customer-churn-api"`` (a valid bento/image name)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model-api"


def identifier(name: str, taken: set[str]) -> str:
    """A unique, valid Python identifier for a feature name (the original is the alias)."""
    ident = re.sub(r"\W+", "_", name.strip().lower()).strip("_") or "feature"
    if ident[0].isdigit():
        ident = f"f_{ident}"
    if keyword.iskeyword(ident) or ident in ("model_config", "model_fields"):
        ident += "_"
    base, n = ident, 2
    while ident in taken:
        ident, n = f"{base}_{n}", n + 1
    taken.add(ident)
    return ident


def _number(value: float, kind: str) -> str:
    return str(int(value)) if kind == "int" else repr(float(value))


def annotation(spec: FeatureSpec) -> str:
    """The Python type of a feature's field, e.g. ``Literal["a", "b"] | None``."""
    if spec.enum is not None:
        base = "Literal[" + ", ".join(json.dumps(v) for v in spec.enum) + "]"
    else:
        base = spec.type
    return f"{base} | None" if spec.nullable else base


def dtype(spec: FeatureSpec) -> str:
    """The pandas dtype of a feature's column (nullable numbers become float for NaN)."""
    if spec.type == "str":
        return "object"
    if spec.type == "float" or spec.nullable:
        return "float64"
    return "bool" if spec.type == "bool" else "int64"


def field_args(name: str, ident: str, spec: FeatureSpec) -> str:
    """Arguments of ``Field(...)``: alias, bounds and description, as Python source."""
    args = [f"alias={json.dumps(name)}"] if ident != name else []
    if spec.type in ("int", "float"):
        low = spec.minimum if spec.minimum is not None else (
            -JSON_SAFE_INT if spec.type == "int" else None)
        high = spec.maximum if spec.maximum is not None else (
            JSON_SAFE_INT if spec.type == "int" else None)
        if low is not None:
            args.append(f"ge={_number(low, spec.type)}")
        if high is not None:
            args.append(f"le={_number(high, spec.type)}")
    if spec.type == "float":
        args.append("allow_inf_nan=False")
    if spec.type == "str" and spec.enum is None:
        args.append(f"max_length={MAX_STR_LENGTH}")
    if spec.description:
        args.append(f"description={json.dumps(spec.description)}")
    return ", ".join(args)


def example_value(spec: FeatureSpec, stats: dict[str, float] | None) -> Any:
    """A plausible value when the manifest gives no example input."""
    if spec.enum:
        return spec.enum[0]
    if spec.type == "bool":
        return True
    if spec.type == "str":
        return "example"
    if stats and "mean" in stats:
        value = stats["mean"]
    elif spec.minimum is not None and spec.maximum is not None:
        value = (spec.minimum + spec.maximum) / 2
    else:
        value = spec.minimum if spec.minimum is not None else 0
    return int(round(value)) if spec.type == "int" else round(float(value), 4)


def build_time(manifest: ExperimentManifest) -> str:
    """SOURCE_DATE_EPOCH if set, else the manifest's created_at, else its file's mtime."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        moment = datetime.fromtimestamp(int(epoch), UTC)
    elif manifest.created_at:
        return manifest.created_at
    else:
        moment = datetime.fromtimestamp(int(manifest.source.stat().st_mtime), UTC)
    return moment.isoformat().replace("+00:00", "Z")


def requirements(manifest: ExperimentManifest, uses_dataframe: bool, runtime: str) -> list[str]:
    """Pinned requirement lines: the model's libraries at their training versions, and the
    serving stack (BentoML only for the BentoML runtime; `bentoml build` and the host-side
    smoke check run with the generator's own BentoML either way)."""
    trained = {k.lower(): v for k, v in (manifest.framework_versions or {}).items()}
    names = list(MODEL_STACK)
    if manifest.model_type == "skops":
        names.append("skops")
    if uses_dataframe:
        names.append("pandas")
    pins = {name: trained.get(name) or version(name) for name in names}
    pins.update({name: version(name) for name in SERVING_STACK
                 if name != "bentoml" or runtime == "bentoml"})
    return [f"{name}=={pins[name]}" for name in sorted(pins)]


def _relative(path: Path) -> str:
    """A path relative to the working directory when inside it (stable across clones)."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def previous_deployment(history: list[dict[str, Any]], image_ref: str) -> dict[str, Any] | None:
    """The newest recorded deployment whose image differs from the one being built."""
    return next((h for h in reversed(history) if h.get("image_ref") != image_ref), None)


def build_context(
    manifest: ExperimentManifest,
    settings: DeploymentSettings,
    model: ModelInfo,
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    """The complete template context of one deployment."""
    model_name = manifest.model_name or manifest.model_file.stem
    title = settings.api.title or f"{model_name.replace('_', ' ').title()} API"
    slug = slugify(title)
    classes = model.classes if model.classes is not None else manifest.classes
    task = manifest.task or ("classification" if classes else "regression")
    stats = manifest.feature_stats or {}
    taken: set[str] = set()
    features = []
    for name, spec in manifest.input_schema.items():
        ident = identifier(name, taken)
        features.append({
            "name": name,
            "ident": ident,
            "type": spec.type,
            "annotation": annotation(spec),
            "field_args": field_args(name, ident, spec),
            "nullable": spec.nullable,
            "dtype": dtype(spec),
            "minimum": spec.minimum,
            "maximum": spec.maximum,
            "enum": spec.enum,
            "description": spec.description or "",
            "stats": stats.get(name),
        })
    example = manifest.example_input or {
        name: example_value(spec, stats.get(name)) for name, spec in manifest.input_schema.items()
    }
    uses_dataframe = model.feature_names_in is not None or any(
        f["type"] == "str" for f in features)
    registry = settings.docker.registry.rstrip("/")
    image_ref = f"{registry + '/' if registry else ''}{slug}:{settings.api.version}"
    model_sha = sha256_file(manifest.model_file)
    model_file_name = f"model{manifest.model_file.suffix or '.bin'}"
    pins = requirements(manifest, uses_dataframe, settings.docker.runtime)
    extra = {k: v for k, v in (manifest.model_extra or {}).items()}
    return {
        "generator": {"name": "deployment-agent", "version": __version__},
        "build_time": build_time(manifest),
        "api": {
            "title": title,
            "version": settings.api.version,
            "slug": slug,
            "host": settings.api.host,
            "port": settings.api.port,
            "workers": settings.api.workers,
            "max_batch_size": settings.api.max_batch_size,
            "max_body_bytes": settings.api.max_body_bytes,
            "graceful_shutdown_seconds": settings.api.graceful_shutdown_seconds,
            "log_level": settings.api.log_level,
            "cors_enabled": settings.api.cors.enabled,
            "cors_origins": settings.api.cors.allow_origins,
        },
        "service_class": "".join(p.capitalize() for p in slug.split("-")) + "Service",
        "image": {"name": slug, "tag": settings.api.version, "ref": image_ref},
        "docker": settings.docker.model_dump(),
        "monitoring": settings.monitoring.model_dump(),
        "security": settings.security.model_dump(),
        "contacts": settings.contacts.model_dump(),
        "skops_trusted_types": settings.model.skops_trusted_types,
        "model": {
            "name": model_name,
            "version": manifest.model_version or manifest.experiment_id or model_sha[:12],
            "type": manifest.model_type,
            "file": f"model/{model_file_name}",
            "sha256": model_sha,
            "task": task,
            "target": manifest.target,
            "classes": classes,
            "has_proba": model.has_proba if model.inspected else task == "classification",
            "uses_dataframe": uses_dataframe,
            "estimator": model.estimator,
            "final_estimator": model.final_estimator,
            "predict_from_proba": model.predict_from_proba,
            "experiment_id": manifest.experiment_id,
            "metrics": manifest.metrics or {},
            "framework_versions": manifest.framework_versions or {},
            "created_at": manifest.created_at,
            "extra": extra,
        },
        "prediction_type": "str" if classes and any(isinstance(c, str) for c in classes)
        else ("int" if classes else "float"),
        "features": features,
        "has_aliases": any(f["ident"] != f["name"] for f in features),
        "any_nullable": any(f["nullable"] for f in features),
        "uses_literal": any(f["enum"] for f in features),
        # Integer features also take 35.0 (JSON Schema's "integer"); see schemas.py.
        "int_fields": [f["ident"] for f in features if f["type"] == "int" and not f["enum"]],
        "example_input": example,
        "requirements": pins,
        "wheelhouse_image": wheelhouse_image(pins),
        "endpoints": ENDPOINTS,
        "source_manifest": {
            "path": _relative(manifest.source),
            "sha256": sha256_file(manifest.source),
        },
        "model_source": _relative(manifest.model_file),
        "previous": previous_deployment(history, image_ref),
    }
