"""The quality metrics, written with NumPy alone, equal scikit-learn's on drawn outcomes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics

from deployment_agent.service.monitoring import quality


@st.composite
def classified(draw: st.DrawFn) -> tuple[list[str], list[dict], list[str]]:
    """Classes, answers (label and probabilities, the label their argmax) and truths."""
    classes = draw(st.sampled_from([["no", "yes"], ["a", "b", "c"], ["w", "x", "y", "z"]]))
    n = draw(st.integers(2, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    proba = rng.dirichlet(np.ones(len(classes)), n).round(3)
    proba = proba / proba.sum(axis=1, keepdims=True)
    answers = [{"prediction": classes[int(np.argmax(p))],
                "probabilities": dict(zip(classes, p.tolist(), strict=True))} for p in proba]
    truth = [classes[i] for i in rng.integers(0, len(classes), n)]
    return classes, answers, truth


@settings(max_examples=150, deadline=None)
@given(classified())
def test_classification_metrics_equal_scikit_learns(drawn: tuple) -> None:
    classes, answers, truth = drawn
    found = quality.measure("classification", list(zip(answers, truth, strict=True)), classes)
    predicted = [a["prediction"] for a in answers]
    proba = np.array([[a["probabilities"][c] for c in classes] for a in answers])
    assert found["accuracy"] == pytest.approx(metrics.accuracy_score(truth, predicted))
    f1 = metrics.f1_score(truth, predicted, pos_label=classes[-1], zero_division=0) \
        if len(classes) == 2 else metrics.f1_score(truth, predicted, labels=classes,
                                                   average="macro", zero_division=0)
    assert found["f1"] == pytest.approx(f1)
    assert found["log_loss"] == pytest.approx(metrics.log_loss(truth, proba, labels=classes))
    present = sorted(set(truth))
    if len(classes) == 2 and len(present) == 2:
        assert found["roc_auc"] == pytest.approx(metrics.roc_auc_score(
            [t == classes[1] for t in truth], proba[:, 1]))
    elif len(present) == len(classes):
        assert found["roc_auc"] == pytest.approx(metrics.roc_auc_score(
            truth, proba, multi_class="ovr", labels=classes, average="macro"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), min_size=1,
                max_size=50))
def test_regression_metrics_equal_scikit_learns(pairs: list[tuple[float, float]]) -> None:
    answers = [({"prediction": p}, t) for p, t in pairs]
    found = quality.measure("regression", answers, None)
    predicted, truth = [p for p, _ in pairs], [t for _, t in pairs]
    assert found["mae"] == pytest.approx(metrics.mean_absolute_error(truth, predicted))
    assert found["rmse"] == pytest.approx(math.sqrt(metrics.mean_squared_error(truth,
                                                                                predicted)))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=50))
def test_anomaly_metrics_equal_scikit_learns(pairs: list[tuple[bool, bool]]) -> None:
    found = quality.measure("anomaly_detection",
                            [({"is_anomaly": f}, t) for f, t in pairs], None)
    flagged, truth = [f for f, _ in pairs], [t for _, t in pairs]
    if any(flagged):
        assert found["precision"] == pytest.approx(metrics.precision_score(truth, flagged))
    else:
        assert "precision" not in found
    if any(truth):
        assert found["recall"] == pytest.approx(metrics.recall_score(truth, flagged))


def test_recommendation_hit_rate_and_ndcg() -> None:
    ranked = {"items": [{"item_id": i} for i in ("a", "b", "c")]}
    found = quality.measure("recommendation", [(ranked, "a"), (ranked, "c"), (ranked, "z")],
                            None)
    assert found["hit_rate"] == pytest.approx(2 / 3)
    assert found["ndcg"] == pytest.approx((1 + 1 / math.log2(4)) / 3)
    truth = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0]])
    scores = np.array([[3, 2, 1]] * 3)
    assert found["ndcg"] == pytest.approx(np.mean([metrics.ndcg_score([t], [s])
                                                   if t.any() else 0.0
                                                   for t, s in zip(truth, scores,
                                                                   strict=True)]))
