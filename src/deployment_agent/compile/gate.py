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


def verify(model: Any, session: Any, context: Context, rows: list[tuple[Any, ...]],
           tolerance: float, precision: str, names: list[str]) -> dict[str, Any]:
    """Compare both models on ``rows``; the report says whether they agree, and how well."""
    classifier = context.model.classes is not None
    reference = sklearn_input(context, rows)
    feed = onnx_feed(context, rows, precision, names)
    labels, proba = _onnx_outputs(session, feed, classifier)
    if classifier:
        expected_proba = np.asarray(model.predict_proba(reference), dtype=np.float64) \
            if context.model.has_proba else None
        expected = np.asarray(model.predict(reference))
        classes = [str(c) for c in context.model.classes or []]
        mismatched = np.flatnonzero(np.array([str(a) for a in labels]) !=
                                    np.array([str(b) for b in expected]))
        if expected_proba is not None and proba is not None and \
                proba.shape == expected_proba.shape:
            diff = np.abs(proba - expected_proba).max(axis=1)
        else:
            diff = np.zeros(len(rows))
    else:
        expected = np.asarray(model.predict(reference), dtype=np.float64).ravel()
        diff = np.abs(labels - expected)
        mismatched = np.array([], dtype=int)
        classes = []
    diff = np.where(np.isnan(diff), np.inf, diff)
    worst = int(np.argmax(diff)) if len(diff) else 0
    max_diff = float(diff[worst]) if len(diff) else 0.0
    passed = len(mismatched) == 0 and max_diff <= tolerance
    return {
        "passed": bool(passed),
        "rows": len(rows),
        "label_mismatches": int(len(mismatched)),
        "max_abs_diff": max_diff,
        "tolerance": tolerance,
        "input_dtype": precision,
        "onnx_inputs": names,
        "worst_row": {
            "index": int(mismatched[0]) if len(mismatched) else worst,
            "input": dict(zip(context.feature_names,
                              rows[int(mismatched[0]) if len(mismatched) else worst],
                              strict=True)),
        },
        "classes": classes,
    }
