"""The typed plan of one deployment: everything the templates read, computed once.

:class:`Context` is frozen and serialised to ``context.json`` by the validate step;
unchanged inputs give a byte-identical file, so doit reruns nothing downstream. Templates
read its attributes (``api.title``, ``model.classes``); logic lives here, not in Jinja.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from .. import __version__
from ..contract.manifest import ExperimentManifest, FeatureType, ModelType, Task
from ..contract.settings import setting_value
from ..contract.settings_schema import SERVICE_SETTINGS, Setting
from ..hashing import sha256_file
from ..service.spec import ModelSpec
from . import features as plan_features
from .drift import DriftReference, prediction_reference, references

if TYPE_CHECKING:
    from .inspection import ModelInfo

SLUG_MAX = 40  # image names, bento names and Kubernetes object names all fit
# Catalogues up to this size list their item ids in the request schema (an unknown id is
# then invalid input the schema documents); larger ones are checked when scored.
LISTED_ITEM_IDS = 1000


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())


class Endpoint(Frozen):
    method: str
    path: str
    purpose: str


# The service's routes: documented in main.py, the runbook and deployment_manifest.json,
# and checked by the smoke test.
# The id the runbook's feedback example gives its prediction (X-Request-ID).
FEEDBACK_EXAMPLE_ID = "order-1234"
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(method="GET", path="/health", purpose="liveness: 200 while the process runs"),
    Endpoint(method="GET", path="/health/ready",
             purpose="readiness: 503 until the model is loaded and self-checked, then 200"),
    Endpoint(method="POST", path="/predict", purpose="one record"),
    Endpoint(method="POST", path="/predict/batch", purpose="several records, one model call"),
    Endpoint(method="POST", path="/feedback",
             purpose="true outcomes of predictions made (with the inference log on)"),
    Endpoint(method="GET", path="/metrics", purpose="Prometheus metrics"),
    Endpoint(method="GET", path="/docs", purpose="Swagger UI (served locally, no CDN)"),
    Endpoint(method="GET", path="/openapi.json", purpose="OpenAPI 3 document"),
    Endpoint(method="GET", path="/v2/health/ready",
             purpose="Open Inference Protocol readiness (and /v2/health/live, /v2)"),
    Endpoint(method="GET", path="/v2/models/{model_name}",
             purpose="Open Inference Protocol model metadata: inputs with their constraints"),
    Endpoint(method="POST", path="/v2/models/{model_name}/infer",
             purpose="Open Inference Protocol inference (JSON or binary tensors)"),
)
# The Open Inference Protocol's datatype of each feature type (the service declares the same).
PROTOCOL_DATATYPES = {"int": "INT64", "float": "FP64", "bool": "BOOL", "str": "BYTES"}


class FeatureStats(Frozen):
    """Training statistics of a feature: the drift reference."""

    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None


class Feature(Frozen):
    name: str
    ident: str
    type: FeatureType
    nullable: bool
    dtype: str
    minimum: float | None
    maximum: float | None
    enum: list[str | int] | None
    description: str
    stats: FeatureStats | None
    drift: DriftReference | None


class CataloguePlan(Frozen):
    """A recommender's item catalogue: where it comes from and where the service reads it."""

    file: str  # inside the deployment
    source: str
    sha256: str
    items: int
    first_id: str | int  # the example of an item request
    ids: list[str | int] | None  # every id, for the request schema; None when too many


class ModelPlan(Frozen):
    name: str
    version: str
    type: ModelType
    file: str  # path of the trained model file inside the deployment
    sha256: str
    task: Task
    target: str | None
    classes: list[str | int] | None
    has_proba: bool
    uses_dataframe: bool
    estimator: str
    final_estimator: str
    predict_from_proba: bool
    experiment_id: str | None
    metrics: dict[str, float]
    framework_versions: dict[str, str]
    created_at: str | None
    spec: ModelSpec  # how the service scores the trained file with its own library
    requirements: dict[str, str]  # the libraries the trained file needs, pinned
    verified: bool  # loaded and self-checked by the build, in process
    unverified_reason: str | None
    catalogue: CataloguePlan | None
    anomaly_rate: float | None  # anomaly detection: the share expected in live traffic


class ApiPlan(Frozen):
    title: str
    version: str
    slug: str
    host: str
    port: int
    workers: int
    max_batch_size: int
    max_body_bytes: int
    graceful_shutdown_seconds: int
    log_level: str
    cors_enabled: bool
    cors_origins: list[str]


class ImagePlan(Frozen):
    name: str
    tag: str
    ref: str
    registry: str
    base_image: str
    build_ca_bundle: str | None


class ServiceSetting(Frozen):
    """A setting the service reads from its environment, with its configured value."""

    env: str
    field: str
    type: str
    optional: bool
    value: Any
    doc: str
    ge: float | None
    gt: float | None
    le: float | None
    choices: list[str]
    pattern: str | None


class Quality(Frozen):
    window: int
    min_labels: int
    margin: float
    alert_for: str


