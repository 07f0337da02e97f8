"""I serve the Open Inference Protocol (v2, REST) beside the service's own API.

KServe, Triton, OpenVINO Model Server and Seldon speak this protocol, and their users call
it with ready-made clients (``tritonclient.http``, kserve's ``InferenceRESTClient``), so a
service with my routes replaces such a server without a client changing a line:

- ``GET /v2``: the server's metadata; ``GET /v2/health/live`` and ``/v2/health/ready``;
- ``GET /v2/models/{name}``: the model's metadata, one input per feature with its datatype
  and its bounds, enums and nullability (``parameters``), and every output;
- ``GET /v2/models/{name}/ready``; ``POST /v2/models/{name}/infer``;
- each ``/v2/models/{name}`` route also as ``/v2/models/{name}/versions/{version}``.

``{name}`` is the manifest's model name. An infer request gives one input per feature
(columnar, ``parameters.content_type: "pd"``), or one ``[rows, features]`` tensor in
schema order (``"np"``); JSON data or binary data (the binary tensor extension), which I
read in ``tensors.py``. I validate it exactly as ``/predict/batch`` validates a batch: I
turn the tensors into the same records and hand them to the same validator, so bounds,
enums, nullables and "no coercion" hold here too, and then score them with the same
scorer, so readiness, metrics and drift apply as well (API keys and rate limits are the
front door's, in front of every route). My errors are the protocol's:
``{"error": "..."}``, a 400 naming the input for a bad request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import msgspec
from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response

from .answers import Answers
from .errors import short
from .logs import current_request_id
from .model_loader import ModelHandle, ModelNotReadyError
from .spec import ModelSpec
from .tensors import (
    FLOATS,
    HEADER_LENGTH,
    INTEGERS,
    InferenceRequest,
    RequestInput,
    TensorError,
    answer,
    flat_values,
    read_request,
)

# The datatype I declare for each feature type, and those a request may send for it: any
# number for a number (the values then decide: 35.0 is an integer, 35.5 is not, as on
# /predict), BOOL for a boolean, BYTES for a string.
DATATYPES = {"int": "INT64", "float": "FP64", "bool": "BOOL", "str": "BYTES"}
ACCEPTED = {"int": INTEGERS | FLOATS, "float": INTEGERS | FLOATS,
            "bool": frozenset({"BOOL"}), "str": frozenset({"BYTES"})}
CONTENT_TYPES = (None, "pd", "np")
# The JSON Schema keywords of a feature that I publish in its metadata.
CONSTRAINTS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum",
               "const", "maxLength", "description")
JSON_TYPE = "application/json"
REQUEST_SCHEMA = "#/components/schemas/InferenceRequest"

Score = Callable[[Sequence[Any], str], Answers]
Validate = Callable[[bytes], Sequence[Any]]
# msgspec's validation of columns, one per feature by name: rows, or None to ask pydantic.
FastColumns = Callable[[dict[str, list[Any]]], Sequence[Any] | None]


def protocol_error(status: int, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    """I answer with the protocol's error body, ``{"error": message}``."""
    return Response(msgspec.json.encode({"error": message}), status_code=status,
                    media_type=JSON_TYPE, headers=headers)


def json_answer(body: dict[str, Any], status: int = 200) -> Response:
    """I answer with a JSON document."""
    return Response(msgspec.json.encode(body), status_code=status, media_type=JSON_TYPE)


@dataclass(frozen=True)
class Output:
    """I am one output tensor: its name, datatype, row width (None: one value per row)
    and how I read my flat, row-major values from the answers."""

    name: str
    datatype: str
    width: int | None
    values: Callable[[Answers], list[Any]]
    parameters: dict[str, Any]

    def metadata(self) -> dict[str, Any]:
        """I describe myself for the model's metadata."""
        shape = [-1] if self.width is None else [-1, self.width]
        described = {"name": self.name, "datatype": self.datatype, "shape": shape}
        return {**described, "parameters": self.parameters} if self.parameters else described


def label_datatype(classes: Sequence[Any]) -> str:
    """I return the datatype of a classifier's labels: BOOL, INT64, FP64, else BYTES."""
    kinds = {type(c) for c in classes}
    if kinds == {bool}:
        return "BOOL"
    if kinds <= {int}:
        return "INT64"
    return "FP64" if kinds <= {int, float} else "BYTES"


