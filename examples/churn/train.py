"""Churn classifier: the standard example (six features, binary target).

Trains StandardScaler + LogisticRegression on a seeded synthetic customer data set
and writes ``artifacts/modeling/experiment_manifest.json`` (or the folder given as
the first argument).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiment import (  # noqa: E402
    feature_stats,
    prediction_stats,
    write_experiment,
    write_reference,
)

FEATURES = ["age", "income", "tenure_months", "num_products", "is_active", "credit_score"]
INTEGERS = ("age", "tenure_months", "num_products")


def make_data(n: int = 4000, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Customers whose churn odds fall with tenure, activity and products."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    income = rng.normal(55000, 18000, n).clip(8000, 250000).round(2)
    tenure = rng.integers(0, 120, n)
    products = rng.integers(1, 5, n)
    active = rng.random(n) < 0.6
    credit = rng.normal(680, 70, n).clip(300, 850).round(1)
    logit = (
        1.2
        - 0.03 * tenure
        - 0.9 * active
        - 0.45 * (products - 1)
        - 0.004 * (credit - 680)
        + 0.015 * (age - 45)
        - 0.00001 * (income - 55000)
    )
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))
    X = np.column_stack([age, income, tenure, products, active, credit]).astype(float)
    return X, churn.astype(int)


def main(out_dir: Path) -> None:
    X, y = make_data()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X_train, y_train)
    proba = model.predict_proba(X_test)[:, 1]
    pred = model.predict(X_test)
    write_experiment(
        out_dir,
        model,
        "sklearn",
        {
            "experiment_id": "churn-logreg-001",
            "model_name": "customer_churn",
            "model_version": "1.0.0",
            "task": "classification",
            "target": "churned",
            "classes": [0, 1],
            "input_schema": {
                "age": {"type": "int", "minimum": 18, "maximum": 120,
                        "description": "Customer age in years"},
                "income": {"type": "float", "minimum": 0,
                           "description": "Yearly income"},
                "tenure_months": {"type": "int", "minimum": 0,
                                  "description": "Months as a customer"},
                "num_products": {"type": "int", "minimum": 1, "maximum": 10,
                                 "description": "Products held"},
                "is_active": {"type": "bool", "description": "Active in the last 90 days"},
                "credit_score": {"type": "float", "minimum": 300, "maximum": 850,
                                 "description": "Credit score"},
            },
            "output_schema": {"prediction": "int", "probabilities": "dict[str, float]"},
            "example_input": {
                "age": 35, "income": 50000.0, "tenure_months": 24, "num_products": 2,
                "is_active": True, "credit_score": 720.0,
            },
            "metrics": {
                "accuracy": round(accuracy_score(y_test, pred), 4),
                "f1": round(f1_score(y_test, pred), 4),
                "roc_auc": round(roc_auc_score(y_test, proba), 4),
            },
            "feature_stats": feature_stats({
                **dict(zip(FEATURES, X_train.T, strict=True)),
                "is_active": X_train[:, FEATURES.index("is_active")].astype(bool),
            }),
            "prediction_stats": prediction_stats(model, X_train, [0, 1]),
            # The held-out rows and their outcomes: the report's reference.
            **write_reference(out_dir, {
                name: (X_test[:, i].astype(bool) if name == "is_active" else
                       X_test[:, i].astype(int) if name in INTEGERS else X_test[:, i])
                for i, name in enumerate(FEATURES)}, "churned", y_test),
        },
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("artifacts/modeling"))
