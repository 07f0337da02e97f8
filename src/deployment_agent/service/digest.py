"""I hash files: every model, catalogue and build input is identified by its sha256.

I use the standard library only, and read in 1 MiB chunks, so that hashing a large model
costs no large buffer. The deployment agent hashes with me too, so that the build and the
service agree on what a file's hash is.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(path: Path) -> str:
    """I return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