def column(key: str, as_text: bool = False) -> Callable[[Answers], list[Any]]:
    """I read one of the model's output columns as the answers keep it, flat (as text for
    a BYTES output of labels that are not)."""
    def values(results: Answers) -> list[Any]:
        """I return the column's values, row after row."""
        found = results.columns[key]
        flat: list[Any] = found.ravel().tolist() if hasattr(found, "ravel") else list(found)
        return list(map(str, flat)) if as_text else flat
    return values


def ranked(key: str) -> Callable[[Answers], list[Any]]:
    """I read one field of each answer's ranked items, row after row; every answer must
    hold as many items (a tensor is rectangular)."""
    def values(results: Answers) -> list[Any]:
        """I flatten the field over the answers' items."""
        answers = list(results)
        if len({len(a["items"]) for a in answers}) > 1:
            raise ValueError("the answers hold different numbers of items")
        return [item[key] for a in answers for item in a["items"]]
    return values


def outputs_for(spec: ModelSpec, example: dict[str, Any]) -> tuple[Output, ...]:
    """I list the model's outputs, from the answer it gave its self-check (a classifier
    without probabilities gives none, and neither do I)."""
    if "items" in example:  # a recommender: the ranked items' ids and scores
        item_type = "INT64" if spec.catalogue and spec.catalogue.item_id_type == "int" \
            else "BYTES"
        return (Output("item_id", item_type, -1, ranked("item_id"), {}),
                Output("score", "FP64", -1, ranked("score"), {}))
    if "anomaly_score" in example:
        return (Output("anomaly_score", "FP64", None, column("anomaly_score"), {}),
                Output("is_anomaly", "BOOL", None, column("is_anomaly"), {}))
    if spec.classes is None:
        return (Output("prediction", "FP64", None, column("prediction"), {}),)
    datatype = label_datatype(spec.classes)
    found = (Output("prediction", datatype, None,
                    column("prediction", datatype == "BYTES"), {}),)
    if "probabilities" in example:
        labels = list(example["probabilities"])
        found += (Output("probabilities", "FP64", len(labels), column("probabilities"),
                         {"classes": labels}),)
    return found


def feature_parameters(schema: dict[str, Any]) -> dict[str, Any]:
    """I return what a feature's JSON Schema constrains (bounds, enum, length, nullable),
    for its metadata."""
    branches = schema.get("anyOf", [schema])
    values = next((b for b in branches if b.get("type") != "null"), schema)
    found = {key: values[key] for key in CONSTRAINTS if key in values}
    if any(b.get("type") == "null" for b in branches):
        found["nullable"] = True
    return found


