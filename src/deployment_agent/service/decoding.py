"""I validate request bodies at C speed (msgspec), exactly as the generated pydantic models do.

The generated ``schemas.py`` stays the one source of the request contract: the OpenAPI
document is built from its pydantic models, and so am I. At start-up I translate each model
field by field into a msgspec ``Struct``: the same types, bounds, lengths, enums (a
``Literal``), nullables and aliases, every field required, unknown fields forbidden. msgspec
never coerces either: ``"35"`` is not an int, ``1`` is not a bool.

I am the fast path, pydantic the referee. When msgspec accepts a body, its values are the
ones pydantic would give. When it refuses one, the caller asks pydantic, which either
refuses it too, with the API's usual 422 naming each field, or accepts it; the one case
known is ``35.0`` for an integer feature, which the generated models accept as ``35`` and
msgspec does not. So the answers and the error bodies are pydantic's by construction, and a
valid request never pays pydantic's price. The property tests hold both to that.

A model I cannot translate (nested models, validators other than the integral-number one,
defaults, types I do not know, a feature name msgspec cannot rename to, one holding ``"``,
``\\`` or a control character) gets no fast path: :func:`fast_records` returns None and
pydantic validates alone, as before.
"""

from __future__ import annotations

import logging
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import msgspec
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .frames import Batch

logger = logging.getLogger("service.decoding")
# The bounds and lengths I carry over, by annotated_types' name: msgspec's Meta takes the
# same keywords.
BOUNDS = {annotated_types.Ge: "ge", annotated_types.Le: "le", annotated_types.Gt: "gt",
          annotated_types.Lt: "lt", annotated_types.MinLen: "min_length",
          annotated_types.MaxLen: "max_length"}
SCALARS = (int, float, bool, str)
# The only field validator I know to be an extension of strict validation (see module doc).
KNOWN_VALIDATORS = frozenset({"_integral_number"})

Row = tuple[object, ...]


class Untranslatable(Exception):
    """I am raised for a model feature I do not translate: its model gets no fast path."""


def constraints(info: FieldInfo) -> dict[str, Any]:
    """I return a field's bounds and lengths as msgspec Meta keywords.

    ``allow_inf_nan=False`` needs nothing: msgspec never decodes infinity or NaN from JSON.
    """
    found: dict[str, Any] = {}
    for item in info.metadata:
        keyword = BOUNDS.get(type(item))
        if keyword is not None:
            found[keyword] = getattr(item, keyword)
        elif getattr(item, "allow_inf_nan", True) is not False:
            raise Untranslatable(f"unknown constraint {item!r}")
    return found


def scalar(annotation: Any) -> Any:
    """I check that ``annotation`` is one of the scalar types the schemas use."""
    origin = get_origin(annotation)
    if origin is Literal:
        if any(type(v) not in (int, str) for v in get_args(annotation)):
            raise Untranslatable(f"Literal of {get_args(annotation)!r}")
        return annotation
    if annotation in SCALARS:
        return annotation
    raise Untranslatable(f"type {annotation!r}")


