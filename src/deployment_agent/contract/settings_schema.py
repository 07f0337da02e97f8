"""The one declaration of every setting: its key, type, default, bounds and variable.

Everything else is derived from :data:`SETTINGS`:

- the generator's validated settings model (:mod:`deployment_agent.contract.settings`);
- the generated service's ``api/settings.py``, the compose file's environment, the
  Dockerfile's ``ENV`` lines and the runbook's configuration table (the templates iterate
  over the service settings);
- the environment variables a build depends on (:func:`environment`), which doit reads
  on every run: so this module imports nothing but the standard library.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple


class Setting(NamedTuple):
    """One setting under ``deployment:`` in settings.yaml (a named tuple: doit imports this
    module on every run, and a dataclass would cost it the dataclass machinery)."""

    key: str  # dotted path, e.g. "api.port"
    type: str  # "str", "path", "int", "float", "bool" or "list" (of strings)
    default: Any
    doc: str
    env: str | None = None  # environment variable that overrides the file
    argument: str | None = None  # keyword of run_deployment_agent and the CLI option
    optional: bool = False  # None (YAML null) is allowed
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    # The generated service reads it from its environment at run time (with the value
    # configured at build time as its default).
    service: bool = False

    @property
    def section(self) -> tuple[str, ...]:
        return tuple(self.key.split(".")[:-1])

    @property
    def name(self) -> str:
        return self.key.split(".")[-1]

    @property
    def field(self) -> str:
        """The attribute name in the generated service's settings (its variable, lower case)."""
        return (self.env or self.name).lower()


