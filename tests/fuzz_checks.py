"""A schemathesis check of our own (loaded with SCHEMATHESIS_HOOKS=fuzz_checks).

Every refused request must say why: a 4xx carries our JSON error body with a non-empty
``message`` and the request id, or under ``/v2`` the Open Inference Protocol's
``{"error": ...}``.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def refusal_names_the_problem(ctx: Any, response: Any, case: Any) -> None:
    if not 400 <= response.status_code < 500:
        return
    body = response.json()
    named = isinstance(body, dict) and body.get("message") and body.get("request_id")
    if case.path.startswith("/v2"):  # the Open Inference Protocol's error body (or the
        # front door's: API keys, rate limit, body size)
        named = named or (isinstance(body, dict) and isinstance(body.get("error"), str)
                          and body["error"])
    if not named:
        raise AssertionError(f"{response.status_code} without a message: {response.text[:200]}")
