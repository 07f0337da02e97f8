"""The churn model on LitServe, as its documentation shows a scikit-learn model: a
``LitAPI`` whose ``predict`` calls ``predict_proba``; ``POST /predict`` takes one record
(``{"input": {...}}``) or several (``{"records": [...]}``). Run in the bench's own litserve
virtualenv: ``python litserve_app.py PORT WORKERS``."""

from __future__ import annotations

import os
import sys
from typing import Any

import joblib
import litserve as ls
import numpy as np

FEATURES = ["age", "income", "tenure_months", "num_products", "is_active", "credit_score"]


class ChurnAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.model = joblib.load(os.environ["MODEL_PATH"])

    def decode_request(self, request):  # type: ignore[no-untyped-def]  # LitServe reads this signature
        records = request["records"] if "records" in request else [request["input"]]
        return np.array([[r[f] for f in FEATURES] for r in records], dtype=np.float64)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x)

    def encode_response(self, output: np.ndarray) -> dict[str, Any]:
        return {"predictions": output.tolist()}


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    server = ls.LitServer(ChurnAPI(), accelerator="cpu", workers_per_device=workers)
    server.run(port=port, host="127.0.0.1", generate_client_file=False)
