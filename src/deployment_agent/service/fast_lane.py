"""I answer the service's hot routes without FastAPI's per-request machinery.

A profile of ``/predict`` under load (``doit bench``) put most of a request's time in the
layers between the server and the handler: exception middleware, an exit stack, the
router, the route's dependency solver, the response model. The hot routes need none of
them: their handlers read the body themselves and return ready JSON bytes. So I sit just
inside the service's own middleware (request id, access log, metrics, CORS, body limit, API
keys, rate limit: all still apply) and dispatch ``POST /predict``, ``POST /predict/batch``,
``GET /health`` and ``GET /health/ready`` to their handlers directly, by one dict lookup.

Every other request goes on to FastAPI, which also still documents my routes in
``/openapi.json``. An exception a handler raises is answered by the same exception
handlers FastAPI would have used, so the error bodies are the same; any other exception
goes on up to the server's error middleware (a 500), as it did before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Any], Awaitable[Response]]


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
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except Exception as exc:
            on_error = self.error_handler(exc)
            if on_error is None:
                raise
            response = await on_error(request, exc)
        await response(scope, receive, send)

    def error_handler(self, exc: Exception) -> ErrorHandler | None:
        """I return the handler of ``exc``'s class or of its nearest base, if any."""
        for cls in type(exc).__mro__:
            if cls in self.errors:
                return self.errors[cls]
        return None
