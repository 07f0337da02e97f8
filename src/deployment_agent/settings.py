"""Load config/settings.yaml, apply environment overrides, then API arguments.

Precedence, lowest to highest: the YAML file, environment variables (:data:`ENV_VARS`),
keyword arguments of :func:`load_settings` (the Python API's options).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from limits import parse as parse_rate
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import SettingsError

DEFAULT_SETTINGS = Path(__file__).resolve().parents[2] / "config" / "settings.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CorsSettings(_Strict):
    enabled: bool = False
    allow_origins: list[str] = Field(default_factory=list)


class ApiSettings(_Strict):
    title: str | None = None
    version: str = Field("1.0.0", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    host: str = "0.0.0.0"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(4, ge=1, le=64)
    max_batch_size: int = Field(1000, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_body_bytes: int = Field(1_048_576, ge=1024)
    graceful_shutdown_seconds: int = Field(30, ge=1)
    cors: CorsSettings = Field(default_factory=CorsSettings)


class SecuritySettings(_Strict):
    """Paths and policies only: the secrets themselves are files mounted at run time."""

    api_keys_file: str | None = None
    rate_limit: str | None = None
    rate_limit_storage: str = "memory://"
    tls_certfile: str | None = None
    tls_keyfile: str | None = None

    @field_validator("rate_limit")
    @classmethod
    def _readable_rate(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_rate(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a rate like '100/second' or "
                                 "'6000/minute'") from None
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> SecuritySettings:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("set both tls_certfile and tls_keyfile, or neither")
        return self


class DockerSettings(_Strict):
    base_image: str = "python:3.11-slim"
    registry: str = ""
    # "bentoml": the bento, containerized by BentoML. "uvicorn": the same FastAPI app under
    # uvicorn, built from the generated Dockerfile, without BentoML (a smaller image).
    runtime: Literal["bentoml", "uvicorn"] = "bentoml"
    # CA bundle for the host-side wheelhouse download behind a TLS-intercepting proxy.
    # Used by `pip wheel` on the build host only; it never enters an image.
    build_ca_bundle: str | None = None


class MonitoringSettings(_Strict):
    enabled: bool = True
    enable_drift_detection: bool = True
    drift_threshold: float = Field(0.1, gt=0)
    latency_p99_ms: float = Field(250, gt=0)
    error_rate: float = Field(0.01, ge=0, le=1)


class ModelSettings(_Strict):
    skops_trusted_types: list[str] = Field(default_factory=list)


class ContactSettings(_Strict):
    owner: str = "ML Platform team"
    email: str = ""
    on_call: str = ""
    references: list[str] = Field(default_factory=list)


class DeploymentSettings(_Strict):
    api: ApiSettings = Field(default_factory=ApiSettings)
    docker: DockerSettings = Field(default_factory=DockerSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    contacts: ContactSettings = Field(default_factory=ContactSettings)


# Environment variable -> settings path under ``deployment``.
ENV_VARS: dict[str, tuple[str, ...]] = {
    "API_TITLE": ("api", "title"),
    "API_VERSION": ("api", "version"),
    "HOST": ("api", "host"),
    "PORT": ("api", "port"),
    "WORKERS": ("api", "workers"),
    "MAX_BATCH_SIZE": ("api", "max_batch_size"),
    "LOG_LEVEL": ("api", "log_level"),
    "MAX_BODY_BYTES": ("api", "max_body_bytes"),
    "GRACEFUL_SHUTDOWN_SECONDS": ("api", "graceful_shutdown_seconds"),
    "CORS_ENABLED": ("api", "cors", "enabled"),
    "CORS_ORIGINS": ("api", "cors", "allow_origins"),
    "BASE_IMAGE": ("docker", "base_image"),
    "REGISTRY": ("docker", "registry"),
    "DOCKER_RUNTIME": ("docker", "runtime"),
    "BUILD_CA_BUNDLE": ("docker", "build_ca_bundle"),
    "API_KEYS_FILE": ("security", "api_keys_file"),
    "RATE_LIMIT": ("security", "rate_limit"),
    "RATE_LIMIT_STORAGE": ("security", "rate_limit_storage"),
    "TLS_CERTFILE": ("security", "tls_certfile"),
    "TLS_KEYFILE": ("security", "tls_keyfile"),
    "MONITORING_ENABLED": ("monitoring", "enabled"),
    "ENABLE_DRIFT_DETECTION": ("monitoring", "enable_drift_detection"),
    "DRIFT_THRESHOLD": ("monitoring", "drift_threshold"),
}

# Python API keyword -> settings path.
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "api_title": ("api", "title"),
    "api_version": ("api", "version"),
    "port": ("api", "port"),
    "workers": ("api", "workers"),
    "enable_cors": ("api", "cors", "enabled"),
    "cors_origins": ("api", "cors", "allow_origins"),
    "enable_monitoring": ("monitoring", "enabled"),
    "enable_drift_detection": ("monitoring", "enable_drift_detection"),
    "base_image": ("docker", "base_image"),
    "registry": ("docker", "registry"),
    "runtime": ("docker", "runtime"),
}


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def _env_value(name: str, raw: str) -> Any:
    """Environment strings; pydantic parses numbers and true/false, origins are comma lists."""
    if name == "CORS_ORIGINS":
        return [o.strip() for o in raw.split(",") if o.strip()]
    return raw


def env_overrides(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The settings-relevant environment variables that are set (a doit dependency)."""
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in ENV_VARS if environ.get(k)}


def load_settings(
    path: str | Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> DeploymentSettings:
    """Settings from ``path`` (default: the repo's config/settings.yaml), env and arguments."""
    source = Path(path) if path else DEFAULT_SETTINGS
    try:
        raw = yaml.safe_load(source.read_text()) if source.is_file() else {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{source}: invalid YAML ({exc}). Fix: correct the syntax") from None
    tree = dict((raw or {}).get("deployment") or {})
    for name, value in env_overrides(environ).items():
        _set(tree, ENV_VARS[name], _env_value(name, value))
    for name, value in overrides.items():
        if name not in ARGUMENTS:
            raise SettingsError(f"unknown option {name!r}. Fix: use one of {sorted(ARGUMENTS)}")
        if value is not None:
            _set(tree, ARGUMENTS[name], value)
    # Giving origins (by env or argument) means "allow these": CORS is then on, unless
    # it was switched off explicitly by CORS_ENABLED=false or enable_cors=False.
    if (overrides.get("cors_origins") or env_overrides(environ).get("CORS_ORIGINS")) and \
            overrides.get("enable_cors") is not False and \
            env_overrides(environ).get("CORS_ENABLED", "true").lower() != "false":
        _set(tree, ("api", "cors", "enabled"), True)
    try:
        return DeploymentSettings.model_validate(tree)
    except ValidationError as exc:
        problems = "; ".join(
            f"deployment.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(
            f"{source} (with environment overrides): {problems}. Fix: correct the value"
        ) from None
