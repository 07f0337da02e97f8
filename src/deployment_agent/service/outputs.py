"""I turn what a model library returns into plain values, the same way for every family.

Libraries disagree on shapes and types: CatBoost's ``predict`` is a column (n, 1), numpy
scalars are not JSON, labels come back as integers, floats, bytes or numpy strings, and a
binary booster gives one probability per row instead of two. I accept exactly those
variations and refuse anything else with :class:`UnreadableOutput`, whose message says
what was expected, so that a model whose output the service cannot read is refused when it
is built (the self-check runs there) and when it is loaded, never per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np


class UnreadableOutput(Exception):
    """I am raised when a model's output has a shape or values the service cannot serve."""


def vector(values: Any, rows: int, what: str) -> np.ndarray:
    """I return one value per row: a (n,) array, or a (n, 1) column made flat."""
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape != (rows,):
        raise UnreadableOutput(f"{what} has shape {array.shape}, expected ({rows},)")
    return array


def labels(values: Any, classes: Sequence[Any], rows: int) -> list[Any]:
    """I map predicted labels onto the model's classes (``1.0`` is class ``1``, ``b"a"``
    and ``numpy.str_("a")`` are class ``"a"``), refusing a label that is not a class."""
    lookup: dict[Any, Any] = {c: c for c in classes}
    lookup.update({str(c): c for c in classes})
    found = vector(values, rows, "the predicted labels").tolist()
    mapped = [lookup.get(v) for v in found]
    if None in mapped:
        for i, value in enumerate(found):
            if mapped[i] is None:
                text = value.decode() if isinstance(value, bytes) else str(value)
                mapped[i] = lookup.get(text)
                if mapped[i] is None:
                    raise UnreadableOutput(f"predicted {value!r}, not one of the classes "
                                           f"{list(classes)}")
    return mapped


def probabilities(values: Any, classes: int, rows: int) -> np.ndarray:
    """I return a (n, classes) float array; a binary model's single column of positive
    probabilities becomes two."""
    array = np.asarray(values, dtype=np.float64)
    if classes == 2 and (array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1)):
        positive = array.reshape(-1)
        array = np.column_stack([1.0 - positive, positive])
    if array.shape != (rows, classes):
        raise UnreadableOutput(f"the probabilities have shape {array.shape}, expected "
                               f"({rows}, {classes}): one column per class")
    return array


def numbers(values: Any, rows: int, what: str) -> np.ndarray:
    """I return one float per row."""
    try:
        return vector(values, rows, what).astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise UnreadableOutput(f"{what} are not numbers: {exc}") from None


def argmax_labels(proba: np.ndarray, classes: Sequence[Any]) -> list[Any]:
    """I return the class of highest probability of each row (the first on a tie, as
    scikit-learn's ``predict`` does), as the very objects ``classes`` holds: one take from
    an object array of the classes, in C."""
    labels = np.empty(len(classes), dtype=object)
    for i, label in enumerate(classes):  # one by one: a label is never broadcast
        labels[i] = label
    return labels[np.argmax(proba, axis=1)].tolist()  # type: ignore[no-any-return]


class Raw(NamedTuple):
    """I am what one model call returned, before normalisation: labels, probabilities,
    and values (regression outputs, ranking or anomaly scores); absent ones are None."""

    labels: Any = None
    proba: Any = None
    values: Any = None
