"""The churn model served the way BentoML's documentation shows: one @bentoml.api method.

The model is saved to the BentoML model store with ``bentoml.sklearn.save_model`` (by
the bench) and loaded with ``bentoml.sklearn.load_model``.
"""

from __future__ import annotations

import os

import bentoml
import numpy as np


@bentoml.service(workers=int(os.environ.get("WORKERS", "1")))
class ChurnDefault:
    def __init__(self) -> None:
        self.model = bentoml.sklearn.load_model("churn_default:latest")

    @bentoml.api
    def predict(self, age: int, income: float, tenure_months: int, num_products: int,
                is_active: bool, credit_score: float) -> dict:
        X = np.array([[age, income, tenure_months, num_products, is_active, credit_score]],
                     dtype=float)
        return {"prediction": int(self.model.predict(X)[0]),
                "probabilities": self.model.predict_proba(X)[0].tolist()}
