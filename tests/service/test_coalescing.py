"""Single records arriving in the same turn of the event loop share one model call, and
each request still gets its own answer, or its own failure."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from deployment_agent.service.answers import Answers
from deployment_agent.service.coalescing import Coalescer

Row = tuple[object, ...]


class Model:
    """A model that doubles its input and refuses negative numbers, and notes each call."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.accounted: list[int] = []

    def run(self, rows: Sequence[Row]) -> Answers:
        self.calls.append(len(rows))
        if any(row[0] < 0 for row in rows):  # type: ignore[operator]
            raise ValueError("negative")
        values = [2 * row[0] for row in rows]  # type: ignore[operator]
        return Answers([{"prediction": v} for v in values], values)

    def account(self, rows: Sequence[Row], answers: Answers) -> None:
        self.accounted.append(len(rows))


def coalescer(model: Model) -> Coalescer:
    return Coalescer(model.run, model.account, model.run)


def test_records_of_one_turn_share_a_call_and_keep_their_order() -> None:
    model = Model()
    batcher = coalescer(model)

    async def main() -> list[object]:
        return await asyncio.gather(*(batcher.submit((i,)) for i in range(7)))

    answers = asyncio.run(main())
    assert answers == [{"prediction": 2 * i} for i in range(7)]
    assert model.calls == [7]
    assert model.accounted == [7]


def test_a_lone_record_is_scored_alone_in_the_next_turn() -> None:
    model = Model()
    batcher = coalescer(model)

    async def main() -> list[object]:
        first = await batcher.submit((1,))
        second = await batcher.submit((2,))
        return [first, second]

    assert asyncio.run(main()) == [{"prediction": 2}, {"prediction": 4}]
    assert model.calls == [1, 1]


def test_a_failing_record_fails_only_its_own_request() -> None:
    model = Model()
    batcher = coalescer(model)

    async def main() -> list[object]:
        return await asyncio.gather(batcher.submit((1,)), batcher.submit((-1,)),
                                    batcher.submit((3,)), return_exceptions=True)

    first, failed, third = asyncio.run(main())
    assert (first, third) == ({"prediction": 2}, {"prediction": 6})
    assert isinstance(failed, ValueError)
    # The shared call failed, then each record was scored on its own.
    assert model.calls == [3, 1, 1, 1]
    assert model.accounted == []  # the one-by-one calls account for themselves


def test_a_request_that_went_away_does_not_stop_the_others() -> None:
    model = Model()
    batcher = coalescer(model)

    async def main() -> tuple[object, bool]:
        gone = asyncio.ensure_future(batcher.submit((5,)))
        kept = asyncio.ensure_future(batcher.submit((6,)))
        await asyncio.sleep(0)  # both rows are waiting
        gone.cancel()
        return await kept, gone.cancelled()

    assert asyncio.run(main()) == ({"prediction": 12}, True)


@pytest.mark.parametrize("size", [2, 50])
def test_accounting_sees_every_row_once(size: int) -> None:
    model = Model()
    batcher = coalescer(model)

    async def main() -> None:
        await asyncio.gather(*(batcher.submit((i,)) for i in range(size)))
        await asyncio.gather(*(batcher.submit((i,)) for i in range(size)))

    asyncio.run(main())
    assert sum(model.accounted) == 2 * size
