"""Plan each input feature: a safe Python name, its effective bounds, dtype and example value.

The original feature name is never changed: clients send it, the OpenAPI document shows
it, and the model's columns carry it. The Python identifier is only the attribute name
inside the generated schema, with the original as its alias.
"""

from __future__ import annotations

import keyword
import math
import re
from typing import Any

from pydantic import BaseModel

from ..contract.manifest import FeatureSpec

# Unbounded int features are limited to the range JSON numbers hold exactly, so a huge
# integer is a 422, not an overflow inside numpy.
JSON_SAFE_INT = 2**53
MAX_STR_LENGTH = 1000
# Names an attribute of the generated request model must not take: pydantic's own
# attributes, the row() method, and the names its annotations use.
RESERVED = frozenset({
    *dir(BaseModel), "row", "int", "float", "str", "bool", "object", "list", "dict", "tuple",
    "type", "None", "Any", "Literal", "Annotated", "Field", "BaseModel", "ConfigDict",
    "field_validator",
})
MAX_IDENT = 40
# Names ruff rejects as ambiguous (E741: l, I, O); after lowercasing only "l" remains.
AMBIGUOUS = frozenset({"l"})


def identifier(name: str, taken: set[str]) -> str:
    """A unique ASCII Python identifier for ``name`` (``"petal length (cm)"`` ->
    ``petal_length_cm``); the original name stays the field's alias."""
    ident = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")[:MAX_IDENT].strip("_")
    ident = ident or "feature"
    if ident[0].isdigit():
        ident = f"f_{ident}"
    if (keyword.iskeyword(ident) or keyword.issoftkeyword(ident) or ident in RESERVED
            or ident in AMBIGUOUS):
        ident += "_"
    base, n = ident, 2
    while ident in taken:
        ident, n = f"{base}_{n}", n + 1
    taken.add(ident)
    return ident


def bounds(spec: FeatureSpec) -> tuple[float | None, float | None]:
    """The bounds the service enforces: the manifest's, or +-2**53 for unbounded ints."""
    low, high = spec.minimum, spec.maximum
    if spec.type == "int":
        low = -JSON_SAFE_INT if low is None else low
        high = JSON_SAFE_INT if high is None else high
    return low, high


def dtype(spec: FeatureSpec) -> str:
    """The pandas dtype of the feature's column (nullable numbers become float for NaN)."""
    if spec.type == "str":
        return "object"
    if spec.type == "float" or spec.nullable:
        return "float64"
    return "bool" if spec.type == "bool" else "int64"


def example_value(spec: FeatureSpec, stats: dict[str, Any] | None) -> Any:
    """A plausible, valid value when the manifest gives no example input."""
    if spec.enum:
        return spec.enum[0]
    if spec.type == "bool":
        return True
    if spec.type == "str":
        return "example"
    if stats and isinstance(stats.get("mean"), int | float):
        value = float(stats["mean"])
    elif spec.minimum is not None and spec.maximum is not None:
        value = (spec.minimum + spec.maximum) / 2
    else:
        value = spec.minimum if spec.minimum is not None else (
            spec.maximum if spec.maximum is not None and spec.maximum < 0 else 0.0)
    low, high = bounds(spec)
    if spec.type == "int":
        value = float(round(value))
        if low is not None and value < low:
            value = float(math.ceil(low))
        if high is not None and value > high:
            value = float(math.floor(high))
        return int(value)
    value = round(float(value), 4)
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value
