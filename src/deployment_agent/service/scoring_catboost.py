"""I load CatBoost's own model file (.cbm) and run it on rows.

I read the model with CatBoost itself and predict on one thread (each worker process is
one core's worth of serving). Categorical columns stay strings, as CatBoost was trained on
them; the other columns are floats (null is NaN). A classifier gives class probabilities in
the order of its stored class names, which the build checked against the manifest's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import catboost
import numpy as np

from . import frames
from .outputs import Raw
from .spec import ModelSpec


class IncompatibleModel(Exception):
    """I am raised when CatBoost cannot read the file."""


def load(path: Path, spec: ModelSpec) -> Scorer:
    """I read the (already hash-verified) model with the class its task needs."""
    model = catboost.CatBoostClassifier() if spec.classes is not None else \
        catboost.CatBoostRegressor() if spec.task == "regression" else catboost.CatBoost()
    try:
        model.load_model(str(path))
    except catboost.CatBoostError as exc:
        raise IncompatibleModel(f"CatBoost cannot read {path}: {exc}") from None
    return Scorer(model, spec)


class Scorer:
    """I hold the model and return its probabilities or values."""

    def __init__(self, model: Any, spec: ModelSpec) -> None:
        """I keep the model and the positions of its categorical columns."""
        self.model = model
        self.spec = spec
        self.categorical = list(spec.categorical)

    def features(self, rows: frames.Rows) -> Any:
        """I build CatBoost's input: a float matrix, or a Pool with string categories."""
        if not self.categorical:
            return frames.matrix(rows)
        table = np.array(rows, dtype=object)
        for position in range(table.shape[1]):
            column = table[:, position]
            missing = np.equal(column, None)
            if position in self.categorical:
                table[:, position] = np.where(missing, "", column).astype(str)
            else:
                table[:, position] = np.where(missing, np.nan, column).astype(np.float64)
        return catboost.Pool(table.tolist(), cat_features=self.categorical)

    def run(self, rows: frames.Rows) -> Raw:
        """I score rows in one prediction call, on one thread."""
        features = self.features(rows)
        if self.spec.classes is not None:
            return Raw(proba=self.model.predict_proba(features, thread_count=1))
        if self.spec.task == "regression":
            return Raw(values=self.model.predict(features, thread_count=1))
        return Raw(values=self.model.predict(features, prediction_type="RawFormulaVal",
                                             thread_count=1))
