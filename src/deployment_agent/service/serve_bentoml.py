"""I start the server: ``python -m api.serve``, the image's entrypoint (no shell needed).

I run ``bentoml serve`` in this process, on this bento (or, in the generated folder, on
``service.py``), with the settings BentoML takes only as command-line options: TLS and
the graceful shutdown period. As PID 1 of the container I get SIGTERM myself: the server
stops accepting connections, lets in-flight requests finish for up to
``GRACEFUL_SHUTDOWN_SECONDS`` and exits 0 (``runtime_patches.py`` closes the gaps in that).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bentoml_cli.cli import cli

from . import patches, runtime_patches  # type: ignore[attr-defined]  (the copy in api/)
from .logs import configure_logging
from .settings import SERVICE_ROOT, get_settings
from .threads import one_thread_per_worker

SERVICE = "service:PredictionService"


def tls_options(certfile: Path | None, keyfile: Path | None) -> list[str]:
    """I return ``--ssl-certfile``/``--ssl-keyfile`` when TLS is configured."""
    if certfile is None or keyfile is None:
        return []
    return ["--ssl-certfile", str(certfile), "--ssl-keyfile", str(keyfile)]


def main() -> None:
    """I validate the settings (an invalid one stops me here, with its name), install the
    supervisor's patches and hand over to BentoML."""
    settings = get_settings()
    one_thread_per_worker()
    bento = SERVICE_ROOT.parent
    target = str(bento) if (bento / "bento.yaml").is_file() else SERVICE
    os.chdir(SERVICE_ROOT)
    configure_logging(settings.log_level)
    patches.install(runtime_patches.PATCHES)
    sys.exit(cli([
        "serve", target,
        "--host", settings.host,
        "--port", str(settings.port),
        "--timeout-graceful-shutdown", str(settings.graceful_shutdown_seconds),
        *tls_options(settings.tls_certfile, settings.tls_keyfile),
    ]))


if __name__ == "__main__":
    main()
