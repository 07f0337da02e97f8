"""A py-spy profile of one of our workers under /predict load: where the time goes."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from deployment_agent.verify import loadgen
from deployment_agent.verify.server import ServiceProcess

# Layers whose inclusive share is reported.
LAYERS = ("api/main.py", "api/scoring.py", "api/middleware.py", "api/security.py",
          "onnxruntime", "sklearn/", "pydantic", "opentelemetry", "_bentoml_impl/server/app",
          "fastapi/routing.py", "httptools_impl", "starlette/", "orjson")


def profile(service_root: Path, store: Path, body: dict[str, Any], seconds: int
            ) -> dict[str, Any]:
    """py-spy samples of the single worker of ``service_root`` under load at c=8: frames by
    inclusive share of the worker's busy (non-idle) samples, and by self share."""
    if shutil.which("py-spy") is None:
        return {}
    server = ServiceProcess.entrypoint(service_root, store, {"WORKERS": "1",
                                                             "LOG_LEVEL": "warning"})
    with server, tempfile.TemporaryDirectory() as scratch:
        server.wait_for("/health/ready", timeout=120)
        worker = subprocess.run(["pgrep", "-f", "-n", "_bentoml_impl.worker.service"],
                                capture_output=True, text=True).stdout.split()[0]
        background = threading.Thread(target=loadgen.run, args=(
            server.base_url + "/predict", 8, seconds + 2, body))
        background.start()
        time.sleep(1)
        raw = Path(scratch) / "profile.txt"
        subprocess.run(["py-spy", "record", "--pid", worker, "--duration", str(seconds),
                        "--format", "raw", "--output", str(raw), "--nonblocking"],
                       capture_output=True)
        background.join()
        inclusive: dict[str, int] = {}
        own: dict[str, int] = {}
        total = 0
        for line in raw.read_text().splitlines():
            stack, count = line.rsplit(" ", 1)  # py-spy leaves idle samples out
            frames = stack.split(";")
            total += int(count)
            own[frames[-1]] = own.get(frames[-1], 0) + int(count)
            for frame in set(frames):
                inclusive[frame] = inclusive.get(frame, 0) + int(count)
    return {
        "layers": sorted(((f, n / total * 100) for f, n in inclusive.items()
                          if any(k in f for k in LAYERS)), key=lambda x: -x[1])[:14],
        "self": sorted(((f, n / total * 100) for f, n in own.items()),
                       key=lambda x: -x[1])[:12],
    }