class Monitoring(Frozen):
    enabled: bool
    enable_drift_detection: bool
    drift_threshold: float
    drift_window_records: int
    drift_window_seconds: int
    latency_p99_ms: float
    drift_alert_for: str
    error_rate: float
    quality: Quality


class Security(Frozen):
    api_keys_file: str | None
    rate_limit: str | None
    rate_limit_storage: str
    tls_certfile: str | None
    tls_keyfile: str | None


class Contacts(Frozen):
    owner: str
    email: str
    on_call: str
    references: list[str]


class Kubernetes(Frozen):
    namespace: str
    replicas: int
    max_replicas: int
    target_cpu_percent: int
    cpu: str
    memory: str


class Ray(Frozen):
    replicas: int
    max_replicas: int
    max_ongoing_requests: int
    cpus_per_replica: float
    proxy: Literal["haproxy", "ray"]
    http_port: int
    package_url: str | None
    rollout_timeout_seconds: int
    image: str


class SourceFile(Frozen):
    path: str
    sha256: str


class Runtimes(Frozen):
    serving: Literal["bentoml", "uvicorn"]
    model: Literal["auto", "onnx", "native"]  # requested; the compile step resolves auto
    onnx_tolerance: float
    onnx_rtol: float
    gate_rows: int
    skops_trusted_types: list[str]


class PreviousDeployment(Frozen):
    api_version: str
    image_ref: str
    bento_tag: str
    model_version: str
    model_sha256: str
    generated_at: str
    image_digest: str | None = None


class Context(Frozen):
    """Everything one deployment is generated from."""

    generator_version: str
    build_time: str
    api: ApiPlan
    image: ImagePlan
    runtimes: Runtimes
    monitoring: Monitoring
    security: Security
    contacts: Contacts
    kubernetes: Kubernetes
    ray: Ray
    model: ModelPlan
    features: list[Feature]
    prediction_drift: DriftReference | None
    example_input: dict[str, Any]
    service_settings: list[ServiceSetting]
    endpoints: list[Endpoint]
    source_manifest: SourceFile
    model_source: str
    previous: PreviousDeployment | None
    # The report's reference sample (rows with their target), when the manifest has one.
    reference: SourceFile | None = None

    @property
    def prediction_type(self) -> str:
        """The JSON type of a prediction: a class label (str or int) or a number."""
        classes = self.model.classes
        if classes and any(isinstance(c, str) for c in classes):
            return "str"
        return "int" if classes else "float"

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def request_example(self) -> dict[str, Any]:
        """A valid /predict body: the example record, or a recommender's query of it."""
        if self.model.task == "recommendation":
            return {"query": self.example_input}
        return self.example_input

    @property
    def feedback_example(self) -> dict[str, Any]:
        """A valid /feedback body for the prediction made under ``X-Request-ID:
        order-1234``: a class, a number, an anomaly flag or a catalogue item."""
        task = self.model.task
        outcome: Any = self.model.classes[0] if self.model.classes else \
            False if task == "anomaly_detection" else \
            self.model.catalogue.first_id if self.model.catalogue is not None else 1.0
        return {"outcomes": [{"prediction_id": FEEDBACK_EXAMPLE_ID, "outcome": outcome}]}

    @property
    def protocol_example(self) -> dict[str, Any]:
        """A valid Open Inference Protocol infer request: the example record, one input per
        feature."""
        return {"inputs": [{"name": f.name, "datatype": PROTOCOL_DATATYPES[f.type],
                            "shape": [1], "data": [self.example_input[f.name]]}
                           for f in self.features]}


def slugify(text: str) -> str:
    """``"Customer Churn API"`` -> ``"customer-churn-api"``: a valid bento, image and
    Kubernetes name (lower-case ASCII, at most 40 characters)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:SLUG_MAX].strip("-")
    return slug or "model-api"


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


def relative(path: Path) -> str:
    """A path relative to the working directory when inside it (stable across clones)."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def _service_setting(setting: Setting, value: Any) -> ServiceSetting:
    return ServiceSetting(
        env=setting.env or setting.name.upper(), field=setting.field, type=setting.type,
        optional=setting.optional, value=list(value) if setting.type == "list" else value,
        doc=setting.doc, ge=setting.ge, gt=setting.gt, le=setting.le,
        choices=list(setting.choices), pattern=setting.pattern,
    )


def _section(model: type[Frozen], settings: Any, section: str) -> Any:
    """A typed section of the plan from the settings section of the same name."""
    values = getattr(settings, section).model_dump()
    return model(**{k: values[k] for k in model.model_fields})


def previous_deployment(history: list[dict[str, Any]], image_ref: str
                        ) -> PreviousDeployment | None:
    """The newest recorded deployment whose image differs from the one being built."""
    entry = next((h for h in reversed(history) if h.get("image_ref") != image_ref), None)
    return PreviousDeployment(**entry) if entry else None


