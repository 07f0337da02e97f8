"""I load XGBoost's own model file (JSON or UBJSON) and run it on rows.

I read the booster with XGBoost itself, on one thread (each worker process is one core's
worth of serving), and predict in place from a float matrix: XGBoost casts it to float32,
as it did when the model was trained and verified. A classifier's booster gives class
probabilities (``binary:logistic``: the positive class's), its margins (``multi:softmax``:
I apply the softmax, which is what ``multi:softprob`` returns) or class indices
(``binary:hinge``); the labels are the classes of the manifest, by index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xgboost

from . import frames
from .outputs import Raw
from .spec import ModelSpec


class IncompatibleModel(Exception):
    """I am raised when XGBoost cannot read the file."""


def load(path: Path, spec: ModelSpec) -> Scorer:
    """I read the (already hash-verified) booster."""
    booster = xgboost.Booster()
    try:
        booster.load_model(str(path))
    except xgboost.core.XGBoostError as exc:
        raise IncompatibleModel(f"XGBoost cannot read {path}: {exc}") from None
    booster.set_param({"nthread": 1})
    # I predict positionally: the build checked the booster's feature names against the
    # input schema, in order.
    booster.feature_names = None
    return Scorer(booster, spec)


class Scorer:
    """I hold the booster and turn its outputs into labels, probabilities or values."""

    def __init__(self, booster: xgboost.Booster, spec: ModelSpec) -> None:
        """I keep the booster and my spec's objective."""
        self.booster = booster
        self.spec = spec
        self.objective = spec.objective or ""

    def run(self, rows: frames.Rows) -> Raw:
        """I score rows in one in-place prediction."""
        features = frames.matrix(rows)
        if self.spec.classes is None:
            return Raw(values=self.booster.inplace_predict(features))
        if self.objective == "binary:hinge":
            indices = np.asarray(self.booster.inplace_predict(features)).astype(np.int64)
            return Raw(labels=np.asarray(self.spec.classes, dtype=object)[indices])
        if self.objective == "multi:softmax":
            margin = np.asarray(self.booster.inplace_predict(features, predict_type="margin"),
                                dtype=np.float64)
            shifted = np.exp(margin - margin.max(axis=1, keepdims=True))
            return Raw(proba=shifted / shifted.sum(axis=1, keepdims=True))
        return Raw(proba=self.booster.inplace_predict(features))
