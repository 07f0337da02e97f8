"""I build the one error body of this API, ``{"message", "request_id", "detail"}``, and keep
validation messages short.

Every refusal uses me, whether it comes from the FastAPI app (422, 503, 500) or from the
front door below it (401, 403, 413, 429), so clients parse one shape and can quote the
request id to the operator, who finds the matching log line.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .logs import current_request_id

JSON = b"application/json"


def error_body(message: str, detail: list[Any] | None = None) -> bytes:
    """I serialise an error for the request being handled (its id comes from the logs'
    context variable, set by the request middleware)."""
    return msgspec.json.encode({"message": message, "request_id": current_request_id(),
                                "detail": detail}, enc_hook=str)


def short(error: dict[str, Any]) -> str:
    """I keep an error's message short: a value outside a long list of allowed ones (a
    catalogue's item ids, a large enum) is named, not the whole list."""
    message = str(error["msg"])
    if error["type"] == "literal_error" and len(message) > 200:
        return f"{error.get('input')!r} is not one of the allowed values (see /docs)"
    return message
