"""The fast lane answers its routes itself, with the app's exception handlers, and passes
everything else on; a failure no handler knows is the server's 500, as before."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import Response

from deployment_agent.service.fast_lane import FastLane


class Refused(Exception):
    """A failure the app has a handler for."""


async def ok(request: Request) -> Response:
    return Response(b'{"lane": true}', media_type="application/json")


async def refused(request: Request) -> Response:
    raise Refused("no")


async def broken(request: Request) -> Response:
    raise RuntimeError("a bug")


async def on_refused(request: Request, exc: Refused) -> Response:
    return Response(b'{"message": "refused"}', status_code=422, media_type="application/json")


def app() -> FastAPI:
    api = FastAPI()

    @api.get("/fast")
    async def documented() -> dict[str, bool]:
        return {"lane": False}

    @api.get("/slow")
    async def slow() -> dict[str, bool]:
        return {"lane": False}

    api.add_middleware(FastLane, routes={("GET", "/fast"): ok, ("GET", "/refused"): refused,
                                         ("GET", "/broken"): broken},
                       errors={Refused: on_refused})
    return api


def test_the_lane_answers_its_routes_and_passes_the_rest_on() -> None:
    with TestClient(app(), raise_server_exceptions=False) as client:
        assert client.get("/fast").json() == {"lane": True}
        assert client.get("/slow").json() == {"lane": False}
        assert client.post("/fast").status_code == 405  # not a lane route: FastAPI's answer
        assert "/fast" in client.get("/openapi.json").json()["paths"]
        refusal = client.get("/refused")
        assert (refusal.status_code, refusal.json()) == (422, {"message": "refused"})
        assert client.get("/broken").status_code == 500
