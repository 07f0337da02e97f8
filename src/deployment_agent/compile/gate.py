"""The verification gate: the ONNX model must agree with the native model before it is served.

Both are scored by the service's own code (:class:`deployment_agent.service.predictor.
Predictor` over each runtime's scoring module), on the example input and the sampled rows,
so that what is compared is what each would answer. Labels (and anomaly decisions) must be
equal; probabilities, values and scores equal within ``tolerance + rtol * scale``, the
scale being the largest native output: a float32 tree ensemble rounds its running sum,
whose size is the outputs', not one row's. The report names the worst row, so a refusal
can be read and reproduced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..service.predictor import Predictor


class ReferenceFailure(Exception):
    """The native model itself fails on inputs the manifest allows: nothing to compare with."""


Outputs = tuple[list[str] | None, np.ndarray]


def comparable(predictor: Predictor, rows: Sequence[tuple[object, ...]]) -> Outputs:
    """What the gate compares of a predictor's answers: labels or decisions (as text), and
    the numbers (probabilities, values, scores) as one row per input."""
    spec = predictor.spec
    if spec.task == "recommendation":
        return None, np.asarray(predictor.scores(rows), dtype=np.float64).reshape(-1, 1)
    answers = predictor.predict(rows)
    if spec.task == "anomaly_detection":
        return [str(a["is_anomaly"]) for a in answers], np.array(
            [[a["anomaly_score"]] for a in answers], dtype=np.float64)
    if spec.classes is None:
        return None, np.array([[a["prediction"]] for a in answers], dtype=np.float64)
    labels = [str(a["prediction"]) for a in answers]
    if "probabilities" not in answers[0]:
        return labels, np.zeros((len(answers), 0))
    return labels, np.array([list(a["probabilities"].values()) for a in answers],
                            dtype=np.float64)


def reference_outputs(predictor: Predictor, rows: Sequence[tuple[object, ...]]) -> Outputs:
    """The native model's outputs on ``rows``."""
    try:
        return comparable(predictor, rows)
    except Exception as exc:
        raise ReferenceFailure(f"{type(exc).__name__}: {exc}") from None


def verify(reference: Outputs, candidate: Predictor, rows: Sequence[tuple[object, ...]],
           names: Sequence[str], tolerance: float, rtol: float, precision: str,
           onnx_inputs: list[str]) -> dict[str, Any]:
    """Compare the ONNX predictor's outputs on ``rows`` with the native ``reference``; the
    report says whether they agree, and how well."""
    expected_labels, expected = reference
    labels, found = comparable(candidate, rows)
    n = len(rows)
    mismatched = np.flatnonzero(np.array(labels) != np.array(expected_labels)) \
        if expected_labels is not None and labels is not None else np.array([], dtype=int)
    if found.shape != expected.shape:
        raise ValueError(f"the ONNX outputs have shape {found.shape}, the native ones "
                         f"{expected.shape}")
    scale = float(np.nanmax(np.abs(expected))) if expected.size else 0.0
    excess = np.abs(found - expected) - rtol * scale
    excess = np.where(np.isnan(excess), np.inf, excess)
    per_row = excess.max(axis=1) if excess.shape[1] else np.zeros(n)
    diff = np.abs(found - expected)
    diff = np.where(np.isnan(diff), np.inf, diff)
    worst = int(np.argmax(per_row)) if n else 0
    index = int(mismatched[0]) if len(mismatched) else worst
    return {
        "passed": bool(len(mismatched) == 0 and (per_row <= tolerance).all()),
        "rows": n,
        "label_mismatches": int(len(mismatched)),
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "tolerance": tolerance,
        "rtol": rtol,
        "input_dtype": precision,
        "onnx_inputs": onnx_inputs,
        "worst_row": {"index": index,
                      "input": dict(zip(names, rows[index], strict=True)) if n else {}},
    }
