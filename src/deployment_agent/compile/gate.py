"""The verification gate: the ONNX model must agree with scikit-learn before it is served.

On the example input and the sampled rows, predicted labels must be equal, and
probabilities (or regression outputs) equal within the tolerance set in the settings.
The report names the worst row, so a refusal can be read and reproduced.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..plan.context import Context
from .convert import onnx_feed, sklearn_input


def _onnx_outputs(session: Any, feed: dict[str, np.ndarray], classifier: bool
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """(labels or values, probabilities or None) from an ONNX session."""
    outputs = session.run(None, feed)
    if classifier:
        return np.asarray(outputs[0]).ravel(), np.asarray(outputs[1], dtype=np.float64)
    return np.asarray(outputs[0], dtype=np.float64).ravel(), None


class ReferenceFailure(Exception):
    """scikit-learn itself fails on inputs the manifest allows: nothing to compare with."""


def reference_outputs(model: Any, context: Context, columns: list[list[Any]]
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """scikit-learn's (labels or values, probabilities or None) on ``columns``."""
    reference = sklearn_input(context, columns)
    try:
        if context.model.classes is None:
            return np.asarray(model.predict(reference), dtype=np.float64).ravel(), None
        proba = np.asarray(model.predict_proba(reference), dtype=np.float64) \
            if context.model.has_proba else None
        if proba is not None and context.model.predict_from_proba:
            return np.asarray(model.classes_)[np.argmax(proba, axis=1)], proba
        return np.asarray(model.predict(reference)), proba
    except Exception as exc:
        raise ReferenceFailure(f"{type(exc).__name__}: {exc}") from None


def verify(reference: tuple[np.ndarray, np.ndarray | None], session: Any, context: Context,
           columns: list[list[Any]], tolerance: float, precision: str, names: list[str]
           ) -> dict[str, Any]:
    """Compare the ONNX model with scikit-learn's ``reference`` outputs on ``columns``; the
    report says whether they agree, and how well."""
    classifier = context.model.classes is not None
    rows = len(columns[0])
    feed = onnx_feed(context, columns, precision, names)
    labels, proba = _onnx_outputs(session, feed, classifier)
    if classifier:
        expected, expected_proba = reference
        classes = [str(c) for c in context.model.classes or []]
        mismatched = np.flatnonzero(np.array([str(a) for a in labels]) !=
                                    np.array([str(b) for b in expected]))
        if expected_proba is not None and proba is not None and \
                proba.shape == expected_proba.shape:
            diff = np.abs(proba - expected_proba).max(axis=1)
        else:
            diff = np.zeros(rows)
    else:
        expected = reference[0]
        diff = np.abs(labels - expected)
        mismatched = np.array([], dtype=int)
        classes = []
    diff = np.where(np.isnan(diff), np.inf, diff)
    worst = int(np.argmax(diff)) if len(diff) else 0
    max_diff = float(diff[worst]) if len(diff) else 0.0
    passed = len(mismatched) == 0 and max_diff <= tolerance
    index = int(mismatched[0]) if len(mismatched) else worst
    return {
        "passed": bool(passed),
        "rows": rows,
        "label_mismatches": int(len(mismatched)),
        "max_abs_diff": max_diff,
        "tolerance": tolerance,
        "input_dtype": precision,
        "onnx_inputs": names,
        "worst_row": {
            "index": index,
            "input": {name: column[index]
                      for name, column in zip(context.feature_names, columns, strict=True)},
        },
        "classes": classes,
    }
