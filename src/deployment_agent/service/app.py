"""I am the web layer of the prediction service: routes, validation, errors and docs.

My endpoints (see also ``/docs``): ``GET /health`` and ``/health/ready`` (liveness and
readiness), ``POST /predict`` (one record) and ``/predict/batch`` (up to MAX_BATCH_SIZE),
``POST /feedback`` (the true outcomes of predictions made, with the inference log on),
``GET /metrics`` (Prometheus) and ``/docs`` (Swagger UI, offline).

:func:`create_app` builds the app from its parts: the settings, the model's spec, the
deployment's generated request schemas, the family's scoring module and the serving
runtime's patches. Nothing is built when I am imported; ``main.py`` wires one app.

I read each request body once, straight from its bytes into rows: msgspec validates it at
C speed against structs translated from the generated pydantic models (``decoding.py``),
and a batch's rows are read by a C function, so that a 1,000-record batch runs no Python
code per record before the model call. A body msgspec refuses goes to pydantic, whose
422 names each field (or which accepts ``35.0`` for an integer, as the contract says).

Errors share one JSON shape, ``{"message", "request_id", "detail"}``: invalid input is a
422 that names each offending field, a body that cannot be decoded a 400, a request
before the model is ready a 503, and a failure inside the model a 500 with a safe
message (the traceback goes to the log only). I load the model in a background thread,
so that the process answers liveness at once.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import threading
import typing
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from . import health, patches
from .answers import Answers
from .coalescing import Coalescer
from .decoding import fast_records
from .errors import error_body, short
from .fast_lane import FastLane
from .frames import Batch
from .inference_protocol import (
    InferenceProtocol,
    documented_routes,
    protocol_error,
    schema_components,
)
from .logs import ACCESS_LOG, configure_logging, current_request_id
from .metrics import (
    MODEL_LOAD_SECONDS,
    MODEL_READY,
    PREDICTION_ERRORS,
    PREDICTIONS,
    render_metrics,
    task_counter,
)
from .middleware import RequestContextMiddleware
from .model_loader import ModelHandle, ModelNotReadyError, UnknownItems
from .monitoring import parts as monitoring_parts
from .monitoring.drift import (
    DriftMonitor,
    DriftWindow,
    References,
    drift_families,
    load_references,
)
from .monitoring.feedback import FeedbackRequest, FeedbackResponse, outcome_schema
from .monitoring.inference_log import InferenceLog
from .security import (
    SecurityMiddleware,
    document_api_key,
    load_api_keys,
    security_headers,
)
from .spec import ModelSpec

logger = logging.getLogger("service.api")
# Beside me in the deployment's api/: Swagger UI's files, and the drift references.
STATIC_DIR = "api/static"
DRIFT_FILE = "api/drift_reference.json"
JSON_MEDIA_TYPE = "application/json"
JSON_TYPE = JSON_MEDIA_TYPE.encode()
# msgspec encodes a batch's answers (structs, see answers.py) straight to JSON bytes.
ENCODE = msgspec.json.Encoder().encode

# JSON my parser cannot decode at all, as opposed to JSON that is merely malformed.
UNDECODABLE = ("recursion limit exceeded", "number out of range")

Body = TypeVar("Body", bound=BaseModel)


class ModelFailure(Exception):
    """I am raised when the model fails on validated input: a bug or a bad model, never
    the client's fault, so the client gets a 500 with a safe message."""


class UndecodableBody(Exception):
    """I am raised when the body is not JSON I can decode (not UTF-8, nested too deep, a
    number too large): a 400, as distinct from a malformed but readable body (422)."""


class JSONBytes(Response):
    """I am a JSON response from bytes already encoded. I build my headers directly:
    Starlette's Response works out a media type and a charset for every response, which
    costs more than the rest of a small answer's response."""

    media_type = JSON_MEDIA_TYPE

    def __init__(self, content: bytes, status_code: int = 200,
                 headers: dict[str, str] | None = None) -> None:
        """I keep the body, the status and the headers, with my length and type."""
        self.status_code = status_code
        self.body = content
        self.background = None
        self.raw_headers = [(b"content-length", str(len(content)).encode()),
                            (b"content-type", JSON_TYPE)]
        if headers:
            self.raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                                 for k, v in headers.items()]


