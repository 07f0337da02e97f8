"""I give every request an id, time it, count it, and log one line for it.

I am plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware
adds a task and a memory stream per request, which costs more than scoring a small model.
"""

from __future__ import annotations

import functools
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import ACCESS_LOG, request_id_var
from .metrics import LATENCY, REQUESTS

# I reuse a client's X-Request-ID only if it is short and plain (no log injection).
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestContextMiddleware:
    """I assign the request id, time the request, count it and log it."""

    def __init__(self, app: ASGIApp, known_paths: frozenset[str]) -> None:
        """I wrap ``app``; requests to ``known_paths`` are counted under their own path,
        any other under "other" (a bounded label set, so that a scan of random URLs cannot
        blow up the metrics' cardinality)."""
        self.app = app
        self.known_paths = known_paths
        self.access = ACCESS_LOG
        # Each label set's counter child, resolved once: a labels() lookup per request
        # costs more than the increment (the label sets are bounded, see above).
        self.requests = functools.lru_cache(maxsize=256)(
            lambda endpoint, method, status: REQUESTS.labels(endpoint, method, str(status)))
        self.latency = functools.lru_cache(maxsize=256)(LATENCY.labels)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """I wrap one request; whatever happens inside, it is counted and logged once."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if SAFE_REQUEST_ID.fullmatch(sent) else secrets.token_hex(16)
        token = request_id_var.set(request_id)
        status = 500  # what the client gets if the app fails before responding
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            """I note the status and add the X-Request-ID header to the response."""
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            path = scope["path"]
            endpoint = path if path in self.known_paths else "other"
            self.requests(endpoint, scope["method"], status).inc()
            self.latency(endpoint).observe(elapsed)
            if self.access.enabled():
                self.access.write(scope["method"], path, status, round(elapsed * 1000, 3))
            request_id_var.reset(token)
