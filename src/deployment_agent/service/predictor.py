"""I turn a model's raw outputs into the service's answers, for every task but
recommendation (:mod:`.recommender` builds on me for that).

- classification: ``{"prediction": label, "probabilities": {label: p}}``, the labels
  being the model's classes and the probabilities in their order;
- regression: ``{"prediction": value}``;
- anomaly detection: ``{"anomaly_score": s, "is_anomaly": s < threshold}``, the score
  being the model's ``decision_function`` (scikit-learn's convention: the lower, the more
  anomalous; below 0 is an outlier, which is what its ``predict`` says) or
  ``score_samples`` with the manifest's threshold.

I know nothing about HTTP or about the model's library: a scoring module runs the model,
:mod:`.outputs` normalises what it returns, and I check, before the service reports ready,
that the example input gives an answer of the right shape and type (:meth:`check`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, Protocol

from . import outputs
from .answers import Answers, answer_type
from .outputs import Raw, UnreadableOutput
from .spec import ModelSpec

# Each answer's shape, as a msgspec struct (see answers.py); a classifier's probabilities
# get theirs when I know its labels.
VALUE = answer_type("Value", [("prediction", float)])
LABEL = answer_type("Label", [("prediction", Any)])
ANOMALY = answer_type("Anomaly", [("anomaly_score", float), ("is_anomaly", bool)])
CLASSIFIED_KEYS = ("prediction", "probabilities")


def probability_types(labels: Sequence[str]) -> tuple[Any, Any] | None:
    """I define the probabilities of these labels (one field each, named by its label)
    and a classified answer holding them; None when msgspec cannot name a field by one of
    the labels (one holding '"', '\\' or a control character): those answers are dicts."""
    names = [f"p{i}" for i in range(len(labels))]
    try:
        probabilities = answer_type("Probabilities", [(n, float) for n in names],
                                    rename=dict(zip(names, labels, strict=True)))
    except ValueError:
        return None
    return probabilities, answer_type("Classified", [("prediction", Any),
                                                     ("probabilities", probabilities)])


def classified_dicts(labels: Sequence[str], predicted: list[Any],
                     proba: list[list[float]]) -> list[dict[str, Any]]:
    """I build classified answers as dicts, by C functions (map, zip, dict) all the same."""
    probabilities = map(dict, map(zip, itertools.repeat(labels), proba))
    return list(map(dict, map(zip, itertools.repeat(CLASSIFIED_KEYS),
                              zip(predicted, probabilities, strict=True))))


class Scorer(Protocol):
    """I am what every scoring module's ``load`` returns: a model that runs on rows."""

    def run(self, rows: Sequence[tuple[object, ...]]) -> Raw:
        """I score rows in one model call."""
        ...


class Predictor:
    """I score rows with a scorer and return one answer per row, in order."""

    def __init__(self, scorer: Scorer, spec: ModelSpec) -> None:
        """I keep the scorer, and the labels of my classes as the answers name them."""
        self.scorer = scorer
        self.spec = spec
        self.classes = list(spec.classes or ())
        self.labels = [str(c) for c in self.classes]
        self.types = probability_types(self.labels)

    def predict(self, rows: Sequence[tuple[object, ...]]) -> Answers:
        """I score validated rows (model column order) and answer for each, building the
        answers column by column (no Python code per record)."""
        raw = self.scorer.run(rows)
        n = len(rows)
        if self.spec.task == "anomaly_detection":
            scores = outputs.numbers(raw.values, n, "the anomaly scores")
            flagged = scores < self.spec.threshold
            values, flags = scores.tolist(), flagged.tolist()
            return Answers(list(map(ANOMALY, values, flags)), values, int(flagged.sum()),
                           {"anomaly_score": values, "is_anomaly": flags})
        if self.spec.classes is None:
            values = outputs.numbers(raw.values, n, "the predictions").tolist()
            return Answers(list(map(VALUE, values)), values, columns={"prediction": values})
        proba = None if raw.proba is None else \
            outputs.probabilities(raw.proba, len(self.classes), n)
        if proba is not None and (self.spec.predict_from_proba or raw.labels is None):
            predicted = outputs.argmax_labels(proba, self.classes)
        elif raw.labels is not None:
            predicted = outputs.labels(raw.labels, self.classes, n)
        else:
            raise UnreadableOutput("the model gave neither labels nor probabilities")
        if proba is None:
            return Answers(list(map(LABEL, predicted)), predicted,
                           columns={"prediction": predicted})
        columns = {"prediction": predicted, "probabilities": proba}
        if self.types is None:
            return Answers(classified_dicts(self.labels, predicted, proba.tolist()), predicted,
                           columns=columns)
        probability, classified = self.types
        probabilities = map(probability, *proba.T.tolist())
        return Answers(list(map(classified, predicted, probabilities)), predicted,
                       columns=columns)

    def scores(self, rows: Sequence[tuple[object, ...]]) -> list[float]:
        """I return one ranking score per row: the positive class's probability for a
        classifier (its last class), else the model's value."""
        raw = self.scorer.run(rows)
        if self.spec.classes is None:
            return outputs.numbers(raw.values, len(rows), "the scores").tolist()
        proba = outputs.probabilities(raw.proba, len(self.classes), len(rows))
        return proba[:, -1].tolist()

    def check(self, row: tuple[object, ...]) -> dict[str, Any]:
        """I score one row and verify the answer is one the service can serve: a known
        class with probabilities that sum to 1, or a finite number. I raise
        UnreadableOutput with the reason otherwise."""
        answer = self.predict([row])[0]
        if self.spec.classes is None:
            key = "anomaly_score" if self.spec.task == "anomaly_detection" else "prediction"
            value = answer[key]
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise UnreadableOutput(f"the model's {key} is {value!r}, not a finite number")
        probabilities = answer.get("probabilities")
        if probabilities is not None:
            values = list(probabilities.values())
            if not all(math.isfinite(p) and -1e-6 <= p <= 1 + 1e-6 for p in values) or \
                    abs(sum(values) - 1) > 1e-3:
                raise UnreadableOutput(f"the model's probabilities {probabilities} are not a "
                                       "distribution over the classes")
        return answer
