"""I measure how right the model turned out to be, on the outcomes fed back to it.

Over the last QUALITY_WINDOW outcomes received (each joined to the answer it is about), I
compute the task's own metrics, as the modelling step computed them on its test set:

- classification: ``accuracy``, ``f1`` (of the last class for two classes, as
  scikit-learn's default positive label; the mean over classes for more), ``roc_auc``
  (where the answers carry probabilities: rank-based, one class against the rest averaged
  for more than two) and ``log_loss``;
- regression: ``mae`` and ``rmse``;
- anomaly detection: ``precision`` and ``recall`` of the flag at the threshold;
- recommendation: ``hit_rate`` and ``ndcg`` at the k of each answer (one chosen item).

I am written with NumPy alone, so that an ONNX-served image needs no scikit-learn; the
tests hold me to scikit-learn's own metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# For each task, its metrics, and whether a larger value is better.
METRICS: dict[str, dict[str, bool]] = {
    "classification": {"accuracy": True, "f1": True, "roc_auc": True, "log_loss": False},
    "regression": {"mae": False, "rmse": False},
    "anomaly_detection": {"precision": True, "recall": True},
    "recommendation": {"hit_rate": True, "ndcg": True},
}
# A probability of 0 counts as this (scikit-learn clips at the float64 epsilon too).
EPSILON = float(np.finfo(np.float64).eps)


def _auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """I return the area under the ROC curve of ``scores`` for the ``positive`` mask (ties
    share their rank), or None when one side is empty."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _f1(truth: list[Any], predicted: list[Any], label: Any) -> float:
    """I return the F1 of ``label`` (0 when it is never predicted nor true)."""
    tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == label and p == label)
    fp = sum(1 for t, p in zip(truth, predicted, strict=True) if t != label and p == label)
    fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == label and p != label)
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def classification(pairs: Sequence[tuple[dict[str, Any], Any]], classes: Sequence[Any]
                   ) -> dict[str, float]:
    """I return the accuracy, F1, ROC AUC and log loss of (answer, true label) pairs."""
    truth = [outcome for _, outcome in pairs]
    predicted = [answer["prediction"] for answer, _ in pairs]
    result = {"accuracy": float(np.mean([t == p for t, p in zip(truth, predicted,
                                                                  strict=True)]))}
    labels = list(classes)
    result["f1"] = _f1(truth, predicted, labels[-1]) if len(labels) == 2 else \
        float(np.mean([_f1(truth, predicted, c) for c in labels]))
    if all("probabilities" in answer for answer, _ in pairs):
        keys = [str(c) for c in labels]
        proba = np.array([[answer["probabilities"][k] for k in keys] for answer, _ in pairs])
        index = {str(c): i for i, c in enumerate(labels)}
        true_index = np.array([index[str(t)] for t in truth])
        picked = proba[np.arange(len(pairs)), true_index]
        result["log_loss"] = float(-np.mean(np.log(np.clip(picked, EPSILON, 1.0))))
        if len(labels) == 2:
            auc = _auc(proba[:, 1], true_index == 1)
        else:
            aucs = [_auc(proba[:, i], true_index == i) for i in range(len(labels))]
            auc = float(np.mean([a for a in aucs if a is not None])) if any(
                a is not None for a in aucs) else None
        if auc is not None:
            result["roc_auc"] = auc
    return result


def regression(pairs: Sequence[tuple[dict[str, Any], Any]]) -> dict[str, float]:
    """I return the mean absolute and root mean squared errors of (answer, true value)
    pairs."""
    errors = np.array([answer["prediction"] - float(outcome) for answer, outcome in pairs])
    return {"mae": float(np.mean(np.abs(errors))), "rmse": float(math.sqrt(np.mean(errors ** 2)))}


def anomaly_detection(pairs: Sequence[tuple[dict[str, Any], Any]]) -> dict[str, float]:
    """I return the precision and recall of the anomaly flag against (answer, truly an
    anomaly) pairs."""
    flagged = np.array([bool(answer["is_anomaly"]) for answer, _ in pairs])
    truth = np.array([bool(outcome) for _, outcome in pairs])
    tp = int((flagged & truth).sum())
    result = {}
    if flagged.any():
        result["precision"] = tp / int(flagged.sum())
    if truth.any():
        result["recall"] = tp / int(truth.sum())
    return result


def recommendation(pairs: Sequence[tuple[dict[str, Any], Any]]) -> dict[str, float]:
    """I return the hit rate and NDCG at each answer's k, of (ranked answer, chosen item)
    pairs."""
    hits, gains = [], []
    for answer, chosen in pairs:
        ranked = [item["item_id"] for item in answer["items"]]
        rank = ranked.index(chosen) if chosen in ranked else None
        hits.append(rank is not None)
        gains.append(0.0 if rank is None else 1.0 / math.log2(rank + 2))
    return {"hit_rate": float(np.mean(hits)), "ndcg": float(np.mean(gains))}


def measure(task: str, pairs: Sequence[tuple[dict[str, Any], Any]],
            classes: Sequence[Any] | None) -> dict[str, float]:
    """I return the task's metrics over ``pairs`` (none for no pairs)."""
    if not pairs:
        return {}
    if task == "classification":
        return classification(pairs, classes or ())
    if task == "regression":
        return regression(pairs)
    if task == "anomaly_detection":
        return anomaly_detection(pairs)
    return recommendation(pairs)
