"""Answers built by column (msgspec structs) read and encode exactly as the dicts the API
always answered: for any class labels, including ones msgspec cannot name a field by."""

from __future__ import annotations

import json

import joblib
import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from deployment_agent.contract.text import check_text
from deployment_agent.service import scoring_sklearn
from deployment_agent.service.answers import Answers
from deployment_agent.service.predictor import Predictor
from deployment_agent.service.spec import Column, ModelSpec

COLUMNS = tuple(Column(f"f{i}", "float", "float64") for i in range(3))
X = np.random.default_rng(0).normal(size=(120, 3))


def expected(predictor: Predictor, rows: list[tuple[float, ...]]) -> list[dict[str, object]]:
    """The answers as the service built them before: one dict per record."""
    model = predictor.scorer.model  # type: ignore[attr-defined]
    proba = model.predict_proba(np.array(rows))
    labels = [str(c) for c in model.classes_]
    return [{"prediction": predictor.classes[int(np.argmax(p))],
             "probabilities": dict(zip(labels, p.tolist(), strict=True))} for p in proba]


# Labels the manifest contract accepts: printable text (a NUL, say, is refused there, and
# numpy's string arrays drop it).
LABELS = st.text(min_size=1, max_size=12).filter(lambda label: check_text(label) is None)


@settings(max_examples=25, deadline=None)
@given(st.lists(LABELS, min_size=2, max_size=4, unique=True))
def test_answers_encode_as_the_dicts_for_any_labels(
        tmp_path_factory: pytest.TempPathFactory, labels: list[str]) -> None:
    folder = tmp_path_factory.mktemp("answers")
    y = np.array(labels)[np.arange(len(X)) % len(labels)]
    joblib.dump(LogisticRegression(max_iter=200).fit(X, y), folder / "model.joblib")
    spec = ModelSpec(family="sklearn", task="classification", columns=COLUMNS,
                     classes=tuple(sorted(labels)))
    predictor = Predictor(scoring_sklearn.load(folder / "model.joblib", spec), spec)
    rows = [tuple(r) for r in X[:7].tolist()]
    answers = predictor.predict(rows)
    want = expected(predictor, rows)
    assert isinstance(answers, Answers)
    assert list(answers) == want and answers == want
    assert answers[0] == want[0] and answers[1:3] == want[1:3]
    assert json.loads(msgspec.json.encode(answers.items)) == json.loads(json.dumps(want))
    assert answers.watched == [a["prediction"] for a in want]
