"""Request bodies for a generated record model, valid and not: the fast decoder and pydantic
must agree on every one (see ``tests/service/test_decoding.py``).

For each field I draw a valid value (within bounds, from the enum, or null where allowed)
or a value one step off: a bound crossed, a number as a string, a bool for a number, an
integral float (``35.0``) for an integer, a non-integral one, null, huge integers, lists,
objects. Bodies also lose fields, gain unknown ones, repeat a key, and come as raw bytes
that are not quite JSON.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from deployment_agent.service.decoding import FastRecords

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=5)


def _bounds(info: FieldInfo) -> tuple[Any, Any]:
    low = next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in info.metadata if isinstance(m, annotated_types.Le)), None)
    return low, high


def _base(annotation: Any) -> tuple[Any, bool]:
    """The field's type without ``| None``, and whether null is allowed."""
    if get_origin(annotation) in (Union, type(int | None)):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return members[0], True
    return annotation, False


def valid(info: FieldInfo) -> st.SearchStrategy[Any]:
    """A value the field accepts."""
    base, nullable = _base(info.annotation)
    low, high = _bounds(info)
    if get_origin(base) is Literal:
        found: st.SearchStrategy[Any] = st.sampled_from(get_args(base))
    elif base is bool:
        found = st.booleans()
    elif base is int:
        found = st.integers(low, high)
    elif base is float:
        found = st.floats(low, high, allow_nan=False, allow_infinity=False)
    else:
        length = next((m.max_length for m in info.metadata
                       if isinstance(m, annotated_types.MaxLen)), 50)
        found = st.text(max_size=min(length, 60))
    return found | st.none() if nullable else found


def off(info: FieldInfo) -> st.SearchStrategy[Any]:
    """A value near the field's contract: sometimes inside it, mostly not."""
    base, _ = _base(info.annotation)
    low, high = _bounds(info)
    edges = [b + d for b in (low, high) if b is not None for d in (-1, -0.5, 0, 0.5, 1)]
    near: list[st.SearchStrategy[Any]] = [
        st.sampled_from([None, True, False, "35", "", [], {}, 0, -0.0, 2**53 + 1, 2**64,
                         -(2**63) - 1, 1e308, 35.0, 35.5, "true", "null", "\ud800"]),
        ANY_JSON,
    ]
    if edges:
        near.append(st.sampled_from(edges))
    if base is int or (get_origin(base) is Literal and all(
            type(v) is int for v in get_args(base))):
        # The integral float of a valid integer: the generated models accept it.
        near.append(valid(info).filter(lambda v: type(v) is int).map(float))
    if get_origin(base) is Literal:
        near.append(st.sampled_from([str(v).upper() for v in get_args(base)]))
    return st.one_of(near)


@st.composite
def bodies(draw: st.DrawFn, model: type[BaseModel]) -> bytes:
    """One body for ``model``: its fields (by alias), perturbed, encoded to JSON bytes."""
    record: list[tuple[str, Any]] = []
    fields = list(model.model_fields.items())
    # A third of bodies are valid, a third have one field off, a third several.
    mode = draw(st.sampled_from(["valid", "one", "several"]))
    target = draw(st.integers(0, len(fields) - 1)) if mode == "one" else -1
    for position, (name, info) in enumerate(fields):
        key = info.alias or name
        roll = draw(st.integers(0, 9)) if mode == "several" else \
            draw(st.integers(0, 3)) if position == target else draw(st.sampled_from([5, 9]))
        if roll == 0:
            continue  # missing
        value = draw(off(info)) if roll <= 3 else draw(valid(info))
        record.append((key, value))
        if roll == 9:
            record.append((key, draw(valid(info))))  # a repeated key: the last one counts
    if draw(st.integers(0, 9)) == 0:
        record.append((draw(st.text(min_size=1, max_size=6)), draw(ANY_JSON)))  # unknown
    text = "{" + ", ".join(f"{json.dumps(k, ensure_ascii=draw(st.booleans()))}: "
                           f"{json.dumps(v, ensure_ascii=draw(st.booleans()))}"
                           for k, v in record) + "}"
    body = text.encode("utf-8", "surrogatepass")
    mangle = draw(st.integers(0, 19))
    if mangle == 0:
        body = body[:draw(st.integers(0, len(body)))]  # truncated
    elif mangle == 1:
        body = b"  " + body + b"\n"  # whitespace around
    elif mangle == 2:
        body = body + b" x"  # trailing garbage
    return body


@st.composite
def batch_bodies(draw: st.DrawFn, model: type[BaseModel], max_size: int) -> bytes:
    """A ``{"records": [...]}`` body of drawn records (sometimes empty, or too long)."""
    size = draw(st.sampled_from([0, 1, 2, 3, max_size, max_size + 1]))
    one = draw(bodies(model))
    records = [draw(bodies(model)) if i < 3 else one for i in range(size)]
    return b'{"records": [' + b", ".join(records) + b"]}"


def integral_floats_fixed(body: bytes, model: type[BaseModel]) -> bytes | None:
    """The body with each integral float of an integer feature made an int (None: the
    body is not a JSON object)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    fields = {info.alias or name: info for name, info in model.model_fields.items()}
    for key, value in data.items():
        info = fields.get(key)
        if info is not None and integral(info) and type(value) is float and value.is_integer():
            data[key] = int(value)
    return json.dumps(data).encode()


def integral(info: FieldInfo) -> bool:
    """Whether the field takes integers: an int, or an enum of ints (pydantic accepts
    ``11.0`` for the enum value ``11`` as well)."""
    base, _ = _base(info.annotation)
    if get_origin(base) is Literal:
        return all(type(v) is int for v in get_args(base))
    return base is int


def pydantic_row(schemas: ModuleType, body: bytes) -> tuple[object, ...] | None:
    try:
        return schemas.ROW(schemas.PredictionRequest.model_validate_json(body))
    except ValidationError:
        return None


def agree(schemas: ModuleType, fast: FastRecords, body: bytes) -> None:
    """The one-record contract: msgspec never accepts more, and gives pydantic's values."""
    mine, theirs = fast.row(body), pydantic_row(schemas, body)
    if mine is not None:
        assert theirs is not None, body
        assert mine == theirs, body
        assert [type(v) for v in mine] == [type(v) for v in theirs], body
    elif theirs is not None:
        fixed = integral_floats_fixed(body, schemas.PredictionRequest)
        assert fixed is not None and fast.row(fixed) == theirs, (
            f"pydantic accepts {body!r} and msgspec refuses it for another reason than an "
            "integral float")
