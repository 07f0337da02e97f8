"""I read and write the tensors of the Open Inference Protocol (v2) over REST.

A request is JSON: ``{"id", "parameters", "inputs": [{"name", "shape", "datatype",
"parameters", "data"}], "outputs": [{"name", "parameters"}]}``. Its data may be flat or
nested row-major; with the binary tensor extension, an input's data instead follows the
JSON (whose length the ``Inference-Header-Content-Length`` header gives) as raw
little-endian bytes, its size in the input's ``parameters.binary_data_size``. I support
both, in requests and in answers, because tritonclient asks for binary outputs unless
told otherwise.

I know nothing about the model: I turn bytes into named flat lists of Python values and
back. Every problem is a :class:`TensorError` whose message names the tensor, which the
protocol's routes answer with a 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Annotated, Any

import msgspec
import numpy as np

# The protocol's datatypes and numpy's little-endian type for each (BYTES: length-prefixed
# strings, see bytes_values).
NUMPY_TYPES: dict[str, str | None] = {
    "BOOL": "?", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
    "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
    "FP16": "<f2", "FP32": "<f4", "FP64": "<f8", "BYTES": None,
}
INTEGERS = frozenset(t for t in NUMPY_TYPES if "INT" in t)
FLOATS = frozenset({"FP16", "FP32", "FP64"})
HEADER_LENGTH = "inference-header-content-length"
BINARY_SIZE = "binary_data_size"
LENGTH_BYTES = 4  # a BYTES element's little-endian length prefix


class TensorError(Exception):
    """I am a request the protocol cannot read; my message names the tensor (a 400)."""


class RequestInput(msgspec.Struct):
    """I am one input tensor of a request."""

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] = {}
    data: Any = None


class RequestOutput(msgspec.Struct):
    """I am one output a request asks for, by name."""

    name: str
    parameters: dict[str, Any] = {}


class InferenceRequest(msgspec.Struct):
    """I am one inference request."""

    # The model takes at least one input: an empty list is refused by the schema itself.
    inputs: Annotated[list[RequestInput], msgspec.Meta(min_length=1)]
    id: str | None = None
    parameters: dict[str, Any] = {}
    outputs: list[RequestOutput] | None = None


DECODE_REQUEST = msgspec.json.Decoder(InferenceRequest).decode
ENCODE = msgspec.json.Encoder().encode


def read_request(body: bytes, header_length: str | None) -> InferenceRequest:
    """I decode a request: its JSON, then the binary data of the inputs that declare a
    ``binary_data_size``, in order, from the bytes after the JSON."""
    json_length = len(body)
    if header_length is not None:
        try:
            json_length = int(header_length)
        except ValueError:
            raise TensorError(f"the Inference-Header-Content-Length header "
                              f"{header_length!r} is not a number of bytes") from None
        if not 0 < json_length <= len(body):
            raise TensorError(f"the Inference-Header-Content-Length header says "
                              f"{json_length} bytes of JSON; the body holds {len(body)}")
    try:
        request = DECODE_REQUEST(body[:json_length])
    except msgspec.ValidationError as exc:
        raise TensorError(f"the request does not follow the protocol: {exc}") from None
    except msgspec.DecodeError as exc:
        raise TensorError(f"the request is not JSON: {exc}") from None
    offset = json_length
    for tensor in request.inputs:
        size = tensor.parameters.get(BINARY_SIZE)
        if size is None:
            continue
        if type(size) is not int or size < 0 or offset + size > len(body):
            raise TensorError(f"input {tensor.name!r}: binary_data_size {size!r} does not "
                              f"fit the {len(body) - offset} bytes left after the JSON")
        if tensor.data is not None:
            raise TensorError(f"input {tensor.name!r} has both data and binary_data_size")
        tensor.data = binary_values(body[offset:offset + size], tensor.datatype, tensor.name)
        offset += size
    if offset != len(body):
        raise TensorError(f"{len(body) - offset} bytes after the JSON belong to no input "
                          "(give each binary input its binary_data_size)")
    return request


def binary_values(raw: bytes, datatype: str, name: str) -> list[Any]:
    """I read one input's raw little-endian bytes as Python values."""
    if datatype not in NUMPY_TYPES:
        raise TensorError(f"input {name!r}: {datatype!r} is not a protocol datatype")
    if datatype == "BYTES":
        return bytes_values(raw, name)
    dtype = np.dtype(NUMPY_TYPES[datatype])
    if len(raw) % dtype.itemsize:
        raise TensorError(f"input {name!r}: {len(raw)} bytes are not whole {datatype} values")
    array = np.frombuffer(raw, dtype)
    if datatype in FLOATS and not np.isfinite(array).all():
        raise TensorError(f"input {name!r} holds NaN or infinity, which the JSON API cannot "
                          "carry either: send null (in JSON) where a feature is nullable")
    return array.tolist()  # type: ignore[no-any-return]


