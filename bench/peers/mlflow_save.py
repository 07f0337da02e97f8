"""Save the churn model in MLflow's format (run with the bench's mlflow virtualenv)."""

from __future__ import annotations

import sys

import joblib
import mlflow.sklearn

mlflow.sklearn.save_model(joblib.load(sys.argv[1]), sys.argv[2])
