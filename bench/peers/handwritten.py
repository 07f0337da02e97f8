"""A minimal hand-written FastAPI + uvicorn app for the churn model, as a user would write it."""

from __future__ import annotations

import os

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

model = joblib.load(os.environ["MODEL_PATH"])
app = FastAPI()


class Customer(BaseModel):
    age: int
    income: float
    tenure_months: int
    num_products: int
    is_active: bool
    credit_score: float


class Batch(BaseModel):
    records: list[Customer]


def rows(customers: list[Customer]) -> np.ndarray:
    return np.array([[c.age, c.income, c.tenure_months, c.num_products, c.is_active,
                      c.credit_score] for c in customers], dtype=float)


@app.post("/predict")
def predict(customer: Customer) -> dict:
    X = rows([customer])
    return {"prediction": int(model.predict(X)[0]),
            "probabilities": model.predict_proba(X)[0].tolist()}


@app.post("/predict/batch")
def predict_batch(batch: Batch) -> dict:
    X = rows(batch.records)
    return {"predictions": model.predict(X).tolist(),
            "probabilities": model.predict_proba(X).tolist()}
