"""Check that a generated runbook is complete: every section present, non-empty, specific."""

from __future__ import annotations

import json
import re
from typing import Any

REQUIRED_SECTIONS: tuple[str, ...] = (
    "Service overview",
    "Starting the service",
    "Health checks",
    "Key metrics and thresholds",
    "Troubleshooting",
    "Rollback",
    "Contacts and references",
    "Security",
)


def sections(text: str) -> dict[str, str]:
    """``## N. Title`` headings -> the text under them (up to the next ``## ``)."""
    parts = re.split(r"^## (?:\d+\.\s*)?(.+)$", text, flags=re.MULTILINE)
    return {title.strip(): body.strip() for title, body in zip(parts[1::2], parts[2::2],
                                                                strict=True)}


def runbook_problems(text: str, context: dict[str, Any]) -> list[str]:
    """What is missing from the runbook; empty when it is complete."""
    found = sections(text)
    problems = [f"section '{s}' is missing" for s in REQUIRED_SECTIONS if s not in found]
    problems += [f"section '{s}' is empty" for s in REQUIRED_SECTIONS if s in found
                 and not found[s]]
    specifics = {
        "the image tag": context["image"]["ref"],
        "the model version": context["model"]["version"],
        "the example request": json.dumps(context["example_input"], ensure_ascii=False),
        **{f"feature {f['name']!r}": f"`{f['name']}`" for f in context["features"]},
    }
    problems += [f"{what} is not mentioned" for what, needle in specifics.items()
                 if needle not in text]
    return problems
