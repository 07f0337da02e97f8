"""Diabetes regressor: scikit-learn's bundled data set, saved in the safe skops format."""

from __future__ import annotations

import sys
from pathlib import Path

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, r2_score
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


def main(out_dir: Path) -> None:
    data = load_diabetes()
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=0
    )
    model = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(X_train, y_train)
    pred = model.predict(X_test)
    names = list(data.feature_names)
    write_experiment(
        out_dir,
        model,
        "skops",
        {
            "experiment_id": "diabetes-ridge-001",
            "model_name": "diabetes_progression",
            "model_version": "0.3.0",
            "task": "regression",
            "target": "disease_progression",
            # The bundled features are already centred and scaled.
            "input_schema": {
                name: {"type": "float", "minimum": -1.0, "maximum": 1.0} for name in names
            },
            "output_schema": {"prediction": "float"},
            "example_input": dict(zip(names, [round(float(v), 5) for v in X_test[0]],
                                      strict=True)),
            "metrics": {
                "r2": round(r2_score(y_test, pred), 4),
                "mae": round(mean_absolute_error(y_test, pred), 4),
            },
            "feature_stats": feature_stats(dict(zip(names, X_train.T, strict=True))),
            "prediction_stats": prediction_stats(model, X_train, None),
            # The held-out rows and their outcomes: the report's reference.
            **write_reference(out_dir, dict(zip(names, X_test.T, strict=True)),
                              "disease_progression", y_test),
        },
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1
         else Path("artifacts/examples/diabetes/modeling"))
