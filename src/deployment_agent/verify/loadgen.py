"""Closed-loop HTTP load with wrk: a C load generator in its own process.

wrk rather than a Python client: on this 2-core machine the client shares the CPU with
the server, and wrk spends far less of it per request than any Python client, so the
figures measure the server. ``-c`` connections each keep exactly one request in flight
(closed loop), so ``-c`` is the concurrency.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * UNITS[unit]


def parse(output: str) -> dict[str, float]:
    """Requests/s, p50/p90/p99 latency (ms) and error counts from ``wrk --latency``."""
    result: dict[str, float] = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore
        "requests": float(re.search(r"(\d+) requests in", output).group(1)),  # type: ignore
    }
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", output, flags=re.MULTILINE)
        result[f"p{pct}_ms"] = _ms(match.group(1)) if match else float("nan")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    result["errors"] = float(non_2xx.group(1)) if non_2xx else 0.0
    result["socket_errors"] = float(sum(map(int, errors.groups()))) if errors else 0.0
    return result


def run(url: str, concurrency: int, seconds: float, body: Any | None = None) -> dict[str, float]:
    """Load ``url`` (POST ``body`` as JSON, or GET without one) for ``seconds``."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            "wrk",
            f"-t{min(concurrency, 2)}",
            f"-c{concurrency}",
            f"-d{round(seconds)}s",
            "--latency",
            "--timeout",
            "10s",
        ]
        if body is not None:
            body_file = Path(scratch) / "body.json"
            body_file.write_text(json.dumps(body))
            script = Path(scratch) / "post.lua"
            script.write_text(LUA.format(body=body_file))
            command += ["-s", str(script)]
        output = subprocess.run(
            [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60
        ).stdout
    return parse(output)


def start(url: str, concurrency: int, seconds: float) -> subprocess.Popen[str]:
    """A GET load in the background (e.g. /health while /predict is loaded)."""
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{round(seconds)}s", "--latency", url],
        stdout=subprocess.PIPE,
        text=True,
    )
