"""Python source fragments of the generated schemas and settings: annotations and Field().

The typed plan holds data (bounds, enums, names); these functions turn it into source,
with every user string passed through :func:`~.escape.py`, so the templates stay free of
logic.
"""

from __future__ import annotations

from ..plan.context import Feature, ServiceSetting
from ..plan.features import MAX_STR_LENGTH
from .escape import py

SETTING_TYPES = {"str": "str", "int": "int", "float": "float", "bool": "bool", "path": "Path",
                 "list": "Annotated[list[str], NoDecode]"}


def _number(value: float, kind: str) -> str:
    return str(int(value)) if kind == "int" else repr(float(value))


def feature_annotation(feature: Feature) -> str:
    """The type of a feature's field, e.g. ``Literal["a", "b"] | None``."""
    if feature.enum is not None:
        base = "Literal[" + ", ".join(py(v) for v in feature.enum) + "]"
    else:
        base = feature.type
    return f"{base} | None" if feature.nullable else base


def feature_field(feature: Feature) -> str:
    """Arguments of the feature's ``Field(...)``: alias, bounds, length, description."""
    args = [f"alias={py(feature.name)}"] if feature.ident != feature.name else []
    if feature.minimum is not None:
        args.append(f"ge={_number(feature.minimum, feature.type)}")
    if feature.maximum is not None:
        args.append(f"le={_number(feature.maximum, feature.type)}")
    if feature.type == "float":
        args.append("allow_inf_nan=False")
    if feature.type == "str" and feature.enum is None:
        args.append(f"max_length={MAX_STR_LENGTH}")
    if feature.description:
        args.append(f"description={py(feature.description)}")
    return ", ".join(args)


def setting_annotation(setting: ServiceSetting) -> str:
    """The type of a service setting's field."""
    base = ("Literal[" + ", ".join(py(c) for c in setting.choices) + "]") if setting.choices \
        else SETTING_TYPES[setting.type]
    return f"{base} | None" if setting.optional else base


def setting_field(setting: ServiceSetting) -> str:
    """``Field(...)`` of a service setting: its configured value, bounds and description."""
    value = setting.value
    default = f"Path({py(value)})" if setting.type == "path" and value is not None else py(value)
    args = [default]
    for bound in ("ge", "gt", "le"):
        limit = getattr(setting, bound)
        if limit is not None:
            args.append(f"{bound}={_number(limit, setting.type)}")
    if setting.pattern:
        args.append(f"pattern={py(setting.pattern)}")
    args.append(f"description={py(setting.doc)}")
    return "Field(" + ", ".join(args) + ")"


def env_value(setting: ServiceSetting) -> str:
    """The setting's value as its environment variable would spell it."""
    value = setting.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


FUNCTIONS = {"feature_annotation": feature_annotation, "feature_field": feature_field,
             "setting_annotation": setting_annotation, "setting_field": setting_field,
             "env_value": env_value}
