"""Load the generator's settings: the schema's defaults, a YAML file, the environment, arguments.

Precedence, lowest to highest: the defaults declared in
:mod:`~deployment_agent.contract.settings_schema`, the settings file (``--settings``,
``DEPLOYMENT_AGENT_SETTINGS``, else ``config/settings.yaml`` in the working directory when
there is one), environment variables, then keyword arguments (the Python API and the CLI).
The validated model is built from the schema, so a setting is declared in one place only.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from .errors import SettingsError
from .settings_schema import BY_ARGUMENT, BY_ENV, SETTINGS, SETTINGS_FILE_ENV, Setting, environment
from .text import check_text

PROJECT_SETTINGS = Path("config/settings.yaml")
PYTHON_TYPES: dict[str, Any] = {"str": str, "path": str, "int": int, "float": float,
                                "bool": bool, "list": list[str]}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Deployment(_Section):
    """Checks that span several settings."""

    @model_validator(mode="after")
    def _consistent(self) -> _Deployment:
        security = self.security  # type: ignore[attr-defined]
        if (security.tls_certfile is None) != (security.tls_keyfile is None):
            raise ValueError("set both security.tls_certfile and security.tls_keyfile, or "
                             "neither")
        if security.rate_limit is not None:
            from limits import parse  # imported here: `limits` is slow to import

            try:
                parse(security.rate_limit)
            except ValueError:
                raise ValueError(f"security.rate_limit {security.rate_limit!r} is not a rate "
                                 "like '100/second' or '6000/minute'") from None
        return self


def _annotation(setting: Setting) -> Any:
    """The pydantic type of a setting, with its bounds and choices."""
    base: Any = Literal[setting.choices] if setting.choices else PYTHON_TYPES[setting.type]
    constraints = {k: getattr(setting, k) for k in ("ge", "gt", "le", "pattern")
                   if getattr(setting, k) is not None}
    if setting.type in ("str", "path") and not setting.choices:
        constraints["max_length"] = 1000
    annotated = Annotated[base, Field(description=setting.doc, **constraints)]
    return annotated | None if setting.optional else annotated


def _section_model(path: tuple[str, ...]) -> type[BaseModel]:
    """The model of one section (``()`` is ``deployment:`` itself), built from the schema."""
    fields: dict[str, Any] = {}
    depth = len(path)
    children = sorted({s.section[depth] for s in SETTINGS
                       if s.section[:depth] == path and len(s.section) > depth})
    for child in children:
        model = _section_model((*path, child))
        fields[child] = (model, Field(default_factory=model))
    for setting in SETTINGS:
        if setting.section == path:
            default = list(setting.default) if setting.type == "list" else setting.default
            fields[setting.name] = (_annotation(setting), default)
    name = "".join(p.title() for p in path) + "Settings" if path else "DeploymentSettings"
    base = _Deployment if not path else _Section
    return create_model(name, __base__=base, **fields)


DeploymentSettings: type[BaseModel] = _section_model(())


def _set(tree: dict[str, Any], key: str, value: Any) -> None:
    *sections, name = key.split(".")
    for section in sections:
        tree = tree.setdefault(section, {})
    tree[name] = value


def _get(tree: Any, key: str) -> Any:
    for part in key.split("."):
        tree = getattr(tree, part)
    return tree


def setting_value(settings: BaseModel, key: str) -> Any:
    """The value of a dotted setting key, e.g. ``setting_value(s, "api.port")``."""
    return _get(settings, key)


def _from_env(setting: Setting, raw: str) -> Any:
    """An environment string: lists are comma-separated; pydantic parses the rest."""
    if setting.type == "list":
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def settings_file(path: str | Path | None = None,
                  environ: dict[str, str] | None = None) -> Path | None:
    """Which settings file applies: the argument, DEPLOYMENT_AGENT_SETTINGS, the project's."""
    environ = os.environ if environ is None else environ
    chosen = path or environ.get(SETTINGS_FILE_ENV)
    if chosen:
        if not Path(chosen).is_file():
            raise SettingsError(f"settings file {chosen} not found. Fix: correct the path")
        return Path(chosen)
    return PROJECT_SETTINGS if PROJECT_SETTINGS.is_file() else None


def _read_file(source: Path | None) -> dict[str, Any]:
    if source is None:
        return {}
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SettingsError(f"{source}: invalid YAML ({exc}). Fix: correct the syntax") from None
    if raw is not None and not isinstance(raw, dict):
        raise SettingsError(f"{source}: the top level must be a mapping with a `deployment:` "
                            "key. Fix: see `deployment-agent settings` for the layout")
    tree = (raw or {}).get("deployment") or {}
    if not isinstance(tree, dict):
        raise SettingsError(f"{source}: `deployment:` must be a mapping")
    return tree


@cache
def _text_fields() -> tuple[str, ...]:
    return tuple(s.key for s in SETTINGS if s.type in ("str", "path"))


def load_settings(
    path: str | Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Any:
    """Validated settings: schema defaults < file < environment < keyword arguments."""
    source = settings_file(path, environ)
    tree = _read_file(source)
    set_by_env = environment(environ)
    for name, value in set_by_env.items():
        if name in BY_ENV:
            _set(tree, BY_ENV[name].key, _from_env(BY_ENV[name], value))
    for name, value in overrides.items():
        if name not in BY_ARGUMENT:
            raise SettingsError(f"unknown option {name!r}. Fix: use one of "
                                f"{sorted(BY_ARGUMENT)}")
        if value is not None:
            _set(tree, BY_ARGUMENT[name].key, value)
    # Giving origins means "allow these": CORS is then on unless switched off explicitly.
    origins_given = overrides.get("cors_origins") or set_by_env.get("CORS_ORIGINS")
    cors_off = overrides.get("enable_cors") is False or \
        set_by_env.get("CORS_ENABLED", "true").lower() == "false"
    if origins_given and not cors_off:
        _set(tree, "api.cors.enabled", True)
    where = f"{source or 'the default settings'} (with environment overrides)"
    try:
        settings = DeploymentSettings.model_validate(tree)
    except ValidationError as exc:
        problems = "; ".join(
            f"deployment.{'.'.join(map(str, e['loc']))}{': ' if e['loc'] else ''}"
            f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        )
        raise SettingsError(f"{where}: {problems}. Fix: correct the value") from None
    for key in _text_fields():
        value = _get(settings, key)
        problem = check_text(value, multiline=False) if value else None
        if problem:
            raise SettingsError(f"{where}: deployment.{key}: {problem}. Fix: correct the value")
    return settings


def defaults_yaml() -> str:
    """Every setting with its default and its variable, as a commented settings.yaml."""
    import json

    lines = ["# deployment-agent settings: the defaults. Environment variables (named after",
             "# each value) override this file; the CLI's options override both.",
             "deployment:"]
    written: set[tuple[str, ...]] = set()
    for setting in SETTINGS:
        for depth in range(1, len(setting.section) + 1):
            if setting.section[:depth] not in written:
                written.add(setting.section[:depth])
                lines.append(f"{'  ' * depth}{setting.section[depth - 1]}:")
        default = list(setting.default) if setting.type == "list" else setting.default
        note = f"{setting.env}: " if setting.env else ""
        lines.append(f"{'  ' * (len(setting.section) + 1)}{setting.name}: "
                     f"{json.dumps(default)}  # {note}{setting.doc}")
    return "\n".join(lines) + "\n"
