"""I answer the orchestrator's questions: is the process alive, is it ready for traffic?

``/health`` is liveness: I answer 200 while the process can serve HTTP and never touch the
model, so a slow or failed model load does not get the container killed and restarted in
a loop. ``/health/ready`` is readiness: I answer 503 with the reason until the model is
loaded and its self-check passed, so no traffic is routed here before then.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from .model_loader import ModelHandle

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    """I am the liveness answer: the process is up."""

    status: str


class Readiness(BaseModel):
    """I am the readiness answer: which model is loaded, and how long loading took."""

    model_config = ConfigDict(protected_namespaces=())

    status: str
    model_name: str
    model_version: str
    load_seconds: float
    loaded_at: str


class NotReady(BaseModel):
    """I am the 503 answer while the model is not ready, with the reason to act on."""

    status: str
    reason: str


ALIVE = msgspec.json.encode({"status": "alive"})


def readiness_answer(handle: ModelHandle) -> tuple[int, dict[str, object]]:
    """I return readiness's status code and body: 200 with the model's name, version and
    load time once it is ready, else 503 with the loader's last error."""
    if not handle.ready:
        return 503, {"status": "not ready", "reason": handle.error or "loading"}
    loaded_at = datetime.fromtimestamp(handle.loaded_at or 0, UTC)
    return 200, {
        "status": "ready",
        "model_name": handle.spec.name,
        "model_version": handle.spec.version,
        "load_seconds": round(handle.load_seconds or 0.0, 6),
        "loaded_at": loaded_at.isoformat().replace("+00:00", "Z"),
    }


def probes(handle: ModelHandle) -> dict[tuple[str, str], Any]:
    """I return the probes' handlers for the fast lane (``fast_lane.py``), which answers
    them without FastAPI's routing: the routes below only document them."""

    async def live(request: Request) -> Response:
        """I answer liveness from bytes made once."""
        return Response(ALIVE, media_type="application/json")

    async def ready(request: Request) -> Response:
        """I answer readiness; 503 carries ``Retry-After``."""
        status, body = readiness_answer(handle)
        return Response(msgspec.json.encode(body), status_code=status,
                        media_type="application/json",
                        headers={"Retry-After": "5"} if status != 200 else None)

    return {("GET", "/health"): live, ("GET", "/health/ready"): ready}


@router.get("/health", response_model=Liveness, summary="Liveness")
async def liveness() -> dict[str, str]:
    """I answer 200 while the process runs; I am cheap and never touch the model."""
    return {"status": "alive"}


@router.get(
    "/health/ready",
    response_model=Readiness,
    summary="Readiness",
    responses={503: {"model": NotReady, "description": "Model not loaded (yet); see reason"}},
)
async def readiness(request: Request) -> dict[str, object] | JSONResponse:
    """I answer 200 with the model's name, version and load time once it is ready, else
    503 with the loader's last error and ``Retry-After``."""
    status, body = readiness_answer(request.app.state.model)
    if status != 200:
        return JSONResponse(body, status_code=status, headers={"Retry-After": "5"})
    return body
