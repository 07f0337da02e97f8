"""Iris species by measurements and collection site: multiclass, string labels.

The pipeline is fitted on a DataFrame whose column names have spaces and brackets
("petal length (cm)"), one column is categorical with a closed set of values, and one
may be missing (imputed): the service must send it exactly these columns.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiment import (  # noqa: E402
    feature_stats,
    prediction_stats,
    write_experiment,
    write_reference,
)

SITES = ["north meadow", "river bank", "south ridge"]


def make_frame(seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """Iris measurements plus a site each species favours; 5% of petal widths missing."""
    iris = load_iris()
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(iris.data, columns=iris.feature_names)
    labels = np.array(iris.target_names)[iris.target]
    favoured = np.array(SITES)[iris.target]
    frame["collection site"] = np.where(
        rng.random(len(frame)) < 0.7, favoured, rng.choice(SITES, len(frame))
    )
    frame.loc[rng.random(len(frame)) < 0.05, "petal width (cm)"] = np.nan
    return frame, labels


def main(out_dir: Path) -> None:
    frame, labels = make_frame()
    numeric = [c for c in frame.columns if c != "collection site"]
    model = Pipeline([
        ("features", ColumnTransformer([
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
             numeric),
            ("site", OneHotEncoder(categories=[SITES]), ["collection site"]),
        ])),
        ("classifier", LogisticRegression(max_iter=1000)),
    ])
    X_train, X_test, y_train, y_test = train_test_split(
        frame, labels, test_size=0.3, random_state=1, stratify=labels
    )
    model.fit(X_train, y_train)
    pred = model.predict(X_test)
    schema = {c: {"type": "float", "minimum": 0, "maximum": 30} for c in numeric}
    schema["petal width (cm)"]["nullable"] = True
    schema["collection site"] = {"type": "str", "enum": SITES,
                                 "description": "Where the flower was collected"}
    example = X_test.iloc[0].to_dict()
    example = {k: (None if isinstance(v, float) and np.isnan(v) else v)
               for k, v in example.items()}
    write_experiment(
        out_dir,
        model,
        "sklearn",
        {
            "experiment_id": "iris-sites-logreg-001",
            "model_name": "iris_species",
            "model_version": "2.1.0",
            "task": "classification",
            "target": "species",
            "classes": [str(c) for c in model.classes_],
            "input_schema": schema,
            "output_schema": {"prediction": "str", "probabilities": "dict[str, float]"},
            "example_input": example,
            "metrics": {
                "accuracy": round(accuracy_score(y_test, pred), 4),
                "f1_macro": round(f1_score(y_test, pred, average="macro"), 4),
            },
            "feature_stats": feature_stats({c: X_train[c].to_numpy() for c in X_train.columns}),
            "prediction_stats": prediction_stats(model, X_train,
                                                 [str(c) for c in model.classes_]),
            # The held-out rows and their outcomes: the report's reference.
            **write_reference(out_dir, {c: X_test[c].to_numpy() for c in X_test.columns},
                              "species", y_test),
        },
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1
         else Path("artifacts/examples/iris_sites/modeling"))
