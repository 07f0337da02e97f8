"""I turn validated rows into what a model library reads: a float matrix or a DataFrame.

A row is a tuple of values in the model's column order. I build every input column by
column in C (numpy, pandas), so that a batch costs no Python code per record: booleans
become 0/1 and null becomes NaN in a matrix; a DataFrame gets each column's training dtype.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from .spec import Column

Rows = Sequence[tuple[object, ...]]


class Batch(list):  # type: ignore[type-arg]
    """I am the rows of one request, and their float matrix once someone built it.

    The model and the drift monitor both read a batch as a float matrix; building it from
    Python tuples is the costliest step of a 1,000-record batch after the JSON, so I keep
    the first one built (read-only by convention: nothing writes into a model's input).
    """

    __slots__ = ("floats",)

    def __init__(self, rows: Any = ()) -> None:
        """I hold ``rows``; no matrix yet."""
        super().__init__(rows)
        self.floats: np.ndarray | None = None


def matrix(rows: Rows) -> np.ndarray:
    """I return the rows as a (n, columns) float64 matrix (True is 1, null is NaN), built
    once per :class:`Batch`."""
    if isinstance(rows, Batch):
        if rows.floats is None:
            rows.floats = _matrix(rows)
        return rows.floats
    return _matrix(rows)


def _matrix(rows: Rows) -> np.ndarray:
    """I build the matrix from one flat iterator in C (about twice as fast as from a
    sequence of tuples); text that is not a number fails here as it would in numpy."""
    n = len(rows)
    width = len(rows[0]) if n else 0
    try:
        return np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64,
                           count=n * width).reshape(n, width)
    except (TypeError, ValueError):
        return np.array(rows, dtype=np.float64)


def dataframe(rows: Rows, columns: Sequence[Column]) -> Any:
    """I return the rows as a DataFrame with the training column names and dtypes.

    I import pandas here, not at the top: only models fitted on a DataFrame need it, and
    their requirements pin it."""
    import pandas as pd

    values = zip(*rows, strict=True)
    return pd.DataFrame({c.name: pd.Series(v, dtype=c.dtype)
                         for c, v in zip(columns, values, strict=True)})
