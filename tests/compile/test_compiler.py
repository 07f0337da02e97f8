"""The compile step: ONNX is served only when the gate verified it, else why not is said."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pytest
from helpers import generate
from sklearn.ensemble import HistGradientBoostingClassifier

from deployment_agent.contract.errors import BuildError
from deployment_agent.plan.layout import layout_for


def settings_file(folder: Path, **model: object) -> Path:
    path = folder / "settings.yaml"
    lines = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in model.items())
    path.write_text(f"deployment:\n  model:\n{lines}")
    return path


def gate(manifest: Path, output: Path) -> dict[str, object]:
    return json.loads(layout_for(manifest, output).gate_report.read_text())


def test_a_verified_conversion_is_served(experiments: dict[str, Path], tmp_path: Path) -> None:
    out, record = generate(experiments["churn"], output_dir=tmp_path / "d")
    report = gate(experiments["churn"], tmp_path / "d")
    assert record["runtimes"]["model"] == "onnx" and report["runtime"] == "onnx"
    figures = record["gate"]
    assert figures["passed"] and figures["rows"] == 10_001  # the example + 10,000 sampled
    assert figures["label_mismatches"] == 0 and figures["max_abs_diff"] <= 1e-5
    assert record["model"]["file"] == "model/model.onnx"
    assert record["model"]["sha256"] == report["onnx_sha256"]
    assert report["onnx_sha256"] in (out / "api" / "settings.py").read_text()
    assert "10001 rows" in (out / "runbook.md").read_text()
    assert not (out / "model" / "model.joblib").exists()


def test_a_disagreement_falls_back_naming_the_worst_row(experiments: dict[str, Path],
                                                        tmp_path: Path) -> None:
    """A tolerance below double precision's own noise: the real conversion disagrees."""
    strict = settings_file(tmp_path, onnx_tolerance=1e-300, onnx_rtol=0)
    out, record = generate(experiments["churn"], output_dir=tmp_path / "d",
                                       settings_path=strict)
    assert record["runtimes"]["model"] == "native"
    reason = record["runtimes"]["model_reason"]
    assert "disagrees on 10001 rows" in reason and "worst row" in reason
    assert record["gate"]["worst_row"]["input"].keys() == json.loads(
        experiments["churn"].read_text())["input_schema"].keys()
    assert not layout_for(experiments["churn"], tmp_path / "d").compiled_model.exists()
    assert "model/model.joblib" in record["files"]
    with pytest.raises(BuildError, match="deployment.model.runtime is onnx, but the float64 "
                                         "conversion disagrees"):
        generate(experiments["churn"], output_dir=tmp_path / "e",
                             settings_path=strict, model_runtime="onnx")


def test_sklearn_runtime_skips_the_conversion(experiments: dict[str, Path],
                                              tmp_path: Path) -> None:
    _, record = generate(experiments["diabetes"], output_dir=tmp_path / "d",
                                     model_runtime="native")
    assert record["runtimes"] == {"serving": "bentoml", "model": "native",
                                  "model_reason": "deployment.model.runtime is native"}
    assert record["gate"] is None


def test_hist_gradient_boosting_is_served_on_onnx_with_a_short_reason(tmp_path: Path) -> None:
    """A 10-class HistGradientBoostingClassifier on the digits: skl2onnx 1.20's stock
    converter failed on it with megabytes of array dumps around the cause (booleans in an
    integer attribute); the registered converter fixes that, and the gate passes. The
    reason is one line of at most 500 characters, and no generated file is large."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    joblib.dump(HistGradientBoostingClassifier(max_iter=20).fit(X, y), tmp_path / "m.joblib")
    manifest = {"model_path": "m.joblib", "model_type": "sklearn",
                "input_schema": {f"pixel {i}": {"type": "float", "minimum": 0, "maximum": 16}
                                 for i in range(64)}}
    (tmp_path / "experiment_manifest.json").write_text(json.dumps(manifest))
    out, record = generate(tmp_path / "experiment_manifest.json")
    runtime, reason = record["runtimes"]["model"], record["runtimes"]["model_reason"]
    assert runtime == "onnx", reason
    assert "\n" not in reason and len(reason) <= 500
    assert record["gate"]["passed"]
    generated = [p for p in out.rglob("*") if p.is_file() and "static" not in p.parts
                 and p.parent.name != "model"]
    assert max(p.stat().st_size for p in generated) < 200_000


def test_boosters_in_pipelines_convert_through_the_registered_converters(
        tmp_path: Path) -> None:
    """XGBoost, LightGBM and CatBoost estimators inside scikit-learn pipelines convert (their
    converters registered with skl2onnx, in float32 inside a double graph) and pass the
    gate; the reason names the trained estimator."""
    from examples.families import catboost_pickle, lightgbm_pickle, xgboost_pickle

    for name, make in (("xgboost", xgboost_pickle), ("lightgbm", lightgbm_pickle),
                       ("catboost", catboost_pickle)):
        folder = tmp_path / name / "modeling"
        folder.mkdir(parents=True)
        case = make(folder)
        _, record = generate(case.manifest)
        assert record["runtimes"]["model"] == "onnx", record["runtimes"]["model_reason"]
        assert record["gate"]["passed"] and record["gate"]["label_mismatches"] == 0
