"""I am the patches of the plain uvicorn runtime (copied as ``api/runtime_patches.py``).

Workers. uvicorn's supervisor replaces a dead worker itself, and logs only its pid. I log
and count each death.

The drain. uvicorn's supervisor keeps its copy of the listening socket open while its
workers stop; I make it close it first (see ``patches.py``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

from .patches import Patch, death_reason, drain_then_shutdown, record_worker_death


def close_sockets_then_terminate(terminate_all: Callable[..., Any]) -> Callable[..., Any]:
    """I wrap uvicorn's ``Multiprocess.terminate_all`` so that the supervisor closes its
    listening sockets before it stops the workers (drain, fix 1)."""

    def close_then_terminate(self: Multiprocess) -> None:
        """I close the listening sockets, then stop the workers as uvicorn does."""
        listeners: list[socket.socket] = self.sockets
        for listener in listeners:
            listener.close()
        terminate_all(self)

    return close_then_terminate


def log_and_count_deaths(keep_alive: Callable[..., Any]) -> Callable[..., Any]:
    """I make uvicorn's supervisor report each worker it replaced, with how it died."""

    def keep_alive_and_record(self: Multiprocess) -> None:
        """I replace dead workers as uvicorn does, then report each one replaced."""
        before = list(self.processes)
        keep_alive(self)
        for old, new in zip(before, self.processes, strict=False):
            if old is not new and old.exitcode is not None:
                record_worker_death(os.environ.get("PROMETHEUS_MULTIPROC_DIR"), old.pid,
                                    death_reason(old.exitcode))

    return keep_alive_and_record


PATCHES: tuple[Patch, ...] = (
    Patch(Multiprocess, "keep_subprocess_alive", "uvicorn==0.54.0",
          "3ba4980aa33bcecdf3d0a725ca9c4e8d92238f72d239e522120ad6e05147fd59",
          log_and_count_deaths),
    Patch(Multiprocess, "terminate_all", "uvicorn==0.54.0",
          "6efef9523120f025d8f276d673441a3d974bffd3a093f5cc3e98e1eb4b5a09c3",
          close_sockets_then_terminate),
    Patch(uvicorn.Server, "shutdown", "uvicorn==0.54.0",
          "9b33c50562992b1e3cef2a9611408ece6c01d46ee17eaae2091b6091bf826eab",
          drain_then_shutdown),
)