def json_response(content: bytes, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """I answer with JSON bytes I serialised myself (msgspec, once)."""
    return JSONBytes(content, status, headers)


def error(status: int, message: str, detail: list[Any] | None = None,
          headers: dict[str, str] | None = None) -> Response:
    """I answer with the API's one error body."""
    return json_response(error_body(message, detail), status, headers)


def request_body(model: type[Body]) -> dict[str, Any]:
    """I document a request body that my handler parses itself (FastAPI never sees it)."""
    reference = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True,
                            "content": {JSON_MEDIA_TYPE: {"schema": reference}}}}


def require_json(request: Request) -> None:
    """I refuse a body not sent as JSON with the same 422 FastAPI would raise."""
    content_type = next((value for name, value in request.scope["headers"]
                         if name == b"content-type"), b"").decode("latin-1")
    media = content_type.split(";")[0].strip().lower()
    if media != JSON_MEDIA_TYPE and not media.endswith("+json"):
        raise RequestValidationError(
            [{"type": "content_type", "loc": ("body",), "msg": "the body must be JSON sent "
              "with Content-Type: application/json", "input": None}])


def parse(model: type[Body], body: bytes) -> Body:
    """I validate the raw body into ``model`` in one pass, from bytes (pydantic's parser).

    A body that is not valid becomes the same 422 FastAPI would raise (with locations
    under ``body``); one I cannot decode at all, a 400.
    """
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        if errors and errors[0]["type"] == "json_invalid":
            if not body.strip():
                raise RequestValidationError([{"type": "missing", "loc": ("body",),
                                               "msg": "the request body is empty",
                                               "input": None}]) from None
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                raise UndecodableBody("it is not UTF-8") from None
            if any(reason in errors[0]["msg"] for reason in UNDECODABLE):
                raise UndecodableBody(errors[0]["msg"].removeprefix("Invalid JSON: ")) \
                    from None
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


async def invalid_input(request: Request, exc: RequestValidationError) -> Response:
    """I answer 422, naming every invalid field, e.g. ``body.age: Input should be a valid
    integer``; for JSON that does not parse, I say where it breaks."""
    detail = [{"loc": list(e["loc"]), "msg": short(e), "type": e["type"]}
              for e in exc.errors()]
    first = detail[0]
    if first["type"] == "json_invalid":
        where = first["msg"].removeprefix("Invalid JSON: ")
        return error(422, f"malformed JSON body: {where}", detail)
    if first["type"] == "missing" and first["loc"] == ["body"]:
        return error(422, "the request body is empty: send a JSON object (see /docs)", detail)
    if first["type"] == "content_type":
        return error(422, first["msg"], detail)
    fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                       for e in detail[:10])
    return error(422, f"invalid input: {fields}", detail)


async def undecodable(request: Request, exc: UndecodableBody) -> Response:
    """I answer 400 for a body I cannot decode, saying what a decodable one looks like."""
    return error(400, f"the body could not be parsed as JSON ({exc}): it must be UTF-8, "
                      "nested less deeply, with numbers of reasonable size")


async def not_ready(request: Request, exc: ModelNotReadyError) -> Response:
    """I answer 503 while the model is not loaded, with the loader's reason; clients may
    retry after the ``Retry-After`` seconds."""
    return error(503, f"model not ready: {exc}", headers={"Retry-After": "5"})


async def unknown_items(request: Request, exc: UnknownItems) -> Response:
    """I answer 422 naming the item ids the catalogue does not hold, and the field."""
    ids = ", ".join(repr(i) for i in exc.ids[:10])
    detail = [{"loc": ["body", exc.field], "msg": f"unknown item id {i!r}",
               "type": "unknown_item"} for i in exc.ids[:10]]
    return error(422, f"invalid input: body.{exc.field}: unknown item ids {ids}", detail)


