"""Content hashes: every input and output of the build is identified by its sha256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks so large models stay cheap."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    """Hex sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_json(data: Any) -> str:
    """Deterministic JSON (insertion order, two-space indent, trailing newline)."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