def bytes_values(raw: bytes, name: str) -> list[str]:
    """I read BYTES elements (each a 4-byte little-endian length, then UTF-8 text)."""
    values, offset = [], 0
    while offset < len(raw):
        length = int.from_bytes(raw[offset:offset + LENGTH_BYTES], "little")
        start = offset + LENGTH_BYTES
        if start > len(raw) or start + length > len(raw):
            raise TensorError(f"input {name!r}: a BYTES element runs past the data")
        try:
            values.append(raw[start:start + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise TensorError(f"input {name!r}: a BYTES element is not UTF-8 text") from None
        offset = start + length
    return values


def flat_values(tensor: RequestInput) -> list[Any]:
    """I return a tensor's values flat, row-major, after checking that their number is
    the product of its shape."""
    if not tensor.shape or any(type(d) is not int or d < 0 for d in tensor.shape):
        raise TensorError(f"input {tensor.name!r}: shape {tensor.shape} is not a list of "
                          "sizes (0 or more each)")
    data = tensor.data
    if not isinstance(data, list):
        raise TensorError(f"input {tensor.name!r} has no data (a JSON list, or binary data)")
    kinds = set(map(type, data))
    for _ in tensor.shape[1:]:  # nested row-major, as deep as the shape at most
        if kinds != {list}:
            break
        data = list(chain.from_iterable(data))
        kinds = set(map(type, data))
    expected = int(np.prod(tensor.shape))
    if len(data) != expected or list in kinds:
        raise TensorError(f"input {tensor.name!r}: shape {tensor.shape} holds {expected} "
                          f"values, the data {len(data)} (or it is unevenly nested)")
    return data


def binary_answer(datatype: str, values: Sequence[Any]) -> bytes:
    """I write an output's values as raw little-endian bytes (BYTES: length-prefixed)."""
    numpy_type = NUMPY_TYPES[datatype]
    if numpy_type is None:
        texts = [str(v).encode("utf-8") for v in values]
        return b"".join(len(t).to_bytes(LENGTH_BYTES, "little") + t for t in texts)
    return np.asarray(values, dtype=numpy_type).tobytes()


def answer(header: dict[str, Any], outputs: Sequence[tuple[dict[str, Any], Sequence[Any]]],
           binary: Sequence[bool]) -> tuple[bytes, str | None]:
    """I write a response: its JSON header with every output's name, shape and datatype,
    each output's data inline or, where ``binary`` says so, appended as raw bytes; and
    the JSON's length when anything is appended (the Inference-Header-Content-Length)."""
    tensors, appended = [], []
    for (tensor, values), raw in zip(outputs, binary, strict=True):
        if raw:
            data = binary_answer(tensor["datatype"], values)
            tensors.append({**tensor, "parameters": {BINARY_SIZE: len(data)}})
            appended.append(data)
        else:
            tensors.append({**tensor, "data": values})
    document = ENCODE({**header, "outputs": tensors})
    if not appended:
        return document, None
    return b"".join([document, *appended]), str(len(document))