async def model_failure(request: Request, exc: ModelFailure) -> Response:
    """I answer 500 without internals: the traceback is in the log under this request id."""
    return error(500, "the model failed to score this input; the error is logged with this "
                      "request id")


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """I give Starlette's own errors (404, 405) the API's error body, or the Open Inference
    Protocol's under /v2."""
    headers = getattr(exc, "headers", None)
    if request.url.path == "/v2" or request.url.path.startswith("/v2/"):
        return protocol_error(exc.status_code, str(exc.detail), headers)
    return error(exc.status_code, str(exc.detail), headers=headers)


# Each exception my handlers turn into the API's error body.
HANDLERS: dict[type[Exception], Any] = {
    RequestValidationError: invalid_input, UndecodableBody: undecodable,
    ModelNotReadyError: not_ready, UnknownItems: unknown_items, ModelFailure: model_failure,
    StarletteHTTPException: http_error,
}


class Scoring:
    """I run the model on validated rows, count what it did and watch it for drift.

    Both front ends call me: the API's routes and BentoML's own endpoints (``service.py``).
    """

    def __init__(self, handle: ModelHandle, spec: ModelSpec, drift: DriftMonitor | None,
                 feature_rows: Any, log: InferenceLog | None = None) -> None:
        """I keep the model handle, the spec (its task), the drift monitor (None: off),
        the schemas' function that turns request rows into feature rows, and the
        inference log (None: off)."""
        self.handle = handle
        self.log = log
        self.task = spec.task
        self.drift = drift
        self.feature_rows = feature_rows
        self.task_events = task_counter(spec.task)
        # Each endpoint's counter child, resolved once (a label lookup per request costs).
        self.counted = functools.cache(PREDICTIONS.labels)

    def score(self, rows: Sequence[Any], endpoint: str) -> Answers:
        """I run the model on validated rows and turn its failures into a logged
        ModelFailure.

        I call it inline on the event loop: for a model this size a call takes well under
        a millisecond, less than handing it to a thread pool would.
        """
        try:
            results = self.handle.predict(rows)
        except (ModelNotReadyError, UnknownItems):
            raise
        except Exception as exc:
            PREDICTION_ERRORS.inc()
            logger.exception("prediction failed", extra={"endpoint": endpoint,
                                                          "rows": len(rows)})
            raise ModelFailure from exc
        self.account(rows, results, endpoint)
        return results

    def logged(self, rows: Sequence[Any], endpoint: str, body: bytes | None = None
               ) -> Answers:
        """I score one request's rows, as :meth:`score`, and hand them, their answers and
        the request's JSON ``body`` if it is a batch's, to the inference log (a batch's,
        or the Open Inference Protocol's)."""
        results = self.score(rows, endpoint)
        if self.log is not None:  # encoded here, once: the writer thread never races me
            self.log.submit(endpoint, current_request_id(), rows,
                            msgspec.Raw(results.json()), body=body)
        return results

    def account(self, rows: Sequence[Any], results: Answers, endpoint: str) -> None:
        """I count what the model scored (records, the task's events) and watch it for
        drift."""
        self.counted(endpoint).inc(len(rows))
        if self.task_events is not None and results.events:
            self.task_events.inc(results.events)
        if self.drift is not None:
            self.drift.observe(self.feature_rows(rows), results.watched)

    def coalescer(self, endpoint: str) -> Coalescer:
        """I return a coalescer that scores the single records of ``endpoint`` arriving
        together in one model call (see coalescing.py)."""
        return Coalescer(self.handle.predict,
                         functools.partial(self.account, endpoint=endpoint),
                         functools.partial(self.score, endpoint=endpoint))


def description(spec: ModelSpec) -> str:
    """I describe the model served, for the OpenAPI document."""
    return (f"Predictions from model `{spec.name}` version `{spec.version}` "
            f"({spec.estimator}, {spec.task}, served by {spec.runtime}). Input is validated "
            "strictly: wrong types are rejected (422), never coerced.")


