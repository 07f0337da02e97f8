"""I take the true outcomes of predictions already made (``POST /feedback``), and publish
the model's quality measured on them.

A request names each prediction by its id (``prediction_id``: the ``X-Request-ID`` of a
``/predict`` answer, or ``<request id>-<index>`` for a record of a batch; a caller that
sends its own ``X-Request-ID`` chooses them) and gives its ``outcome``: a label of the
model's ``classes``, a number for a regressor, ``true``/``false`` (an anomaly or not) for
a detector, the item the user chose for a recommender. I validate every outcome before I
apply any: an unknown id, an id given twice, a label outside the classes or a value of the
wrong type is a 422 naming each one (``body.outcomes.3.prediction_id``), and nothing is
written. Outcomes are keyed by prediction id: one sent again replaces the first, counted
once.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ..spec import ModelSpec
from .quality import measure
from .store import Store

# What one error names, at most, in a 422's message (all are in its detail).
SHOWN = 10


class Outcome(BaseModel):
    """I am the true outcome of one prediction."""

    model_config = ConfigDict(extra="forbid")

    prediction_id: str = Field(min_length=1, max_length=300,
                               description="the prediction's id: the X-Request-ID of a "
                               "/predict answer, or <request id>-<index> in a batch")
    outcome: JsonValue = Field(description="a label of the model's classes, a number "
                               "(regression), true or false (anomaly detection), or the "
                               "item chosen (recommendation)")


class FeedbackRequest(BaseModel):
    """I am the outcomes of predictions already made (one call takes many)."""

    model_config = ConfigDict(extra="forbid")

    outcomes: list[Outcome] = Field(min_length=1, max_length=100_000)


class FeedbackResponse(BaseModel):
    """I say how many outcomes were applied."""

    accepted: int
    request_id: str


def outcome_schema(spec: ModelSpec, item_ids: Sequence[Any] | None = None) -> dict[str, Any]:
    """I return the JSON Schema of this model's outcomes, for the OpenAPI document: its
    classes, a number, a boolean, or a catalogue's item ids (the same checks as
    :meth:`Feedback.check`, which also refuses unknown prediction ids)."""
    if spec.task == "classification" and spec.classes:
        return {"enum": list(spec.classes)}
    if spec.task == "regression":
        return {"type": "number"}
    if spec.task == "anomaly_detection":
        return {"type": "boolean"}
    if item_ids:
        return {"enum": list(item_ids)}
    return {"type": ["string", "integer"]}


class Feedback:
    """I check outcomes against the model and the store, apply them, and measure quality."""

    def __init__(self, spec: ModelSpec, store: Store, window: int,
                 known_items: Any = None) -> None:
        """I keep the model's spec (task and classes), the store, the quality window, and a
        recommender's check of item ids (None: not a recommender)."""
        self.spec = spec
        self.store = store
        self.window = window
        self.known_items = known_items
        self.classes = list(spec.classes or ())

    def _wrong(self, outcome: Any) -> str | None:
        """I say why ``outcome`` cannot be this model's truth (None: it can)."""
        task = self.spec.task
        if task == "classification":
            if any(type(outcome) is type(c) and outcome == c for c in self.classes):
                return None
            shown = ", ".join(json.dumps(c) for c in self.classes[:20])
            return f"{json.dumps(outcome)[:80]} is not one of the model's classes ({shown})"
        if task == "regression":
            if isinstance(outcome, int | float) and not isinstance(outcome, bool) and \
                    math.isfinite(outcome):
                return None
            return "a regression outcome is a finite number"
        if task == "anomaly_detection":
            return None if isinstance(outcome, bool) else \
                "an anomaly outcome is true (an anomaly) or false"
        if isinstance(outcome, str | int) and not isinstance(outcome, bool):
            return None
        return "a recommendation outcome is the id of the item chosen"

    def check(self, outcomes: Sequence[Outcome]
              ) -> tuple[list[dict[str, Any]], dict[str, tuple[str, int]]]:
        """I return every error of ``outcomes``, as a 422's detail (empty: all can be
        applied), and where each known prediction id resolves in the store (its request
        and position), for :meth:`apply`."""
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        wrongs = [self._wrong(item.outcome) for item in outcomes]
        for i, (item, wrong) in enumerate(zip(outcomes, wrongs, strict=True)):
            if item.prediction_id in seen:
                errors.append({"loc": ["body", "outcomes", i, "prediction_id"],
                               "msg": f"prediction id {item.prediction_id!r} is given twice",
                               "type": "duplicate_prediction"})
            seen.add(item.prediction_id)
            if wrong:
                errors.append({"loc": ["body", "outcomes", i, "outcome"], "msg": wrong,
                               "type": "invalid_outcome"})
        if self.known_items is not None:  # ids of the right type only (a dict is no id)
            typed = [(i, item.outcome) for i, (item, wrong) in
                     enumerate(zip(outcomes, wrongs, strict=True)) if wrong is None]
            unknown = set(map(str, self.known_items([outcome for _, outcome in typed])))
            errors += [{"loc": ["body", "outcomes", i, "outcome"],
                        "msg": f"unknown item id {outcome!r}", "type": "unknown_item"}
                       for i, outcome in typed if str(outcome) in unknown]
        where = self.store.resolve(item.prediction_id for item in outcomes)
        errors += [{"loc": ["body", "outcomes", i, "prediction_id"],
                    "msg": f"unknown prediction id {item.prediction_id!r} (never served, or "
                           "not yet written: retry in a second)", "type": "unknown_prediction"}
                   for i, item in enumerate(outcomes) if item.prediction_id not in where]
        return sorted(errors, key=lambda e: e["loc"][2]), where

    def apply(self, outcomes: Sequence[Outcome], where: dict[str, tuple[str, int]]) -> None:
        """I write every outcome in one transaction, with the request and position its
        prediction id resolves to (``where``, from :meth:`check`)."""
        now = time.time()
        self.store.add_outcomes([{"prediction_id": item.prediction_id,
                                  "request_id": where[item.prediction_id][0],
                                  "position": where[item.prediction_id][1],
                                  "received_at": now, "outcome": json.dumps(item.outcome)}
                                 for item in outcomes])

    def families(self) -> list[Metric]:
        """I return the quality gauges over the window: each metric, the labels counted,
        and the share of the window's period's predictions that have an outcome."""
        rows = self.store.window(self.window)
        pairs = [(answer, json.loads(outcome)) for answer, outcome, _, _ in rows]
        quality = GaugeMetricFamily("model_quality", "The task's metrics over the last "
                                    "QUALITY_WINDOW outcomes fed back (POST /feedback).",
                                    labels=["metric"])
        for name, value in measure(self.spec.task, pairs, self.classes).items():
            quality.add_metric([name], value)
        labels = GaugeMetricFamily("model_quality_labels",
                                   "Outcomes in the quality window.", value=len(pairs))
        share = 0.0
        if rows:
            served = self.store.served_since(min(served_at for _, _, served_at, _ in rows))
            share = min(1.0, len(rows) / served) if served else 0.0
        labelled = GaugeMetricFamily(
            "model_quality_labelled_ratio", "Share of the predictions served since the "
            "oldest one in the quality window that have an outcome.", value=share)
        return [quality, labels, labelled]

