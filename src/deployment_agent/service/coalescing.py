"""I score the single records that arrive together in one model call.

A model call has a fixed cost far above its cost per row: ONNX Runtime scores one churn
record in about 10 µs on a warm cache and about 50 µs inside a busy server, and 1,000 in
about 75 µs (``doit bench``). Under concurrent load several ``/predict`` requests are
waiting in the same worker at once, so I let them share a call, as Triton's and BentoML's
dynamic batching do, but without a timer or a queue: the first request of an event-loop
turn schedules my run for the next turn (``call_soon``), every request that arrives in
between adds its row, and one model call answers them all. A lone request waits one turn
of the loop, a few microseconds, never a time window.

Each request still gets its own verdict: when a shared call fails (one bad row, say), I
score every row again on its own, so that only the request that caused the failure gets
the 500 (or the 422 of an unknown item) and the others their answers. Rounding can differ
in the last bits between one row and several in some runtimes (ONNX Runtime's float
kernels); answers stay within the verification gate's tolerance either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from .answers import Answers
from .decoding import Row
from .frames import Batch


class Coalescer:
    """I gather the rows submitted within one turn of the event loop and score them in one
    call to ``run``; ``account`` then counts what was scored (metrics, drift) once, and
    ``alone`` scores one row with every usual consequence of a failure (log, count,
    error)."""

    def __init__(self, run: Callable[[Sequence[Row]], Answers],
                 account: Callable[[Sequence[Row], Answers], None],
                 alone: Callable[[Sequence[Row]], Answers]) -> None:
        """I keep the three calls and start with nothing waiting."""
        self.run = run
        self.account = account
        self.alone = alone
        self.rows: list[Row] = []
        self.waiting: list[asyncio.Future[Any]] = []

    async def submit(self, row: Row) -> Any:
        """I return the answer to ``row`` (an item of :class:`Answers`), scored with the
        rows submitted in the same turn of the loop; a failure is raised here."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self.rows:
            loop.call_soon(self.flush)
        self.rows.append(row)
        self.waiting.append(future)
        return await future

    def flush(self) -> None:
        """I score every waiting row and hand each request its answer or its failure."""
        rows, waiting = Batch(self.rows), self.waiting
        self.rows, self.waiting = [], []
        answers = self.together(rows) if len(rows) > 1 else None
        if answers is not None:
            self.account(rows, answers)
            for future, item in zip(waiting, answers.items, strict=True):
                if not future.done():  # a client that went away cancelled it
                    future.set_result(item)
            return
        for future, row in zip(waiting, rows, strict=True):
            try:
                item = self.alone([row]).items[0]
            except Exception as exc:  # handed to the request it belongs to
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(item)

    def together(self, rows: Batch) -> Answers | None:
        """I score several rows in one call, or return None when that call fails (each
        row is then scored on its own)."""
        try:
            return self.run(rows)
        except Exception:  # any failure: the rows are scored again, one by one
            return None
