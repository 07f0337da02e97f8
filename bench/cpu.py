"""Server CPU per request: the CPU seconds a server's processes spend while wrk loads it.

Requests/s on a 2-core machine shared with the load generator mix two things: what a
request costs the server, and how much of the machine the server got. CPU time per
request separates them, so a ratio target that is missed can be explained by where the
cost is (the HTTP stack, the middleware, the model), not by guesses.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psutil


def _listening(connection: Any, port: int) -> bool:
    """Whether ``connection`` (one of psutil's) is a listening socket on ``port``."""
    return connection.status == psutil.CONN_LISTEN and connection.laddr.port == port


def _listens(process: psutil.Process, port: int) -> bool:
    with contextlib.suppress(psutil.Error):
        return any(_listening(c, port) for c in process.net_connections(kind="tcp"))
    return False


def server_processes(base_url: str) -> list[psutil.Process]:
    """The processes of the server listening on ``base_url``'s port: the topmost process
    that holds the listening socket (the supervisor: its workers inherit the socket) and
    everything under it. Empty when the listener is Docker's port proxy, whose
    container's processes are not its children."""
    port = urlsplit(base_url).port or 0
    # psutil names one holder per socket; I climb to the topmost.
    holder = next((c.pid for c in psutil.net_connections(kind="tcp")
                   if _listening(c, port) and c.pid is not None), None)
    if holder is None:
        return []
    top = psutil.Process(holder)
    while (parent := top.parent()) is not None and _listens(parent, port):
        top = parent
    if top.name() == "docker-proxy":
        return []
    return [top, *top.children(recursive=True)]


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


@contextlib.contextmanager
def metered(base_url: str) -> Iterator[dict[str, float]]:
    """Yields a dict that holds, once the block ends, the server's CPU seconds spent in it
    (``cpu_s``) and the block's wall time (``wall_s``), or nothing when the server's
    processes cannot be seen."""
    processes = server_processes(base_url)
    spent: dict[str, float] = {}
    before, started = _cpu_seconds(processes), time.perf_counter()
    yield spent
    if processes:
        spent["cpu_s"] = _cpu_seconds(processes) - before
        spent["wall_s"] = time.perf_counter() - started


def per_unit(result: dict[str, float], spent: dict[str, float], units: float) -> None:
    """Adds ``server_cpu_us`` (CPU microseconds per request, or per record when ``units``
    is a batch's size) and ``server_cores`` to a wrk result."""
    if "cpu_s" in spent and result["requests"]:
        result["server_cpu_us"] = spent["cpu_s"] / (result["requests"] * units) * 1e6
        result["server_cores"] = spent["cpu_s"] / spent["wall_s"]
