"""I am the service's front door: body size limit, API keys, rate limits, security headers.

Each is off or permissive by default except the body limit and the headers:

- ``MAX_BODY_BYTES`` (see ``settings.py``): a larger body is a 413, refused
  before it is read into memory.
- ``API_KEYS_FILE``: when set, ``/predict``, ``/predict/batch`` and ``/metrics`` need an
  ``X-API-Key`` header holding one of the keys: none is a 401, a wrong one a 403. The file
  holds one key per line (``#`` comments allowed); a directory (a Kubernetes secret
  volume) holds one key per file. Keys are read from there at start-up, never from the
  environment or the image. Health, docs and the OpenAPI document stay open so that
  orchestrators and humans can reach them.
- ``RATE_LIMIT`` (e.g. ``100/second``, ``6000/minute``): requests allowed per client, the
  client being its API key when it sent a valid one, else its IP address. Over the
  limit is a 429 with ``Retry-After``. With the default in-memory storage the count is
  per worker process; ``RATE_LIMIT_STORAGE=redis://host:6379`` shares it.
- Security headers (:func:`security_headers`) on every reply, refusals included: the
  request middleware adds them in the same step as the request id, so that a reply
  passes through one wrapper of ``send``, not two.

I am plain ASGI for the same reason as ``middleware.py``: no per-request task.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import JSON, error_body

# Reachable without a key: probes, and the self-description of the API.
OPEN_PATHS = frozenset({"/health", "/health/ready", "/v2/health/live", "/v2/health/ready",
                        "/docs", "/openapi.json"})
# Never rate limited: an orchestrator's probes must not be throttled into a restart.
UNLIMITED_PATHS = frozenset({"/health", "/health/ready", "/v2/health/live",
                             "/v2/health/ready"})
API_KEY_HEADER = b"x-api-key"

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
# JSON responses load nothing; the Swagger page loads its own local assets and an inline
# bootstrap script.
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (b"default-src 'self'; script-src 'self' 'unsafe-inline'; "
            b"style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")

# (status, message, extra headers) of a request refused before it reaches the app.
Refusal = tuple[int, str, list[tuple[bytes, bytes]]]


class ApiKeyError(RuntimeError):
    """I am raised when API_KEYS_FILE is set but yields no usable key: the service then
    refuses to start rather than run open or lock every client out."""


def load_api_keys(path: Path) -> frozenset[bytes]:
    """I read the keys in ``path`` (a file of lines, or a directory of files) and keep only
    their sha256 digests.

    I compare requests digest to digest in constant time, so neither a key's length nor
    its prefix leaks through timing.
    """
    if path.is_dir():
        texts = [p.read_text() for p in sorted(path.iterdir())
                 if p.is_file() and not p.name.startswith(".")]
    elif path.is_file():
        texts = path.read_text().splitlines()
    else:
        raise ApiKeyError(f"API_KEYS_FILE={path} does not exist: mount the secret or unset it")
    keys = [t.strip() for t in texts if t.strip() and not t.strip().startswith("#")]
    if not keys:
        raise ApiKeyError(f"API_KEYS_FILE={path} holds no key: authentication would lock "
                          "every client out")
    return frozenset(hashlib.sha256(k.encode()).digest() for k in keys)


async def send_error(send: Send, status: int, message: str,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """I send the API's error body from below the FastAPI app."""
    body = error_body(message)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", JSON),
                    (b"content-length", str(len(body)).encode()), *(headers or [])],
    })
    await send({"type": "http.response.body", "body": body})


def security_headers(settings: Any) -> Callable[[str], list[tuple[bytes, bytes]]]:
    """I return the security headers of a response to a path, built once: the API's for
    every path, the docs page's (which loads its own local assets) for ``/docs``. The
    request middleware adds them to every reply, refusals included (``middleware.py``)."""
    common = [*SECURITY_HEADERS, *([HSTS] if settings.tls_certfile else [])]
    api = [*common, (b"content-security-policy", API_CSP)]
    docs = [*common, (b"content-security-policy", DOCS_CSP)]
    return lambda path: docs if path == "/docs" else api