SETTINGS: tuple[Setting, ...] = (
    # --- api: the generated HTTP service -----------------------------------------------
    Setting("api.title", "str", None, 'API title; null: "<model name> API"', env="API_TITLE",
            argument="api_title", optional=True, service=True),
    Setting("api.version", "str", "1.0.0", "API version (image tag)", env="API_VERSION",
            argument="api_version", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
            service=True),
    Setting("api.host", "str", "0.0.0.0", "interface to listen on", env="HOST",
            service=True),
    Setting("api.port", "int", 8000, "HTTP port", env="PORT", argument="port", ge=1,
            le=65535, service=True),
    Setting("api.workers", "int", 2, "worker processes; about one per CPU core",
            env="WORKERS", argument="workers", ge=1, le=64, service=True),
    Setting("api.max_batch_size", "int", 1000, "records per /predict/batch request",
            env="MAX_BATCH_SIZE", ge=1, le=100_000, service=True),
    Setting("api.log_level", "str", "info", "log level", env="LOG_LEVEL",
            choices=("debug", "info", "warning", "error"), service=True),
    Setting("api.max_body_bytes", "int", 1_048_576, "larger request bodies get 413",
            env="MAX_BODY_BYTES", ge=1024, service=True),
    Setting("api.graceful_shutdown_seconds", "int", 30,
            "on SIGTERM, how long in-flight requests may take to finish",
            env="GRACEFUL_SHUTDOWN_SECONDS", ge=1, le=3600, service=True),
    Setting("api.cors.enabled", "bool", False, "answer browsers from CORS_ORIGINS",
            env="CORS_ENABLED", argument="enable_cors", service=True),
    Setting("api.cors.allow_origins", "list", (), "browser origins allowed (comma-separated)",
            env="CORS_ORIGINS", argument="cors_origins", service=True),
    # --- security: paths and policies only; the secrets are files mounted at run time --
    Setting("security.api_keys_file", "path", None,
            "file or directory of API keys (runbook section 8)", env="API_KEYS_FILE",
            optional=True, service=True),
    Setting("security.rate_limit", "str", None, "requests per client, e.g. 100/second",
            env="RATE_LIMIT", optional=True, service=True),
    Setting("security.rate_limit_storage", "str", "memory://",
            "rate-limit counts: per worker (memory://) or shared (redis://host:6379)",
            env="RATE_LIMIT_STORAGE", service=True),
    Setting("security.tls_certfile", "path", None, "PEM certificate: the server speaks HTTPS",
            env="TLS_CERTFILE", optional=True, service=True),
    Setting("security.tls_keyfile", "path", None, "PEM private key of TLS_CERTFILE",
            env="TLS_KEYFILE", optional=True, service=True),
    # --- monitoring ----------------------------------------------------------------------
    Setting("monitoring.enabled", "bool", True, "serve /metrics", env="MONITORING_ENABLED",
            argument="enable_monitoring", service=True),
    Setting("monitoring.enable_drift_detection", "bool", True,
            "compare live inputs with the training distribution (PSI)",
            env="ENABLE_DRIFT_DETECTION", argument="enable_drift_detection", service=True),
    Setting("monitoring.drift_threshold", "float", 0.1,
            "PSI at which drift_detected is set (0.1 moderate, 0.25 major shift)",
            env="DRIFT_THRESHOLD", argument="drift_threshold", gt=0, le=10, service=True),
    Setting("monitoring.drift_window_records", "int", 1000,
            "PSI window: the last N records scored", env="DRIFT_WINDOW_RECORDS", ge=10,
            le=1_000_000, service=True),
    Setting("monitoring.drift_window_seconds", "int", 900,
            "PSI window: at most this many seconds back", env="DRIFT_WINDOW_SECONDS", ge=10,
            le=86_400, service=True),
    Setting("monitoring.inference_log.enabled", "bool", False,
            "record every answer (the log's sinks and the prediction store) and take "
            "POST /feedback", env="INFERENCE_LOG_ENABLED", service=True),
    Setting("monitoring.inference_log.dir", "path", "/data/inference-log",
            "the log's volume: JSON Lines files, and the SQLite store by default",
            env="INFERENCE_LOG_DIR", service=True),
    Setting("monitoring.inference_log.files", "bool", True,
            "write rotated, Zstandard-compressed JSON Lines files in INFERENCE_LOG_DIR",
            env="INFERENCE_LOG_FILES", service=True),
    Setting("monitoring.inference_log.url", "str", None,
            "also post each record as CloudEvents (KServe's logger format) to this URL",
            env="INFERENCE_LOG_URL", optional=True, service=True),
    Setting("monitoring.inference_log.mode", "str", "all",
            "what the sinks get: all, request (features) or response (answers)",
            env="INFERENCE_LOG_MODE", choices=("all", "request", "response"), service=True),
    Setting("monitoring.inference_log.sample_rate", "float", 1.0,
            "share of requests the sinks get (the store keeps every prediction)",
            env="INFERENCE_LOG_SAMPLE_RATE", ge=0, le=1, service=True),
    Setting("monitoring.inference_log.drop_features", "list", (),
            "features left out of the sinks' records (comma-separated)",
            env="INFERENCE_LOG_DROP_FEATURES", service=True),
    Setting("monitoring.inference_log.hash_features", "list", (),
            "features replaced by the sha256 of their value in the sinks' records",
            env="INFERENCE_LOG_HASH_FEATURES", service=True),
    Setting("monitoring.inference_log.rotate_mb", "int", 64,
            "a JSON Lines file is closed after this many MB (uncompressed)",
            env="INFERENCE_LOG_ROTATE_MB", ge=1, le=100_000, service=True),
    Setting("monitoring.inference_log.max_mb", "int", 1024,
            "the log's files take at most this many MB: the oldest are deleted",
            env="INFERENCE_LOG_MAX_MB", ge=1, le=10_000_000, service=True),
    Setting("monitoring.inference_log.queue_records", "int", 100_000,
            "records a worker holds for the writer; beyond, they are dropped and counted",
            env="INFERENCE_LOG_QUEUE_RECORDS", ge=100, le=10_000_000, service=True),
    Setting("monitoring.feedback.database_url", "str", None,
            "the prediction store every replica shares, e.g. postgresql://u:p@db/ml (set at "
            "build time, the image gets PostgreSQL's driver); null: SQLite in "
            "INFERENCE_LOG_DIR", env="FEEDBACK_DATABASE_URL", optional=True,
            service=True),
    Setting("monitoring.feedback.retention_days", "float", 30.0,
            "predictions served longer ago than this are deleted from the store, with "
            "their outcomes (feedback for them is then an unknown id)",
            env="FEEDBACK_RETENTION_DAYS", gt=0, le=3650, service=True),
    Setting("monitoring.quality.window", "int", 1000,
            "quality is measured over the last N outcomes fed back", env="QUALITY_WINDOW",
            ge=10, le=1_000_000, service=True),
    Setting("monitoring.quality.min_labels", "int", 200,
            "outcomes the window needs before a quality alert may fire",
            env="QUALITY_MIN_LABELS", ge=1),
    Setting("monitoring.quality.margin", "float", 0.05,
            "a quality alert fires when a metric is this much worse than the manifest's",
            env="QUALITY_MARGIN", ge=0),
    Setting("monitoring.quality.alert_for", "str", "10m",
            "how long a metric must stay worse before its alert fires",
            env="QUALITY_ALERT_FOR", pattern=r"^[0-9]+[smh]$"),
    Setting("monitoring.latency_p99_ms", "float", 250.0, "p99 latency alert threshold (ms)",
            env="LATENCY_P99_MS", gt=0),
    Setting("monitoring.drift_alert_for", "str", "5m",
            "how long a PSI must stay over a drift threshold before its alert fires",
            env="DRIFT_ALERT_FOR", pattern=r"^[0-9]+[smh]$"),
    Setting("monitoring.error_rate", "float", 0.01, "5xx share alert threshold",
            env="ERROR_RATE", ge=0, le=1),
    # --- docker: how the image is built ----------------------------------------------------
    Setting("docker.base_image", "str", "python:3.11-slim",
            "base image: pulled, or built locally from Debian packages", env="BASE_IMAGE",
            argument="base_image", pattern=r"^[a-z0-9][a-z0-9._/:@-]*$"),
    Setting("docker.registry", "str", "", 'registry prefix, e.g. "registry.example.com/ml"',
            env="REGISTRY", argument="registry", pattern=r"^([a-z0-9][a-z0-9._/:-]*)?$"),
    Setting("docker.runtime", "str", "bentoml",
            "bentoml: the bento, containerized by BentoML; uvicorn: the same app without "
            "BentoML", env="DOCKER_RUNTIME", argument="runtime",
            choices=("bentoml", "uvicorn")),
    Setting("docker.build_ca_bundle", "str", None,
            "CA bundle for the host-side wheelhouse download (never enters an image)",
            env="BUILD_CA_BUNDLE", optional=True),
    # --- kubernetes: the kustomize base written by `doit k8s` --------------------------------
    Setting("kubernetes.namespace", "str", "ml-serving", "namespace of every object",
            pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"),
    Setting("kubernetes.replicas", "int", 2, "replicas (the HPA's minimum)", ge=1, le=100),
    Setting("kubernetes.max_replicas", "int", 6, "the HPA's maximum", ge=1, le=1000),
    Setting("kubernetes.target_cpu_percent", "int", 70, "the HPA's CPU utilisation target",
            ge=10, le=100),
    Setting("kubernetes.cpu", "str", "1", "CPU request and limit of a pod",
            pattern=r"^[0-9]+(\.[0-9]+)?m?$"),
    Setting("kubernetes.memory", "str", "1Gi", "memory request and limit of a pod",
            pattern=r"^[0-9]+(Ki|Mi|Gi)$"),
    # --- ray: the Ray Serve target written by `doit ray`, deployed by `doit ray_deploy` ----
    Setting("ray.replicas", "int", 2, "Serve replicas (the autoscaler's minimum)",
            env="DEPLOY_RAY_REPLICAS", ge=1, le=1000),
    Setting("ray.max_replicas", "int", 2,
            "the autoscaler's maximum; equal to replicas: a fixed count, no autoscaling",
            env="DEPLOY_RAY_MAX_REPLICAS", ge=1, le=1000),
    Setting("ray.max_ongoing_requests", "int", 32,
            "requests one replica holds at once; beyond it, Serve queues or sends elsewhere",
            env="DEPLOY_RAY_MAX_ONGOING_REQUESTS", ge=1, le=10_000),
    Setting("ray.cpus_per_replica", "float", 1.0, "CPUs Ray reserves for each replica",
            env="DEPLOY_RAY_CPUS_PER_REPLICA", gt=0, le=64),
    Setting("ray.proxy", "str", "haproxy",
            "haproxy: Ray's HAProxy ingress, throughput-optimized (the faster: doit bench); "
            "ray: Ray's default Python proxy", env="DEPLOY_RAY_PROXY",
            choices=("haproxy", "ray")),
    Setting("ray.http_port", "int", 8000, "the port every node's Serve proxy listens on",
            env="DEPLOY_RAY_HTTP_PORT", ge=1, le=65535),
    Setting("ray.package_url", "str", None,
            "where every node reads the code packages (file://, https://, s3://, gs://); "
            "null: file:// of the build folder's ray-packages/ (one machine, or a folder "
            "every node mounts at the same path)", env="DEPLOY_RAY_PACKAGE_URL",
            optional=True, pattern=r"^(file|https?|s3|gs|azure|abfss)://\S+$"),
    Setting("ray.rollout_timeout_seconds", "int", 120,
            "how long a deploy waits for every replica of the new version to be healthy "
            "before it rolls back", env="DEPLOY_RAY_ROLLOUT_TIMEOUT", ge=10, le=3600),
    Setting("ray.image", "str", "rayproject/ray:2.60.0-py311",
            "the Ray image of the RayService's nodes (with ray/requirements.txt installed)",
            env="DEPLOY_RAY_IMAGE"),
    # --- model -----------------------------------------------------------------------------
    Setting("model.skops_trusted_types", "list", (),
            "skops types to trust beyond skops' defaults (never read from the file)"),
    Setting("model.runtime", "str", "auto",
            "auto: ONNX when the compiled model passes the gate, else the model's own "
            "library (native)", env="MODEL_RUNTIME", argument="model_runtime",
            choices=("auto", "onnx", "native")),
    Setting("model.onnx_tolerance", "float", 1e-5,
            "absolute difference allowed between ONNX and native outputs (plus "
            "onnx_rtol times the largest native output)", env="ONNX_TOLERANCE", gt=0, le=1),
    Setting("model.onnx_rtol", "float", 1e-5,
            "difference allowed per unit of the largest native output: float32 trees "
            "round sums of that size", env="ONNX_RTOL", ge=0, le=0.01),
    Setting("model.gate_rows", "int", 10_000,
            "rows the verification gate compares, beyond the example input",
            env="GATE_ROWS", ge=10_000, le=1_000_000),
    # --- contacts (runbook section 7) ------------------------------------------------------
    Setting("contacts.owner", "str", "ML Platform team", "owning team"),
    Setting("contacts.email", "str", "", "owner's e-mail"),
    Setting("contacts.on_call", "str", "", "on-call channel"),
    Setting("contacts.references", "list", (), "links listed in the runbook"),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
BY_ENV: dict[str, Setting] = {s.env: s for s in SETTINGS if s.env}
BY_ARGUMENT: dict[str, Setting] = {s.argument: s for s in SETTINGS if s.argument}
SERVICE_SETTINGS: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.service)
SETTINGS_FILE_ENV = "DEPLOYMENT_AGENT_SETTINGS"


def environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings variables that are set: a build's dependency on its environment."""
    environ = os.environ if environ is None else environ
    names = [*BY_ENV, SETTINGS_FILE_ENV]
    return {name: environ[name] for name in names if environ.get(name)}