class InferenceProtocol:
    """I answer the protocol's routes for the one model this service serves."""

    def __init__(self, spec: ModelSpec, handle: ModelHandle, record_schema: dict[str, Any],
                 validate: Validate, fast: FastColumns | None, score: Score,
                 failure: type[Exception], max_rows: int, server: tuple[str, str]) -> None:
        """I keep the model's spec and handle, the JSON Schema of one record (its
        properties by feature name), the batch validator of /predict/batch and its fast
        path for columns (None: pydantic alone), its scorer (and the exception it raises
        when the model fails), the row limit, and the server's name and version."""
        self.spec, self.handle = spec, handle
        self.validate, self.fast = validate, fast
        self.score, self.failure = score, failure
        self.max_rows = max_rows
        self.server_name, self.server_version = server
        columns = spec.query_columns
        self.names = tuple(c.name for c in columns)
        self.types = {c.name: c.type for c in columns}
        properties = record_schema.get("properties", {})
        self.inputs = [{"name": c.name, "datatype": DATATYPES[c.type], "shape": [-1],
                        **({"parameters": p} if (p := feature_parameters(
                            properties.get(c.name, {}))) else {})}
                       for c in columns]
        self.base = f"/v2/models/{spec.name}"
        self.versioned = f"{self.base}/versions/{spec.version}"
        self._outputs: tuple[Output, ...] | None = None

    def routes(self) -> dict[tuple[str, str], Callable[[Request], Any]]:
        """I return my handlers by (method, exact path), for the fast lane."""
        found: dict[tuple[str, str], Callable[[Request], Any]] = {
            ("GET", "/v2"): self.server_metadata,
            ("GET", "/v2/health/live"): self.live,
            ("GET", "/v2/health/ready"): self.server_ready,
        }
        for base in (self.base, self.versioned):
            found[("GET", base)] = self.model_metadata
            found[("GET", f"{base}/ready")] = self.model_ready
            found[("POST", f"{base}/infer")] = self.infer
        return found

    def outputs(self) -> tuple[Output, ...]:
        """I return my outputs, known once the model is loaded (ModelNotReadyError
        before)."""
        if self._outputs is None:
            if not self.handle.ready or self.handle.checked is None:
                raise ModelNotReadyError(self.handle.error or "loading")
            self._outputs = outputs_for(self.spec, self.handle.checked)
        return self._outputs

    async def server_metadata(self, request: Request) -> Response:
        """I name the server and the protocol extensions I support."""
        return json_answer({"name": self.server_name, "version": self.server_version,
                            "extensions": ["binary_tensor_data"]})

    async def live(self, request: Request) -> Response:
        """I answer liveness: the process serves HTTP."""
        return json_answer({"live": True})

    async def server_ready(self, request: Request) -> Response:
        """I answer readiness: 200 once the model is loaded, else 503."""
        ready = bool(self.handle.ready)
        return json_answer({"ready": ready}, 200 if ready else 503)

    async def model_ready(self, request: Request) -> Response:
        """I answer the model's readiness (the only model: the server's readiness)."""
        ready = bool(self.handle.ready)
        return json_answer({"name": self.spec.name, "ready": ready}, 200 if ready else 503)

    async def model_metadata(self, request: Request) -> Response:
        """I describe the model: its inputs with their constraints, and its outputs."""
        try:
            outputs = self.outputs()
        except ModelNotReadyError as exc:
            return protocol_error(503, f"model not ready: {exc}", {"Retry-After": "5"})
        parameters: dict[str, Any] = {"max_rows": self.max_rows, "task": self.spec.task}
        if self.spec.catalogue is not None:
            parameters["k"] = {"default": self.spec.catalogue.default_k, "minimum": 1,
                               "maximum": self.spec.catalogue.max_k}
        return json_answer({"name": self.spec.name, "versions": [self.spec.version],
                            "platform": self.spec.family, "inputs": self.inputs,
                            "outputs": [o.metadata() for o in outputs],
                            "parameters": parameters})

    async def infer(self, request: Request) -> Response:
        """I score an inference request: tensors to records, validated as /predict/batch
        validates them, one model call, answers to tensors."""
        body = await request.body()
        try:
            outputs = self.outputs()
            tensors = read_request(body, request.headers.get(HEADER_LENGTH))
            wanted = self.requested(tensors, outputs)
            rows = self.rows(self.columns(tensors), tensors)
        except TensorError as exc:
            return protocol_error(400, str(exc))
        except ModelNotReadyError as exc:
            return protocol_error(503, f"model not ready: {exc}", {"Retry-After": "5"})
        try:
            results = self.score(rows, request.url.path)
        except ModelNotReadyError as exc:
            return protocol_error(503, f"model not ready: {exc}", {"Retry-After": "5"})
        except self.failure:
            return protocol_error(500, "the model failed to score this input; the error is "
                                       "logged with this request id")
        n = len(results)
        try:
            data = [(o, o.values(results)) for o, _ in wanted]
        except ValueError as exc:  # a recommender's answers of uneven length
            return protocol_error(500, f"the answers cannot form a tensor: {exc}")
        tensors_out = [({"name": o.name, "datatype": o.datatype,
                         "shape": [n] if o.width is None else [n, len(values) // max(n, 1)]},
                        values) for o, values in data]
        header = {"model_name": self.spec.name, "model_version": self.spec.version,
                  "id": tensors.id if tensors.id is not None else current_request_id()}
        content, json_length = answer(header, tensors_out, [raw for _, raw in wanted])
        if json_length is None:
            return Response(content, media_type=JSON_TYPE)
        return Response(content, media_type="application/octet-stream",
                        headers={HEADER_LENGTH: json_length})

    def requested(self, request: InferenceRequest,
                  outputs: tuple[Output, ...]) -> list[tuple[Output, bool]]:
        """I return the outputs asked for (all when none is named), each with whether its
        data goes binary (``binary_data`` on the output, else ``binary_data_output``)."""
        binary = request.parameters.get("binary_data_output", False)
        if not request.outputs:
            return [(o, bool(binary)) for o in outputs]
        by_name = {o.name: o for o in outputs}
        chosen = []
        for asked in request.outputs:
            if asked.name not in by_name:
                raise TensorError(f"unknown output {asked.name!r}: this model's outputs are "
                                  f"{', '.join(map(repr, by_name))}")
            chosen.append((by_name[asked.name],
                           bool(asked.parameters.get("binary_data", binary))))
        return chosen

    def columns(self, request: InferenceRequest) -> dict[str, list[Any]]:
        """I read the request's tensors as one column of values per feature: one input per
        feature, or one [rows, features] tensor in schema order."""
        content_type = request.parameters.get("content_type")
        if content_type not in CONTENT_TYPES:
            raise TensorError(f"content_type {content_type!r} is not supported: send 'pd' "
                              "(one input per feature) or 'np' (one [rows, features] tensor)")
        by_name = {t.name: t for t in request.inputs}
        if len(by_name) != len(request.inputs):
            raise TensorError("two inputs have the same name")
        if content_type != "np" and all(name in by_name for name in self.names):
            unknown = [name for name in by_name if name not in self.types]
            if unknown:
                raise TensorError(f"unknown inputs {', '.join(map(repr, unknown[:10]))}: "
                                  "this model's inputs are its features (GET " +
                                  self.base + ")")
            columns = [self.column(by_name[name], name) for name in self.names]
            sizes = {name: len(c) for name, c in zip(self.names, columns, strict=True)}
            if len(set(sizes.values())) > 1:
                raise TensorError("the inputs hold different numbers of rows: " + ", ".join(
                    f"{name!r} {size}" for name, size in list(sizes.items())[:10]))
            return dict(zip(self.names, columns, strict=True))
        if content_type != "pd" and len(request.inputs) == 1 and \
                len(request.inputs[0].shape) == 2:
            return self.matrix(request.inputs[0])
        missing = [name for name in self.names if name not in by_name]
        raise TensorError(f"missing inputs {', '.join(map(repr, missing[:10]))}: send one "
                          f"input per feature, or one [rows, {len(self.names)}] tensor in "
                          f"schema order (GET {self.base})")

    def column(self, tensor: RequestInput, name: str) -> list[Any]:
        """I read one feature's input: shape [rows] or [rows, 1], a datatype that fits."""
        self.check_datatype(tensor, [name])
        if len(tensor.shape) > 2 or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise TensorError(f"input {name!r}: shape {tensor.shape} is not [rows] or "
                              "[rows, 1]")
        return flat_values(tensor)

    def matrix(self, tensor: RequestInput) -> dict[str, list[Any]]:
        """I read one [rows, features] tensor whose columns are the features in order."""
        _, width = tensor.shape
        if width != len(self.names):
            raise TensorError(f"input {tensor.name!r}: shape {tensor.shape} has {width} "
                              f"columns; the model has {len(self.names)} features")
        self.check_datatype(tensor, self.names)
        values = flat_values(tensor)
        return {name: values[i::width] for i, name in enumerate(self.names)}

    def check_datatype(self, tensor: RequestInput, names: Sequence[str]) -> None:
        """I refuse a datatype that cannot hold the features' values (BYTES for a number,
        a number for a boolean): values are never converted."""
        for name in names:
            kind = self.types[name]
            if tensor.datatype not in ACCEPTED[kind]:
                where = f"input {tensor.name!r}" + \
                    (f" (column {name!r})" if tensor.name != name else "")
                raise TensorError(f"{where}: datatype {tensor.datatype!r} cannot hold feature "
                                  f"{name!r} ({DATATYPES[kind]}); see GET {self.base}")

    def rows(self, columns: dict[str, list[Any]], request: InferenceRequest) -> Sequence[Any]:
        """I validate the columns as /predict/batch validates a batch: msgspec first, at C
        speed; where it refuses, pydantic decides on the same values as records, and I name
        the input and rows of each refusal."""
        count = len(columns[self.names[0]])
        if not count:
            raise TensorError("the request holds no rows")
        if count > self.max_rows:
            raise TensorError(f"the request holds {count} rows; at most {self.max_rows} per "
                              "request (MAX_BATCH_SIZE)")
        if self.fast is not None:
            rows = self.fast(columns)
            if rows is not None:
                return rows
        records = list(map(dict, map(zip, repeat(self.names), zip(
            *(columns[name] for name in self.names), strict=True))))
        if self.spec.catalogue is not None:
            k = request.parameters.get("k", self.spec.catalogue.default_k)
            records = [{"query": record, "k": k} for record in records]
        try:
            return self.validate(msgspec.json.encode({"records": records}))
        except RequestValidationError as exc:
            raise TensorError("invalid input: " + self.located(exc.errors(), request)) \
                from None

    def located(self, errors: Sequence[dict[str, Any]], request: InferenceRequest) -> str:
        """I say which input (or parameter) and rows each refusal is about, one clause per
        input and message: ``input 'age', rows 0, 3: Input should be a valid integer
        (got '35')``."""
        single = request.inputs[0].name if len(request.inputs) == 1 else None
        clauses: dict[tuple[str, str], list[Any]] = {}
        for error in errors:
            loc = [p for p in error["loc"][2:] if p != "query"]  # past ("body", "records")
            if len(loc) < 2:
                where = "the request"
            elif loc[1] == "k":
                where = "parameter 'k'"
            elif single is not None and single != loc[1]:
                where = f"input {single!r} column {loc[1]!r}"
            else:
                where = f"input {loc[1]!r}"
            got = f" (got {error['input']!r:.60})" if "input" in error and len(loc) >= 2 \
                else ""
            clauses.setdefault((where, short(error) + got), []).append(loc[0] if loc else "-")
        parts = []
        for (where, message), rows in list(clauses.items())[:10]:
            shown = ", ".join(map(str, rows[:5])) + (f" and {len(rows) - 5} more"
                                                     if len(rows) > 5 else "")
            parts.append(f"{where}, row{'s' if len(rows) > 1 else ''} {shown}: {message}")
        return "; ".join(parts)


def unknown_model(name: str, version: str) -> Callable[..., Any]:
    """I return the handler of a model route for any model but mine: a 404 naming mine
    (my own model's routes are answered by the fast lane before FastAPI routes)."""
    async def unknown(model_name: str, model_version: str | None = None) -> Response:
        """I answer 404: this server serves one model."""
        return protocol_error(404, f"model {model_name!r} is not served here; this server "
                                   f"serves {name!r} version {version!r}")
    return unknown


def documented_routes(spec: ModelSpec) -> APIRouter:
    """I document the protocol's routes in the OpenAPI document; for a model name that is
    not mine they answer 404 (the fast lane answers mine first)."""
    router = APIRouter(prefix="/v2", tags=["open inference protocol"])
    unknown = unknown_model(spec.name, spec.version)
    error = {"content": {JSON_TYPE: {"schema": {
        "type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}}}
    not_ready = {503: {**error, "description": "The model is not loaded (yet)"}}
    missing = {404: {**error, "description": f"Not the model served here ({spec.name!r})"}}

    async def server() -> dict[str, Any]:
        """I am never called: the fast lane answers this route."""
        return {}

    router.add_api_route("", server, methods=["GET"], summary="Server metadata")
    router.add_api_route("/health/live", server, methods=["GET"], summary="Server liveness")
    router.add_api_route("/health/ready", server, methods=["GET"], summary="Server readiness",
                         responses=not_ready)
    for base in ("/models/{model_name}", "/models/{model_name}/versions/{model_version}"):
        router.add_api_route(base, unknown, methods=["GET"], summary="Model metadata",
                             responses={**missing, **not_ready})
        router.add_api_route(f"{base}/ready", unknown, methods=["GET"],
                             summary="Model readiness", responses={**missing, **not_ready})
        router.add_api_route(
            f"{base}/infer", unknown, methods=["POST"],
            summary="Inference (JSON or binary tensors)",
            responses={**missing, **not_ready,
                       400: {**error, "description": "A tensor or value the model refuses"},
                       500: {**error, "description": "The model failed on this input"}},
            openapi_extra={"requestBody": {"required": True, "content": {
                JSON_TYPE: {"schema": {"$ref": REQUEST_SCHEMA}}}}})
    return router


def schema_components() -> dict[str, Any]:
    """I return the JSON Schemas of an inference request's parts, for the OpenAPI
    document's components."""
    _, components = msgspec.json.schema_components(
        [InferenceRequest], ref_template="#/components/schemas/{name}")
    return components
