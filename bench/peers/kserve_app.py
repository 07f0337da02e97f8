"""The churn model on KServe's model server (``kserve.ModelServer``), as KServe's sklearn
server does it: a ``kserve.Model`` that loads the joblib file and answers the V1 protocol
(``POST /v1/models/churn:predict`` with ``{"instances": [[...], ...]}``). Run in the bench's
own kserve virtualenv: ``python kserve_app.py --http_port N --workers 2``."""

from __future__ import annotations

import os
from typing import Any

import joblib
import kserve
from kserve.utils.utils import get_predict_input


class ChurnModel(kserve.Model):
    """predict_proba on the instances, as the sklearn server's ``predict_proba`` mode."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.model: Any = None
        self.load()

    def load(self) -> bool:
        self.model = joblib.load(os.environ["MODEL_PATH"])
        self.ready = True
        return self.ready

    def predict(self, payload: dict[str, Any], headers: dict[str, str] | None = None
                ) -> dict[str, Any]:
        instances = get_predict_input(payload)
        return {"predictions": self.model.predict_proba(instances).tolist()}


if __name__ == "__main__":
    args, _ = kserve.model_server.parser.parse_known_args()
    kserve.ModelServer().start([ChurnModel("churn")])
