"""I hold what every patch of a pinned library's internals shares, and install them.

The patches themselves are the serving runtime's (``runtime_patches.py``: a copy of
``patches_bentoml.py`` or ``patches_uvicorn.py``). Each fixes a measured fault of the
version it names, and records the
sha256 of the source it replaces or wraps: the deployment agent's tests compare it with
the installed library's, so an upgrade that changes the patched code fails a test
instead of silently breaking the fix. :func:`install` is idempotent, and is called by the
entrypoint (the supervisor process) and by each worker's start-up (the app's lifespan).

Dead workers. A worker that dies (SIGKILL, or the kernel's OOM killer) must be replaced
within seconds, and the death must be visible: I log it with its signal or exit code and
count it in a file of the metrics folder, which ``/metrics`` serves as
``worker_restarts_total{reason}``.
BentoML (circus) and uvicorn each have their own supervisor; ``runtime_patches.py`` says
what each one lacked.

The drain. The servers' own shutdown lost requests under load. Measured with 16 clients
opening a connection per request and SIGTERM mid-load: 16 requests reset per shutdown,
then 1-4 after the first fix below, 0 with both:

1. The supervisor (the serving runtime's process manager) shares the listening socket
   with its workers and keeps its copy open until they exit: the kernel goes on
   completing connections into a queue nobody reads, and resets them at exit. I make it
   close its copy first.
2. A stopping worker closed its listener with connections still in the kernel's accept
   queue (reset), and closed connections it had accepted but not yet read (reset). I make
   the listener drop new connection attempts where the kernel allows it (a
   one-instruction socket filter: the client's SYN goes unanswered, its retry finds the
   port closed, i.e. refused), accept and serve what is already queued, wait
   ``SETTLE_SECONDS`` for request bytes in transit, and only then run uvicorn's own
   shutdown, which waits for every request in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import signal
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import uvicorn

# Long enough for a request already sent on an accepted connection to be read.
SETTLE_SECONDS = 0.5
SO_ATTACH_FILTER = 26  # Linux, <asm-generic/socket.h>
# A classic BPF program of one instruction, BPF_RET|BPF_K with k=0: "keep 0 bytes", i.e.
# drop every packet. On a listening socket that means every new SYN.
DROP_ALL = (ctypes.c_uint64 * 1)(0x06)
INSTALLED = "__deployment_agent_patch__"
RESTARTS_FILE = "worker_restarts.json"
logger = logging.getLogger("service.supervisor")


@dataclass(frozen=True)
class Patch:
    """I describe one patch: what it replaces, for which version, and how to install it."""

    owner: Any  # the class whose method I replace
    method: str
    version: str  # the pinned distribution the patch was written for
    source_sha256: str  # sha256 of ``inspect.getsource`` of the method it replaces
    make: Callable[[Callable[..., Any]], Callable[..., Any]]  # original -> replacement

    def install(self) -> None:
        """I replace the method once; installing twice keeps the first replacement."""
        original = getattr(self.owner, self.method)
        if getattr(original, INSTALLED, False):
            return
        replacement = self.make(original)
        setattr(replacement, INSTALLED, True)
        replacement.__wrapped__ = original  # type: ignore[attr-defined]  (what I replaced)
        setattr(self.owner, self.method, replacement)


def death_reason(exit_code: int) -> str:
    """I name how a process ended: ``SIGKILL`` for a negative code (a signal), else
    ``exit N``."""
    if exit_code < 0:
        try:
            return signal.Signals(-exit_code).name
        except ValueError:
            return f"signal {-exit_code}"
    return f"exit {exit_code}"


def record_worker_death(metrics_dir: str | None, pid: int, reason: str) -> None:
    """I log a worker's death and count it in the metrics folder (under a lock, since
    several supervisors may share it)."""
    # A server's logging configuration (BentoML's dictConfig) disables the loggers it did
    # not create, mine included: a death must never go unlogged.
    for name in ("service", logger.name):
        logging.getLogger(name).disabled = False
    logger.warning("worker died; a new one replaces it",
                   extra={"pid": pid, "reason": reason})
    if not metrics_dir:
        return
    path = os.path.join(metrics_dir, RESTARTS_FILE)
    with open(path, "a+", encoding="utf-8") as stream:
        fcntl.flock(stream, fcntl.LOCK_EX)
        stream.seek(0)
        text = stream.read()
        counts: dict[str, int] = json.loads(text) if text else {}
        counts[reason] = counts.get(reason, 0) + 1
        stream.seek(0)
        stream.truncate()
        stream.write(json.dumps(counts))


def worker_deaths(metrics_dir: str | None) -> dict[str, int]:
    """I read the deaths counted in the metrics folder, by how the workers died, under the
    lock :func:`record_worker_death` writes with (never a half-written count)."""
    if not metrics_dir:
        return {}
    try:
        with open(os.path.join(metrics_dir, RESTARTS_FILE), encoding="utf-8") as stream:
            fcntl.flock(stream, fcntl.LOCK_SH)
            text = stream.read()
    except FileNotFoundError:
        return {}
    counts: dict[str, int] = json.loads(text) if text else {}
    return counts


def refuse_new_connections(listener: socket.socket) -> None:
    """I attach the drop-all filter: queued connections stay, new SYNs are ignored.

    Where the kernel reserves socket filters to CAP_NET_ADMIN (``unprivileged_bpf_disabled``,
    as inside an unprivileged container) it refuses me; draining the queue right before
    closing then leaves a window of microseconds instead of none.
    """
    program = struct.pack("HL", len(DROP_ALL), ctypes.addressof(DROP_ALL))
    with contextlib.suppress(PermissionError):
        listener.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program)


async def serve_queued(server: uvicorn.Server, listener: socket.socket) -> None:
    """I accept every connection already in the listener's queue and serve it."""
    loop = asyncio.get_running_loop()

    def protocol() -> asyncio.Protocol:
        """I build the server's HTTP protocol for one accepted connection."""
        return server.config.http_protocol_class(  # type: ignore[call-arg]
            config=server.config, server_state=server.server_state,
            app_state=server.lifespan.state,
        )

    listener.setblocking(False)
    while True:
        try:
            connection, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        await loop.connect_accepted_socket(protocol, connection, ssl=server.config.ssl)


def drain_then_shutdown(shutdown: Callable[..., Any]) -> Callable[..., Any]:
    """I wrap ``uvicorn.Server.shutdown`` so that each worker drains its listener first."""

    async def drain(self: uvicorn.Server, sockets: list[socket.socket] | None = None) -> None:
        """I refuse new connections, serve the queued ones, then shut down as uvicorn does."""
        for server in self.servers:
            # My own handle on each listening socket, so that it outlives server.close().
            listeners = [socket.socket(fileno=os.dup(s.fileno())) for s in server.sockets]
            for listener in listeners:
                refuse_new_connections(listener)
            server.close()
            for listener in listeners:
                await serve_queued(self, listener)  # then close at once: no await between
                listener.close()
        await asyncio.sleep(SETTLE_SECONDS)
        await shutdown(self, sockets)

    return drain


def install(patches: Iterable[Patch]) -> None:
    """I install ``patches`` (idempotent; harmless in any process)."""
    for patch in patches:
        patch.install()
