"""I am the BentoML service: I serve the FastAPI app of ``api/`` and BentoML's own endpoints.

BentoML gives me the process model (``WORKERS`` worker processes), graceful shutdown,
``bentoml build``/``containerize`` packaging and its probes ``/livez`` and ``/readyz``.
The seed's routes (``/predict``, ``/predict/batch``, ``/health``, ``/metrics``, ``/docs``)
come from the mounted FastAPI app. Beside them I expose the same model as BentoML API
methods, with the same strict schemas and the same model handle, so that BentoML's own
clients work (``bentoml.SyncHTTPClient(url).predict(**record)``):

- ``POST /bento/predict``: one record;
- ``POST /bento/predict_batch``: ``{"records": [...]}``, one model call;
- ``POST /bento/predict_adaptive``: ``{"records": [...]}`` through BentoML's adaptive
  batching, which merges the records of concurrent requests into one model call.

I switch BentoML's own metrics route off so that it does not shadow the API's, and its
access log off because the API logs one JSON line per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bentoml
from bentoml.exceptions import InternalServerError, ServiceUnavailable

from api import schemas
from api.app import ModelFailure
from api.main import app
from api.model_loader import ModelNotReadyError
from api.settings import SERVICE_NAME, get_settings

settings = get_settings()
handle = app.state.model
scoring = app.state.scoring
MODEL_VERSION = handle.spec.version


def scored(rows: list[tuple[object, ...]], endpoint: str) -> Sequence[dict[str, Any]]:
    """I score rows like the FastAPI routes do, and map failures to BentoML's errors: 503
    while the model is not ready, 500 (without internals) when it fails."""
    try:
        return scoring.logged(rows, endpoint)
    except ModelNotReadyError as exc:
        raise ServiceUnavailable(f"model not ready: {exc}") from None
    except ModelFailure:
        raise InternalServerError("the model failed to score this input; the error is "
                                  "logged") from None


class ReadyWhenTheModelIs:
    """I mount the API at ``/``; my readiness is the model's.

    A recommender's queries (features or an item id, k, exclusions) are served by the
    API's /predict and /predict/batch only: BentoML's endpoints take flat records.
    """

    def __is_ready__(self) -> bool:
        """I make BentoML's /readyz agree with /health/ready: ready once the model is."""
        return bool(handle.ready)


class WithBentoEndpoints(ReadyWhenTheModelIs):
    """I add BentoML's endpoints to the API, for a model that scores flat records."""

    @bentoml.api(route="/bento/predict", input_spec=schemas.BentoRecord)
    async def predict(self, **record: object) -> dict[str, Any]:
        """I score one record (validated by BentoML against the strict request model)."""
        row = tuple(record[name] for name in schemas.FIELDS)
        return {**scored([row], "/bento/predict")[0], "model_version": MODEL_VERSION}

    @bentoml.api(route="/bento/predict_batch", input_spec=schemas.BentoBatch)
    async def predict_batch(self, records: list[schemas.BentoRecord]) -> dict[str, Any]:
        """I score up to MAX_BATCH_SIZE records in one model call, in request order."""
        results = list(scored([record.row() for record in records], "/bento/predict_batch"))
        return {"predictions": results, "count": len(results),
                "model_version": MODEL_VERSION}

    @bentoml.api(route="/bento/predict_adaptive", batchable=True,
                 max_batch_size=settings.max_batch_size, max_latency_ms=1000)
    async def predict_adaptive(self, records: list[schemas.BentoRecord]) -> list[dict[str, Any]]:
        """I score the records of every request BentoML's dispatcher merged into this
        call: one model call for many concurrent clients."""
        return list(scored([record.row() for record in records], "/bento/predict_adaptive"))


class ProtocolPaths:
    """I hand the API every request of the Open Inference Protocol (``/v2``), and any
    whose path holds a line break. BentoML mounts the API passively: it forwards a request
    only when one of the API's declared routes matches, and its mount's pattern (``.*``)
    stops at a line break. A model named with a ``/`` (``/v2/models/a%2Fb``, answered by
    the fast lane) or a path with a newline got BentoML's plain-text 404; the API answers
    both itself. BentoML has no route of its own under ``/v2``."""

    def __init__(self, inner: Any) -> None:
        """I wrap BentoML's ASGI app."""
        self.inner = inner

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """I route the protocol's requests, and those with a line break, to the API."""
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == "/v2" or path.startswith("/v2/") or
                                        "\n" in path or "\r" in path):
            await app(scope, receive, send)
        else:
            await self.inner(scope, receive, send)


# A recommender's requests are not flat records: it gets no BentoML endpoints.
SERVED = ReadyWhenTheModelIs if handle.spec.task == "recommendation" else WithBentoEndpoints
PredictionService = bentoml.service(
    name=SERVICE_NAME,
    workers=settings.workers,
    traffic={"timeout": 60},
    metrics={"enabled": False},
    logging={"access": {"enabled": False}},
    # No trace exporter is configured, so BentoML's OpenTelemetry middleware built a span
    # for every request and dropped it: about 10% of a /predict request, measured. I
    # exclude every URL from it; the request id (X-Request-ID, in every log line) is what
    # ties a request to its logs.
    tracing={"excluded_urls": ["."]},
    http={"port": settings.port},
)(bentoml.asgi_app(app, path="/")(SERVED))
PredictionService.add_asgi_middleware(ProtocolPaths)
