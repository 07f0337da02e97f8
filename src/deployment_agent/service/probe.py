"""I am the image's HEALTHCHECK: ``python -m api.probe`` exits 0 when ``/health`` answers 200.

I speak HTTPS when ``TLS_CERTFILE`` is set, and plain HTTP otherwise. I only ever talk to
127.0.0.1, so I skip certificate verification: the certificate names the public host,
not loopback. I use the standard library only, so that I start fast and work in the
smallest image.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request


def main() -> int:
    """I return 0 if the liveness endpoint answers 200 within 2 seconds, else 1 (and I say
    why on stderr, which Docker keeps in the container's health log)."""
    port = os.environ.get("PORT", "8000")  # the image always sets PORT
    tls = bool(os.environ.get("TLS_CERTFILE"))
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/health"
    context = ssl._create_unverified_context() if tls else None  # noqa: S323  (loopback only)
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"health probe failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
