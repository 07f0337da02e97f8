"""I am the patches of BentoML's serving runtime (copied as ``api/runtime_patches.py``).

Workers. BentoML turns circus' respawning off inside containers and checks its processes
every 10 s: measured, a SIGKILLed worker stayed a zombie and was never replaced, /health/ready kept
answering 200, and capacity was halved silently until the container restarted.
I make circus respawn them and check every second, and log and count each death.

The drain. circus' arbiter keeps its copy of the listening socket open while its workers
stop; I make it close it first (see ``patches.py``).

The timer. BentoML 1.4's ``TimeoutMiddleware`` (``traffic.timeout``) schedules
``loop.call_later(timeout, ...)`` for every request and never cancels it. Each timer keeps
a copy of the request's context alive until it fires: measured under 64 clients, each
worker's resident memory grew by 230 MB over the first 60 s (the timeout) at 1,300
requests/s, then plateaued at twice its idle size. I run the same logic and cancel the
timer once the request is over; memory then stays flat.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import uvicorn
from bentoml._internal.server.http.traffic import TimeoutMiddleware
from circus.arbiter import Arbiter
from circus.watcher import Watcher
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from .patches import Patch, death_reason, drain_then_shutdown, record_worker_death


def close_sockets_then_stop(stop: Callable[..., Any]) -> Callable[..., Any]:
    """I wrap circus' ``Arbiter.stop`` so that the supervisor closes its listening sockets
    before it stops the workers (drain, fix 1)."""

    def close_then_stop(self: Arbiter) -> Any:
        """I close the listening sockets, then stop the arbiter as circus does."""
        self.sockets.close_all()
        return stop(self)

    return close_then_stop


def cancel_finished_timers(_: Callable[..., Any]) -> Callable[..., Any]:
    """I replace ``TimeoutMiddleware.__call__`` of BentoML 1.4.40 with the same
    logic plus ``timer.cancel()`` once the request is over."""

    async def call(self: TimeoutMiddleware, scope: Scope, receive: Receive, send: Send) -> None:
        """I answer 504 after the timeout, as BentoML does, and cancel my timer when done."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def send_started(message: Message) -> None:
            """I mark the response as started (no 504 after that) and pass it on."""
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        request = asyncio.ensure_future(self.app(scope, receive, send_started))
        try:
            await waiter
        except TimeoutError:  # asyncio.TimeoutError is TimeoutError since Python 3.11
            if request.cancel():
                message = f"Not able to process the request in {self.timeout} seconds"
                await JSONResponse({"error": message}, status_code=504)(scope, receive, send)
        else:
            await request
        finally:
            timer.cancel()

    return call


def always_respawn(init: Callable[..., Any]) -> Callable[..., Any]:
    """I make circus' watchers respawn dead processes: BentoML turns respawning off when it
    runs inside a container, expecting the orchestrator to restart the whole container,
    which it never does while the other worker keeps /health answering."""

    def init_respawning(self: Watcher, *args: Any, **kwargs: Any) -> None:
        """I create the watcher with respawning on."""
        kwargs["respawn"] = True
        init(self, *args, **kwargs)

    return init_respawning


def check_every_second(init: Callable[..., Any]) -> Callable[..., Any]:
    """I make the arbiter look after its processes every second instead of BentoML's 10 s,
    so that a dead worker is reaped and replaced within seconds."""

    def init_checking(self: Arbiter, *args: Any, **kwargs: Any) -> None:
        """I create the arbiter with checks at least every second."""
        kwargs["check_delay"] = min(kwargs.get("check_delay", 1.0), 1.0)
        init(self, *args, **kwargs)

    return init_checking


def log_and_count_deaths(reap: Callable[..., Any]) -> Callable[..., Any]:
    """I make circus report a worker that died on its own (not one it stopped)."""

    def reap_and_record(self: Watcher, pid: int, status: int | None = None) -> Any:
        """I reap as circus does, then report a death the watcher did not cause."""
        died = pid in self.processes and status is not None and \
            not (self.is_stopping() or self.is_stopped())
        result = reap(self, pid, status)
        if died and status is not None:
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            record_worker_death((self.env or {}).get("PROMETHEUS_MULTIPROC_DIR"), pid,
                                death_reason(code))
        return result

    return reap_and_record


PATCHES: tuple[Patch, ...] = (
    Patch(Watcher, "__init__", "kantoku==0.18.3 (circus)",
          "522970f928d38f96732dc9d395231956651cec4d5197988a8eb4920b9e569311",
          always_respawn),
    Patch(Arbiter, "__init__", "kantoku==0.18.3 (circus)",
          "cb10d2fc3c727afecfc637b588c030456b18d79fc8adc0ed9b9797cb553bee3f",
          check_every_second),
    Patch(Watcher, "reap_process", "kantoku==0.18.3 (circus)",
          "c1ab54491e26b3fc95778126aa247bcd187f3cda34a8e2ad9d41ab673c6bf0ab",
          log_and_count_deaths),
    Patch(Arbiter, "stop", "kantoku==0.18.3 (circus)",
          "ac1689b5bf488cbbe059c10b5fd80b5d9ac19365667376c0d3fe95f80e7a2b19",
          close_sockets_then_stop),
    Patch(uvicorn.Server, "shutdown", "uvicorn==0.54.0",
          "9b33c50562992b1e3cef2a9611408ece6c01d46ee17eaae2091b6091bf826eab",
          drain_then_shutdown),
    Patch(TimeoutMiddleware, "__call__", "bentoml==1.4.40",
          "fd8b9e3da28ed2b44cfd508d641617e049fcd4986138197ce7bb227332505896",
          cancel_finished_timers),
)
