"""I answer the service's hot routes without FastAPI's per-request machinery.

A profile of ``/predict`` under load (``doit bench``) put most of a request's time in the
layers between the server and the handler: FastAPI's own outer middleware (server errors,
telemetry, body limit), the exception middleware, an exit stack, the router, the route's
dependency solver, the response model, and Starlette's request stream and response call.
The hot routes need none of them: their handlers read the body themselves and return ready
JSON bytes. So I sit just inside the service's own middleware (request id, access log,
metrics, CORS, body limit, API keys, rate limit: all still apply), in front of FastAPI
(``app.py``), and dispatch ``POST /predict``, ``POST /predict/batch``, the probes and the
Open Inference Protocol's routes to their handlers directly, by one dict lookup. I read the
body myself, in one piece, and send the handler's response as two ASGI messages.

Every other request goes on to FastAPI, which also still documents my routes in
``/openapi.json``. An exception a handler raises is answered by the same exception
handlers FastAPI would have used, so the error bodies are the same; any other exception is
logged with its traceback and answered with the API's 500 body, safe for the client.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_body

Handler = Callable[[Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Any], Awaitable[Response]]

logger = logging.getLogger("service.api")
# What a client is told of a failure no handler knows: no internals, the log has them.
UNEXPECTED = "internal error; the traceback is logged with this request id"


class LaneRequest(Request):
    """I am a request whose body the fast lane has already read: ``await body()`` returns
    it at once, with no stream to drain."""

    def __init__(self, scope: Scope, receive: Receive, payload: bytes) -> None:
        """I keep the body read by the lane."""
        super().__init__(scope, receive)
        self.payload = payload

    async def body(self) -> bytes:
        """I return the body, read once by the lane."""
        return self.payload


async def read_body(receive: Receive) -> bytes:
    """I read a request's whole body from the server: usually one message."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


class FastLane:
    """I route (method, path) pairs to handlers; everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Handler],
                 errors: Mapping[type[Exception], ErrorHandler]) -> None:
        """I keep the app behind me, my routes and the exception handlers."""
        self.app = app
        self.routes = dict(routes)
        self.errors = dict(errors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """I answer one of my routes, or pass the request on."""
        handler = self.routes.get((scope.get("method", ""), scope.get("path", ""))) \
            if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        request = LaneRequest(scope, receive, await read_body(receive))
        try:
            response = await handler(request)
        except Exception as exc:
            on_error = self.error_handler(exc)
            if on_error is None:
                logger.exception("unexpected failure on %s %s", scope["method"],
                                 scope["path"])
                response = Response(error_body(UNEXPECTED), status_code=500,
                                    media_type="application/json")
            else:
                response = await on_error(request, exc)
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})

    def error_handler(self, exc: Exception) -> ErrorHandler | None:
        """I return the handler of ``exc``'s class or of its nearest base, if any."""
        for cls in type(exc).__mro__:
            if cls in self.errors:
                return self.errors[cls]
        return None
