"""The churn model served by vetiver (VetiverAPI), run in the bench's own vetiver virtualenv."""

from __future__ import annotations

import os

import joblib
import pandas as pd
from vetiver import VetiverAPI, VetiverModel

FEATURES = ["age", "income", "tenure_months", "num_products", "is_active", "credit_score"]
model = joblib.load(os.environ["MODEL_PATH"])
prototype = pd.DataFrame([[35, 50000.0, 24, 2, True, 720.0]], columns=FEATURES)
app = VetiverAPI(VetiverModel(model, model_name="churn", prototype_data=prototype),
                 check_prototype=True).app