class SecurityMiddleware:
    """I check the body size, the API key and the rate limit, then call the app."""

    def __init__(self, app: ASGIApp, settings: Any,
                 api_keys: frozenset[bytes] | None) -> None:
        """I read my limits and keys once."""
        self.app = app
        self.max_body = settings.max_body_bytes
        self.keys = api_keys  # None: no authentication
        self.limit: RateLimitItem | None = None
        self.limiter: MovingWindowRateLimiter | None = None
        if settings.rate_limit:
            self.limit = parse(settings.rate_limit)
            self.limiter = MovingWindowRateLimiter(
                storage_from_string(settings.rate_limit_storage))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """I refuse what must be refused before the app reads a byte of the body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = dict(scope["headers"])
        refusal = self.refusal(scope["path"], request_headers, scope.get("client"))
        if refusal is not None:
            await send_error(send, *refusal)
            return
        length = request_headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await send_error(send, 413, self.too_large())
            return
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            # A chunked body has no declared length: read it, up to the limit, first.
            body = await self.read_limited(receive)
            if body is None:
                await send_error(send, 413, self.too_large())
                return
            receive = replay(body, receive)
        await self.app(scope, receive, send)

    def too_large(self) -> str:
        """I say what to do about a body over the limit."""
        return (f"request body larger than {self.max_body} bytes (MAX_BODY_BYTES); "
                "split a batch into smaller ones")

    def refusal(self, path: str, headers: dict[bytes, bytes],
                client: tuple[str, int] | None) -> Refusal | None:
        """I return why authentication or the rate limit refuses this request, or None.

        I count a request against the limit before judging its key, so that guessing keys
        is rate limited too."""
        identity = f"ip:{client[0] if client else '-'}"
        auth_error: Refusal | None = None
        if self.keys is not None and path not in OPEN_PATHS and not path.startswith("/static/"):
            presented = headers.get(API_KEY_HEADER)
            if not presented:
                auth_error = (401, "missing X-API-Key header", [])
            else:
                digest = hashlib.sha256(presented).digest()
                if any(hmac.compare_digest(digest, key) for key in self.keys):
                    identity = f"key:{digest.hex()[:16]}"
                else:
                    auth_error = (403, "invalid API key", [])
        # Counted before the auth verdict, so guessing keys is rate limited too.
        if self.limiter is not None and self.limit is not None and \
                path not in UNLIMITED_PATHS and not self.limiter.hit(self.limit, identity):
            reset = self.limiter.get_window_stats(self.limit, identity).reset_time
            retry_after = max(1, math.ceil(reset - time.time()))
            return (429, f"rate limit of {self.limit} exceeded; retry in {retry_after} s",
                    [(b"retry-after", str(retry_after).encode())])
        return auth_error

    async def read_limited(self, receive: Receive) -> bytes | None:
        """I read a chunked body up to the limit: the whole body, or None as soon as it
        exceeds the limit (the rest is never read into memory)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """I hand the body I already read to the app, then defer to the server's ``receive``."""
    sent = False

    async def replayed() -> Message:
        """I return the body first, then whatever the server sends next."""
        nonlocal sent
        if sent:
            return await receive()  # e.g. http.disconnect, when the client goes away
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def document_api_key(openapi: dict[str, Any]) -> dict[str, Any]:
    """I declare the X-API-Key scheme in the OpenAPI document, on the protected operations."""
    schemes = openapi.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["ApiKey"] = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    for path, operations in openapi.get("paths", {}).items():
        if path in OPEN_PATHS:
            continue
        for operation in operations.values():
            operation["security"] = [{"ApiKey": []}]
            operation.setdefault("responses", {}).update({
                "401": {"description": "Missing X-API-Key header"},
                "403": {"description": "Invalid API key"},
            })
    return openapi
