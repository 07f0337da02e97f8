"""Content hashes: every input and output of the build is identified by its sha256."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .service.digest import sha256_of as sha256_file

__all__ = ["canonical_json", "sha256_file", "sha256_text"]


def sha256_text(text: str) -> str:
    """Hex sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_json(data: Any) -> str:
    """Deterministic JSON (insertion order, two-space indent, trailing newline)."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
