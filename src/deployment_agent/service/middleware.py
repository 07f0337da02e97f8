"""I give every request an id, time it, count it, and log one line for it.

I am plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware
adds a task and a memory stream per request, which costs more than scoring a small model.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import ACCESS_LOG, request_id_var
from .metrics import LATENCY, REQUESTS

# I reuse a client's X-Request-ID only if it is short and plain (no log injection).
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIds:
    """I make request ids: 32 hex digits, a random prefix drawn once per process (again in
    a forked child) and a counter. They are unique without asking the kernel for random
    bytes on every request, which cost more than the rest of the id, measured; an id is a
    correlation key, not a secret."""

    def __init__(self) -> None:
        """I draw my prefix, and draw it again in any child forked from my process."""
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        """I draw a new random prefix and restart my counter."""
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def new(self) -> str:
        """I return the next id."""
        return f"{self.prefix}{next(self.counter):016x}"


class RequestContextMiddleware:
    """I assign the request id, time the request, count it and log it; every reply leaves
    through me with its ``X-Request-ID`` and its security headers."""

    def __init__(self, app: ASGIApp, known_paths: frozenset[str],
                 headers: Callable[[str], list[tuple[bytes, bytes]]]) -> None:
        """I wrap ``app``; requests to ``known_paths`` are counted under their own path,
        any other under "other" (a bounded label set, so that a scan of random URLs cannot
        blow up the metrics' cardinality). ``headers`` gives the security headers of a
        reply to a path (``security.py``): I add them in the same step as the request id,
        one wrapper of ``send`` for both."""
        self.app = app
        self.known_paths = known_paths
        self.headers = headers
        self.ids = RequestIds()
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
        request_id = sent if SAFE_REQUEST_ID.fullmatch(sent) else self.ids.new()
        token = request_id_var.set(request_id)
        status = 500  # what the client gets if the app fails before responding
        started = time.perf_counter()
        path = scope["path"]

        async def send_with_id(message: Message) -> None:
            """I note the status and add the security and X-Request-ID headers."""
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *self.headers(path),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            endpoint = path if path in self.known_paths else "other"
            self.requests(endpoint, scope["method"], status).inc()
            self.latency(endpoint).observe(elapsed)
            if self.access.enabled():
                self.access.write(scope["method"], path, status, round(elapsed * 1000, 3))
            request_id_var.reset(token)
