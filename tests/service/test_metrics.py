"""The drift monitor's vectorised batch counts against its one-record path, for any rows:
numbers on and between bin edges, booleans, text categories, nulls, unseen values."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from deployment_agent.service import frames
from deployment_agent.service.monitoring.drift import DriftMonitor, Reference, References

EDGES = (-1.5, 0.0, 2.0, 7.25)
NUMERIC = Reference(0, "x", (0.2,) * 5, edges=EDGES)
BOOLEAN = Reference(1, "flag", (0.5, 0.5, 0.0), categories={"true": 0, "false": 1})
TEXT = Reference(2, "plan", (0.3, 0.3, 0.4), categories={"basic": 0, "pro": 1})
LABELS = Reference(-1, "prediction", (0.5, 0.5, 0.0), categories={"0": 0, "1": 1})
VALUES = Reference(-1, "prediction", (0.25,) * 4, edges=(0.0, 1.0, 2.0))

numbers = st.one_of(st.sampled_from(EDGES), st.floats(-10, 10), st.integers(-10, 10))


def one_by_one(references: References, rows: list[tuple[Any, ...]],
               predictions: list[Any]) -> tuple[list[list[int]], list[int], list[int]]:
    """The oracle: every value binned alone by ``Reference.bin_of``, as /predict does."""
    bins = [[0] * len(r.expected) for r in references.features]
    nulls = [0] * len(references.features)
    for row in rows:
        for i, reference in enumerate(references.features):
            value = row[reference.position]
            if value is None:
                nulls[i] += 1
            else:
                bins[i][reference.bin_of(value)] += 1
    predicted = [0] * len(references.prediction.expected) if references.prediction else []
    for value in predictions:
        if value is not None and references.prediction is not None:
            predicted[references.prediction.bin_of(value)] += 1
    return bins, nulls, predicted


def batch(references: References, rows: list[tuple[Any, ...]],
          predictions: list[Any]) -> tuple[list[list[int]], list[int], list[int]]:
    monitor = DriftMonitor(references)
    bins, nulls = monitor._count_columns(frames.Batch(rows))
    return bins, nulls, monitor._count_predictions(predictions)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.none() | numbers, st.none() | st.booleans(),
                          st.none() | st.sampled_from(["basic", "pro", "enterprise", 'q"é'])),
                min_size=1, max_size=60),
       st.data())
def test_a_batch_lands_in_the_bins_its_records_would_alone(rows: list[tuple[Any, ...]],
                                                           data: st.DataObject) -> None:
    labels = data.draw(st.lists(st.none() | st.sampled_from([0, 1, 2]), min_size=len(rows),
                                max_size=len(rows)))
    references = References((NUMERIC, BOOLEAN, TEXT), LABELS)
    assert batch(references, rows, labels) == one_by_one(references, rows, labels)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.none() | numbers, st.none() | st.booleans()), min_size=1,
                max_size=60),
       st.data())
def test_numeric_rows_and_predictions_are_binned_from_the_float_matrix(
        rows: list[tuple[Any, ...]], data: st.DataObject) -> None:
    values = data.draw(st.lists(st.none() | numbers, min_size=len(rows), max_size=len(rows)))
    references = References((NUMERIC, BOOLEAN), VALUES)
    assert batch(references, rows, values) == one_by_one(references, rows, values)
