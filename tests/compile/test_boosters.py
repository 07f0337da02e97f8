"""The converters the compile step registers or corrects, against the libraries themselves.

LightGBM compares doubles; onnxmltools writes its thresholds as the nearest float32, which
can send a value down the other branch. Rounding them down makes a float32 input go where
LightGBM sends it. HistGradientBoosting's stock converter writes booleans ONNX refuses.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import lightgbm
import numpy as np
import onnxmltools
import onnxruntime as ort
import pytest
from helpers import generate
from onnxmltools.convert.common.data_types import FloatTensorType
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from deployment_agent.compile import boosters
from deployment_agent.compile.sampling import SEED
from examples.families import wide_multiclass


def wide_booster() -> tuple[lightgbm.Booster, np.ndarray]:
    """The 4-class LightGBM booster of ``families.lightgbm_multiclass`` (features of a wide
    range), and the 10,000 rows the verification gate draws for its schema (uniform within
    the bounds, feature by feature, from the gate's seed)."""
    X, y = wide_multiclass()
    model = lightgbm.LGBMClassifier(n_estimators=300, num_leaves=63, verbose=-1).fit(X, y)
    rng = np.random.default_rng(SEED)
    rows = np.column_stack([rng.uniform(-1e3, 1e3, 10_000) for _ in range(X.shape[1])])
    return model.booster_, rows


def disagreements(onnx_model: object, booster: lightgbm.Booster, rows: np.ndarray) -> int:
    """Rows whose ONNX probabilities differ from LightGBM's beyond the gate's tolerance."""
    expected = booster.predict(rows)
    found = ort.InferenceSession(onnx_model.SerializeToString()).run(  # type: ignore[attr-defined]
        None, {"X": rows.astype(np.float32)})[1]
    return int((np.abs(found - expected) > 1e-5 + 1e-5 * np.abs(expected).max()).any(
        axis=1).sum())


def test_lightgbm_thresholds_rounded_down_agree_with_lightgbm_on_every_row() -> None:
    booster, rows = wide_booster()
    converted = onnxmltools.convert_lightgbm(
        booster, initial_types=[("X", FloatTensorType([None, rows.shape[1]]))], zipmap=False)
    assert disagreements(converted, booster, rows) > 0  # onnxmltools' nearest float32
    changed = boosters.round_thresholds_down(converted.graph.node, booster)
    assert changed > 0
    assert disagreements(converted, booster, rows) == 0


def hist_manifest(folder: Path, model: object, nullable: bool = True) -> Path:
    """Write ``model`` and a manifest of its five features (the first two nullable)."""
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    schema = {f"f{i}": {"type": "float", "minimum": -10, "maximum": 10,
                        "nullable": nullable and i < 2} for i in range(5)}
    path = folder / "experiment_manifest.json"
    path.write_text(json.dumps({"model_path": "model.joblib", "model_type": "sklearn",
                                "input_schema": schema}))
    return path


def training(n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Five features in [-10, 10], NaNs in the first two, and a target of three labels."""
    rng = np.random.default_rng(7)
    X = rng.uniform(-10, 10, (n, 5))
    X[:, :2][rng.random((n, 2)) < 0.15] = np.nan
    codes = (np.nan_to_num(X[:, 0]) > 0).astype(int) + (np.nan_to_num(X[:, 1]) > 3)
    return X, np.array(["churn", "stay", "upgrade"])[codes]


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_hist_gradient_boosting_with_nans_is_served_on_onnx(kind: str, tmp_path: Path) -> None:
    """scikit-learn's recommended booster, trained with NaNs, passes the gate (nulls are
    one gate row in ten) and is served on ONNX."""
    X, labels = training()
    model = HistGradientBoostingClassifier(max_iter=40).fit(X, labels) if kind == \
        "classifier" else HistGradientBoostingRegressor(max_iter=40).fit(
            X, np.nan_to_num(X[:, 0]) * 2 + X[:, 2])
    _, record = generate(hist_manifest(tmp_path / "modeling", model))
    assert record["runtimes"]["model"] == "onnx", record["runtimes"]["model_reason"]
    assert record["gate"]["passed"] and record["gate"]["label_mismatches"] == 0


def test_categorical_splits_are_refused_by_name_and_served_natively(tmp_path: Path) -> None:
    """skl2onnx reads a categorical split as a numeric threshold: never served on ONNX."""
    X, labels = training()
    X[:, 4] = np.abs(np.round(X[:, 4]))
    model = HistGradientBoostingClassifier(max_iter=20, categorical_features=[4]).fit(X, labels)
    _, record = generate(hist_manifest(tmp_path / "modeling", model))
    assert record["runtimes"]["model"] == "native"
    assert "categorical splits" in record["runtimes"]["model_reason"]