def example_input(manifest: ExperimentManifest) -> dict[str, Any]:
    """The manifest's example input, else a plausible valid value per feature."""
    stats = {name: s.model_dump() for name, s in (manifest.feature_stats or {}).items()}
    return manifest.example_input or {
        name: plan_features.example_value(spec, stats.get(name))
        for name, spec in manifest.input_schema.items()
    }


def build_context(manifest: ExperimentManifest, settings: Any, model: ModelInfo,
                  history: list[dict[str, Any]]) -> Context:
    """The complete, typed plan of one deployment."""
    model_name = manifest.model_name or manifest.model_file.stem
    title = settings.api.title or f"{model_name.replace('_', ' ').title()} API"
    settings_values = {s.key: setting_value(settings, s.key) for s in SERVICE_SETTINGS}
    settings_values["api.title"] = title
    slug = slugify(title)
    classes = model.classes
    task = model.task
    stats = {name: s.model_dump() for name, s in (manifest.feature_stats or {}).items()}
    drift = references(manifest)
    taken: set[str] = set()
    features = []
    for name, spec in manifest.input_schema.items():
        low, high = plan_features.bounds(spec)
        raw_stats = stats.get(name)
        features.append(Feature(
            name=name, ident=plan_features.identifier(name, taken), type=spec.type,
            nullable=spec.nullable, dtype=plan_features.dtype(spec), minimum=low, maximum=high,
            enum=spec.enum, description=spec.description or "", drift=drift[name],
            stats=FeatureStats(**{k: v for k, v in raw_stats.items()
                                  if k in FeatureStats.model_fields}) if raw_stats else None,
        ))
    example = example_input(manifest)
    registry = settings.docker.registry.rstrip("/")
    image_ref = f"{registry + '/' if registry else ''}{slug}:{settings.api.version}"
    model_sha = sha256_file(manifest.model_file)
    catalogue = None
    if manifest.catalog_file is not None and model.spec.catalogue is not None:
        ids = model.item_ids
        catalogue = CataloguePlan(file=model.spec.catalogue.file,
                                  source=relative(manifest.catalog_file),
                                  sha256=model.spec.catalogue.sha256, items=len(ids),
                                  first_id=ids[0],
                                  ids=ids if len(ids) <= LISTED_ITEM_IDS else None)
    return Context(
        generator_version=__version__,
        build_time=build_time(manifest),
        api=ApiPlan(
            title=title, version=settings.api.version, slug=slug,
            host=settings.api.host, port=settings.api.port,
            workers=settings.api.workers, max_batch_size=settings.api.max_batch_size,
            max_body_bytes=settings.api.max_body_bytes,
            graceful_shutdown_seconds=settings.api.graceful_shutdown_seconds,
            log_level=settings.api.log_level, cors_enabled=settings.api.cors.enabled,
            cors_origins=list(settings.api.cors.allow_origins),
        ),
        image=ImagePlan(name=slug, tag=settings.api.version, ref=image_ref, registry=registry,
                        base_image=settings.docker.base_image,
                        build_ca_bundle=settings.docker.build_ca_bundle),
        runtimes=Runtimes(serving=settings.docker.runtime, model=settings.model.runtime,
                          onnx_tolerance=settings.model.onnx_tolerance,
                          onnx_rtol=settings.model.onnx_rtol,
                          gate_rows=settings.model.gate_rows,
                          skops_trusted_types=list(settings.model.skops_trusted_types)),
        monitoring=_section(Monitoring, settings, "monitoring"),
        security=_section(Security, settings, "security"),
        contacts=_section(Contacts, settings, "contacts"),
        kubernetes=_section(Kubernetes, settings, "kubernetes"),
        ray=_section(Ray, settings, "ray"),
        model=ModelPlan(
            name=model_name,
            version=manifest.model_version or manifest.experiment_id or model_sha[:12],
            type=manifest.model_type,
            file=f"model/model{manifest.model_file.suffix or '.bin'}",
            sha256=model_sha, task=task, target=manifest.target, classes=classes,
            has_proba=model.has_proba, uses_dataframe=model.spec.dataframe,
            estimator=model.estimator, final_estimator=model.final_estimator,
            predict_from_proba=model.spec.predict_from_proba,
            experiment_id=manifest.experiment_id, metrics=manifest.metrics or {},
            framework_versions=manifest.framework_versions or {},
            created_at=manifest.created_at, spec=model.spec, requirements=model.requirements,
            verified=model.verified, unverified_reason=model.reason,
            catalogue=catalogue, anomaly_rate=model.anomaly_rate,
        ),
        features=features,
        prediction_drift=prediction_reference(manifest.prediction_stats, classes),
        example_input=example,
        service_settings=[_service_setting(s, settings_values[s.key]) for s in SERVICE_SETTINGS],
        endpoints=list(ENDPOINTS),
        source_manifest=SourceFile(path=relative(manifest.source),
                                   sha256=sha256_file(manifest.source)),
        model_source=relative(manifest.model_file),
        previous=previous_deployment(history, image_ref),
        reference=SourceFile(path=relative(manifest.reference_file),
                             sha256=sha256_file(manifest.reference_file))
        if manifest.reference_file is not None else None,
    )