def field_type(annotation: Any, meta: dict[str, Any]) -> Any:
    """I return msgspec's type for a field: a scalar or a list of records, constrained, and
    ``| None`` where the model allows null."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) != 1 or len(get_args(annotation)) != 2:
            raise Untranslatable(f"union {annotation!r}")
        return field_type(members[0], meta) | None
    if origin is list:
        (item,) = get_args(annotation)
        inner = struct_for(item) if isinstance(item, type) and issubclass(item, BaseModel) \
            else scalar(item)
        return Annotated[list[inner], msgspec.Meta(**meta)] if meta else list[inner]
    base = scalar(annotation)
    if get_origin(base) is Literal:
        return literal_within(base, meta)
    return Annotated[base, msgspec.Meta(**meta)] if meta else base


def literal_within(literal: Any, meta: dict[str, Any]) -> Any:
    """I apply a field's bounds to its enum once, here: msgspec takes no bounds on a
    ``Literal``, and pydantic checks both, so the values outside them are never valid."""
    checks = {"ge": lambda v, b: v >= b, "le": lambda v, b: v <= b,
              "gt": lambda v, b: v > b, "lt": lambda v, b: v < b}
    if set(meta) - set(checks):
        raise Untranslatable(f"constraints {sorted(meta)} on {literal!r}")
    kept = [v for v in get_args(literal)
            if all(checks[k](v, bound) for k, bound in meta.items())]
    if not kept:
        raise Untranslatable(f"no value of {literal!r} is within {meta}")
    return Literal[tuple(kept)]  # type: ignore[valid-type]


def struct_for(model: type[BaseModel]) -> type[msgspec.Struct]:
    """I translate a pydantic model into a msgspec Struct with the same contract."""
    decorators = model.__pydantic_decorators__
    unknown = set(decorators.field_validators) - KNOWN_VALIDATORS
    if unknown or decorators.model_validators or decorators.validators:
        raise Untranslatable(f"{model.__name__} has validators {sorted(unknown)}")
    if model.model_config.get("extra") != "forbid" or not model.model_config.get("strict"):
        raise Untranslatable(f"{model.__name__} is not strict with extra='forbid'")
    fields, rename = [], {}
    for name, info in model.model_fields.items():
        if not info.is_required():
            raise Untranslatable(f"{model.__name__}.{name} has a default")
        fields.append((name, field_type(info.annotation, constraints(info))))
        if info.alias and info.alias != name:
            rename[name] = info.alias
    try:
        return msgspec.defstruct(model.__name__, fields, rename=rename or None,
                                 forbid_unknown_fields=True, frozen=True, gc=False)
    except (TypeError, ValueError) as exc:  # e.g. a name holding '"', '\\' or a control
        raise Untranslatable(str(exc)) from None


class FastRecords:
    """I decode a one-record body and a batch body straight into rows (model column order),
    or return None where msgspec refuses the body and pydantic must decide."""

    def __init__(self, record: type[msgspec.Struct], batch: type[msgspec.Struct]) -> None:
        """I keep one decoder per body shape (decoders are reusable and thread-safe), and
        each field's JSON name and the type of a column of its values, in row order."""
        self._record = msgspec.json.Decoder(record)
        self._batch = msgspec.json.Decoder(batch)
        self._columns = [(f.encode_name, list[f.type])  # type: ignore[name-defined]
                         for f in msgspec.structs.fields(record)]

    def row(self, body: bytes) -> Row | None:
        """I return the record's row, or None."""
        try:
            return msgspec.structs.astuple(self._record.decode(body))
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None

    def rows(self, body: bytes) -> Batch | None:
        """I return the batch's rows in request order, or None. Each row is read by a C
        function, so a batch runs no Python code per record."""
        try:
            records = self._batch.decode(body).records  # type: ignore[attr-defined]
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        return Batch(map(msgspec.structs.astuple, records))

    def column_rows(self, columns: dict[str, list[Any]]) -> Batch | None:
        """I validate columns of decoded values, one per field by its JSON name (the Open
        Inference Protocol's tensors), and return their rows; or None where msgspec
        refuses a value (pydantic decides then, from the same values as records)."""
        try:
            checked = [msgspec.convert(columns[name], kind, strict=True)
                       for name, kind in self._columns]
        except msgspec.ValidationError:
            return None
        return Batch(zip(*checked, strict=True))


def fast_records(record: type[BaseModel], batch: type[BaseModel]) -> FastRecords | None:
    """I return the fast path for a flat record model (scalar features only) and its
    ``{"records": [...]}`` batch, or None when either cannot be translated (pydantic then
    validates alone)."""
    if set(batch.model_fields) != {"records"} or \
            batch.model_fields["records"].annotation != list[record]:  # type: ignore[valid-type]
        return None
    if any(get_origin(i.annotation) is list for i in record.model_fields.values()):
        return None
    try:
        return FastRecords(struct_for(record), struct_for(batch))
    except (Untranslatable, TypeError) as exc:  # msgspec checks types when a decoder is made
        logger.info("requests are validated by pydantic alone: %.200s", exc)
        return None
