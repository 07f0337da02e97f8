"""I start the server: ``python -m api.serve``, the image's entrypoint (no shell needed).

I run uvicorn with ``WORKERS`` worker processes, which share ``/metrics`` through
prometheus_client's multiprocess mode. As PID 1 of the container I get SIGTERM myself:
the server stops accepting connections, lets in-flight requests finish for up to
``GRACEFUL_SHUTDOWN_SECONDS`` and exits 0 (``runtime_patches.py`` closes the gaps in that). With
``TLS_CERTFILE`` and ``TLS_KEYFILE`` I serve HTTPS myself.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import uvicorn

from . import patches, runtime_patches  # type: ignore[attr-defined]  (the copy in api/)
from .logs import configure_logging
from .settings import SERVICE_ROOT, get_settings
from .threads import one_thread_per_worker


def main() -> None:
    """I validate the settings (an invalid one stops me here, with its name), prepare the
    metrics folder, install the supervisor's patches and run uvicorn."""
    settings = get_settings()
    one_thread_per_worker()
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        # Stale files from a previous run would add old counts to the new ones.
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.makedirs(metrics_dir, exist_ok=True)
    elif settings.workers > 1:
        # Several workers share /metrics only through files: give them a folder (the
        # image sets one; outside it, a fresh temporary one).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metrics-")
    os.chdir(SERVICE_ROOT)
    sys.path.insert(0, str(SERVICE_ROOT))
    configure_logging(settings.log_level)
    patches.install(runtime_patches.PATCHES)
    uvicorn.run(
        "api.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,  # the API logs one JSON line per request itself
        server_header=False,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        ssl_certfile=settings.tls_certfile,
        ssl_keyfile=settings.tls_keyfile,
    )


if __name__ == "__main__":
    main()