def error_responses(settings: Any) -> dict[int | str, dict[str, Any]]:
    """I document what the front door and the body parser may answer, on every route."""
    responses: dict[int | str, dict[str, Any]] = {
        400: {"description": "Body is not decodable JSON"},
        413: {"description": "Body larger than MAX_BODY_BYTES"},
        422: {"description": "Invalid input"},
    }
    if settings.rate_limit:
        responses[429] = {"description": "Rate limit exceeded"}
    return responses


class ServiceAPI(FastAPI):
    """I am the service's FastAPI app with the service's own middleware in front of it.

    FastAPI wraps every request in its own outer layers (server errors, telemetry, a body
    limit) before any middleware added with ``add_middleware``. The hot routes need none
    of them: the fast lane answers its own failures (``fast_lane.py``) and the body limit
    is ``security.py``'s. So every request enters through ``front``, the service's
    middleware chain, which ends in FastAPI's own ``__call__``, all its layers included,
    for the routes the lane does not answer. I am still FastAPI for everything else:
    routes, OpenAPI, ``state``, the test client, BentoML's mount.
    """

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """I hand every request (and the lifespan) to my front chain once it is wired."""
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)


def create_app(settings: Any, spec: ModelSpec, schemas: ModuleType, scoring: ModuleType,
               runtime_patches: Sequence[patches.Patch], root: Path,
               references: References | None = None) -> ServiceAPI:
    """I build the service's app: ``settings`` (the generated ``Settings``), the model's
    ``spec``, the generated request ``schemas`` module, the family's ``scoring`` module,
    the serving runtime's patches, and the deployment's ``root`` (model paths are
    relative to it). Drift references default to the deployment's
    ``api/drift_reference.json``.

    I read API keys here, so that an unusable API_KEYS_FILE stops the process at start-up.
    """
    configure_logging(settings.log_level)
    api_keys = load_api_keys(settings.api_keys_file) if settings.api_keys_file else None
    handle = ModelHandle(settings.model_path, settings.model_sha256, spec, scoring,
                         [schemas.EXAMPLE_INPUT[name] for name in schemas.FEATURE_NAMES],
                         root)
    watched = references if references is not None else load_references(root / DRIFT_FILE)
    drift = DriftMonitor(watched) if settings.enable_drift_detection else None
    drift_window = DriftWindow(settings.drift_window_records, settings.drift_window_seconds) \
        if settings.enable_drift_detection else None
    log, feedback, feedback_unavailable = monitoring_parts.build(
        settings, spec, schemas, settings.model_sha256, handle)
    scorer = Scoring(handle, spec, drift, schemas.feature_rows, log)
    singles = scorer.coalescer("/predict")
    # msgspec validates first; pydantic, the one source of the contract, decides refusals.
    fast = fast_records(schemas.PredictionRequest, schemas.BatchRequest)
    failures: dict[int | str, dict[str, Any]] = {
        503: {"model": schemas.ErrorResponse, "description": "Model not ready"},
        500: {"model": schemas.ErrorResponse, "description": "The model failed on this input"},
    }
    responses = {code: {"model": schemas.ErrorResponse, **doc}
                 for code, doc in error_responses(settings).items()}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """I prepare each worker process before it accepts connections.

        I install the library patches this worker needs (``patches.py``), then load the
        model in a background thread and wait, boundedly, for the first attempt. Waiting
        means that when the model loads normally no worker serves "not ready" while its
        siblings are ready; bounding the wait (MODEL_LOAD_WAIT_SECONDS) means that a slow
        or failing load still lets liveness answer, with readiness 503 until a retry
        succeeds.
        """
        patches.install(runtime_patches)
        stop = threading.Event()

        def load() -> None:
            """I load the model (retrying until it works) and publish readiness."""
            handle.load_until_ready(settings.model_load_retry_seconds, stop)
            if handle.ready:
                MODEL_READY.set(1)
                MODEL_LOAD_SECONDS.set(handle.load_seconds or 0.0)

        MODEL_READY.set(0)
        threading.Thread(target=load, name="model-loader", daemon=True).start()
        if log is not None:
            log.start()
        await asyncio.to_thread(handle.first_attempt_done.wait,
                                settings.model_load_wait_seconds)
        yield
        stop.set()
        if log is not None:
            # Every record answered, written; a remote sink gets half the grace period.
            await asyncio.to_thread(log.close, settings.graceful_shutdown_seconds / 2)
        ACCESS_LOG.flush()  # the last requests' lines, before the worker exits

    app = ServiceAPI(
        title=settings.api_title,
        version=settings.api_version,
        description=description(spec),
        lifespan=lifespan,
        docs_url=None,  # served below from local assets: the default page needs a CDN
        redoc_url=None,
        responses=responses,
        # FastAPI's native OpenTelemetry asks the global providers on every request
        # whether it is on (3% of a /predict, profiled); this service configures none,
        # and counts and logs every request itself (metrics.py, logs.py).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.model = handle
    app.state.scoring = scorer
    app.include_router(health.router)
    app.mount("/static", StaticFiles(directory=root / STATIC_DIR), name="static")
    for exception, handler in HANDLERS.items():
        app.add_exception_handler(exception, handler)

    def openapi() -> dict[str, Any]:
        """I build the OpenAPI document once: FastAPI's, plus the request models my
        handlers parse themselves, plus the X-API-Key scheme when API_KEYS_FILE is set."""
        if app.openapi_schema is None:
            document = FastAPI.openapi(app)
            _, definitions = models_json_schema(
                [(schemas.PredictionRequest, "validation"),
                 (schemas.BatchRequest, "validation"), (FeedbackRequest, "validation")],
                ref_template="#/components/schemas/{model}",
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update(definitions["$defs"])
            components["Outcome"]["properties"]["outcome"].update(
                outcome_schema(spec, typing.get_args(getattr(schemas, "ItemId", None))))
            components.update(schema_components())
            app.openapi_schema = document_api_key(document) if api_keys else document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook

    @app.post("/predict", response_model=schemas.PredictionResponse, tags=["prediction"],
              responses=failures, openapi_extra=request_body(schemas.PredictionRequest))
    async def predict(request: Request) -> Response:
        """I score one record, in one model call with the records of other requests
        waiting at the same moment (coalescing.py)."""
        body = await request.body()
        require_json(request)
        row = fast.row(body) if fast is not None else None
        if row is None:  # pydantic decides: it refuses with the 422, or accepts (35.0)
            row = schemas.ROW(parse(schemas.PredictionRequest, body))
        item = await singles.submit(row)
        request_id = current_request_id()
        if log is not None:
            log.submit("/predict", request_id, [row], [item], single=True, body=body)
        return json_response(ENCODE(
            {**msgspec.to_builtins(item), "model_version": spec.version,
             "request_id": request_id}))

    def batch_rows(body: bytes) -> Sequence[Any]:
        """I validate a batch body into rows: msgspec first, pydantic deciding refusals
        (the Open Inference Protocol's requests come through me too)."""
        rows = fast.rows(body) if fast is not None else None
        if rows is None:
            rows = Batch(map(schemas.ROW, parse(schemas.BatchRequest, body).records))
        return rows

    @app.post("/predict/batch", response_model=schemas.BatchResponse, tags=["prediction"],
              responses=failures, openapi_extra=request_body(schemas.BatchRequest))
    async def predict_batch(request: Request) -> Response:
        """I score up to MAX_BATCH_SIZE records in one model call, in request order."""
        body = await request.body()
        require_json(request)
        results = scorer.logged(batch_rows(body), "/predict/batch", body)
        # The answers' JSON is the one the inference log was handed: I splice it in.
        rest = ENCODE({"count": len(results), "model_version": spec.version,
                       "request_id": current_request_id()})
        return json_response(b'{"predictions":' + results.json() + b"," + rest[1:])

    @app.get("/metrics", tags=["monitoring"], response_class=Response)
    async def metrics() -> Response:
        """I serve Prometheus metrics: requests, latency, predictions, model load, drift
        (PSI per feature and of the predictions over the sliding window)."""
        if not settings.monitoring_enabled:
            return error(404, "metrics are disabled (MONITORING_ENABLED=false)")
        if drift is not None:
            drift.flush()  # this worker's pending single-record counts, published first
        quality = await asyncio.to_thread(feedback.families) if feedback is not None else []

        def derived(families: list[Any]) -> list[Any]:
            """I add the drift window's gauges (when drift detection is on) and the
            model's quality to the collected families."""
            drifted = drift_families(families, settings.drift_threshold, drift_window,
                                     watched) if drift_window is not None else []
            return [*drifted, *quality]

        body, content_type = render_metrics(derived)
        return Response(body, media_type=content_type)

    @app.post("/feedback", response_model=FeedbackResponse, tags=["monitoring"],
              responses={**failures,
                         404: {"model": schemas.ErrorResponse,
                               "description": "The inference log is off"},
                         503: {"model": schemas.ErrorResponse,
                               "description": "The prediction store cannot be opened"}},
              openapi_extra=request_body(FeedbackRequest))
    async def take_feedback(request: Request) -> Response:
        """I take the true outcomes of predictions already made (by their
        ``prediction_id``: a /predict answer's ``request_id``, or ``<request id>-<index>``
        for a record of a batch). I check them all before I apply any: a 422 names each
        unknown id, repeated id, label outside the classes or value of the wrong type."""
        body = await request.body()
        require_json(request)
        parsed = parse(FeedbackRequest, body)
        if log is None:  # switched off, as /metrics is: not a server error
            return error(404, f"feedback is off: {feedback_unavailable}")
        if feedback is None:
            return error(503, f"feedback is unavailable: {feedback_unavailable}")
        outcomes = parsed.outcomes
        if len(outcomes) > settings.max_batch_size:
            raise RequestValidationError([{
                "type": "too_long", "loc": ("body", "outcomes"), "input": None,
                "msg": f"at most MAX_BATCH_SIZE ({settings.max_batch_size}) outcomes"}])
        await asyncio.to_thread(log.flush)  # this worker's latest predictions, joinable
        wrong, where = await asyncio.to_thread(feedback.check, outcomes)
        if wrong:
            raise RequestValidationError([{**e, "input": None} for e in wrong])
        await asyncio.to_thread(feedback.apply, outcomes, where)
        return json_response(ENCODE({"accepted": len(outcomes),
                                     "request_id": current_request_id()}))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """I serve Swagger UI from assets shipped with the service: no internet needed."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{html.escape(settings.api_title)} - docs",
            swagger_js_url="/static/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui.css",
            swagger_favicon_url="/static/favicon.png",
        )

    # My own middleware stands in front of FastAPI's (see ServiceAPI), outermost first:
    # request id and access log around everything; CORS outside the API key check (a
    # browser's preflight carries no key); then body limit, auth and rate limit; then the
    # fast lane, which answers the hot routes itself (see fast_lane.py) and hands every
    # other request to FastAPI.
    record = getattr(schemas, "QueryFeatures", schemas.PredictionRequest)
    protocol = InferenceProtocol(spec, handle, record.model_json_schema(by_alias=True),
                                 batch_rows, fast.column_rows if fast is not None else None,
                                 scorer.logged, ModelFailure,
                                 settings.max_batch_size, (settings.api_title,
                                                           settings.api_version))
    app.include_router(documented_routes(spec))
    lane = {("POST", "/predict"): predict, ("POST", "/predict/batch"): predict_batch,
            **health.probes(handle), **protocol.routes()}
    front: Any = FastLane(functools.partial(FastAPI.__call__, app), routes=lane,
                          errors=HANDLERS)
    front = SecurityMiddleware(front, settings=settings, api_keys=api_keys)
    if settings.cors_enabled and settings.cors_origins:
        front = CORSMiddleware(
            front,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-Request-ID", "X-API-Key"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    known = frozenset(getattr(r, "path", "") for r in app.routes) - {"", "/static"} | \
        {path for _, path in protocol.routes()}
    app.front = RequestContextMiddleware(front, known_paths=known,
                                         headers=security_headers(settings))
    return app
