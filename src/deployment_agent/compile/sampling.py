"""Inputs for the verification gate: the example input, then rows drawn from the schema
(and, for a recommender's scorer, from the catalogue).

Numbers come from the training statistics when the manifest has them (mean, std, clipped
to the recorded min/max and the schema's bounds), else uniformly within the bounds;
enums and booleans uniformly; nullable features are null one time in ten; strings are
the example's value or short random words (so unknown categories are exercised too).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..plan.context import Context, Feature

SEED = 20240601


def _numbers(feature: Feature, n: int, rng: np.random.Generator) -> np.ndarray:
    stats = feature.stats
    low = feature.minimum if feature.minimum is not None else -1e6
    high = feature.maximum if feature.maximum is not None else 1e6
    if stats is not None and stats.mean is not None and stats.std:
        values = rng.normal(stats.mean, stats.std, n)
        low = max(low, stats.min) if stats.min is not None else low
        high = min(high, stats.max) if stats.max is not None else high
    else:
        span_low, span_high = max(low, -1e3), min(high, 1e3)
        if span_low > span_high:
            span_low, span_high = low, high
        values = rng.uniform(span_low, span_high, n)
    values = np.clip(values, low, high)
    if feature.type == "int":
        values = np.clip(np.round(values), np.ceil(low), np.floor(high))
    return values


def _column(feature: Feature, example: Any, n: int, rng: np.random.Generator) -> list[Any]:
    """``n`` valid values of one feature, then the example's value first (vectorised)."""
    if feature.enum:
        column: list[Any] = np.array(feature.enum, dtype=object)[
            rng.integers(0, len(feature.enum), n)].tolist()
    elif feature.type == "bool":
        column = rng.integers(0, 2, n).astype(bool).tolist()
    elif feature.type == "str":
        words = np.array([example if isinstance(example, str) else "example", "alpha", "beta",
                          ""], dtype=object)
        column = words[rng.integers(0, len(words), n)].tolist()
    else:
        values = _numbers(feature, n, rng)
        column = values.astype(np.int64).tolist() if feature.type == "int" else values.tolist()
    if feature.nullable:
        for i in np.flatnonzero(rng.random(n) < 0.1).tolist():
            column[i] = None
    return [example, *column]


def gate_columns(context: Context, n: int) -> list[list[Any]]:
    """One list per feature (training column order): the example input's value first, then
    ``n`` sampled values."""
    rng = np.random.default_rng(SEED)
    example = context.example_input
    return [_column(f, example[f.name], n, rng) for f in context.features]


def gate_rows(context: Context, n: int, items: list[tuple[Any, ...]] | None = None
              ) -> list[tuple[Any, ...]]:
    """The gate's rows in the model's column order: the example input first, then ``n``
    sampled; a scorer's rows go on with a catalogue item's features (the first item for
    the example, then items drawn at random)."""
    rows = list(zip(*gate_columns(context, n), strict=True))
    if not items:
        return rows
    rng = np.random.default_rng(SEED + 1)
    picks = [0, *rng.integers(0, len(items), n).tolist()]
    return [row + items[i] for row, i in zip(rows, picks, strict=True)]
