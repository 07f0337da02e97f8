"""The compile step: ONNX is served only when the gate verified it, else why not is said."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from deployment_agent import run_deployment_agent
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
    out, record = run_deployment_agent(experiments["churn"], output_dir=tmp_path / "d")
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
    strict = settings_file(tmp_path, onnx_tolerance=1e-300)
    out, record = run_deployment_agent(experiments["churn"], output_dir=tmp_path / "d",
                                       settings_path=strict)
    assert record["runtimes"]["model"] == "sklearn"
    reason = record["runtimes"]["model_reason"]
    assert "disagrees on 10001 rows" in reason and "worst row" in reason
    assert record["gate"]["worst_row"]["input"].keys() == json.loads(
        experiments["churn"].read_text())["input_schema"].keys()
    assert not layout_for(experiments["churn"], tmp_path / "d").compiled_model.exists()
    assert "model/model.joblib" in record["files"]
    with pytest.raises(BuildError, match="deployment.model.runtime is onnx, but the float64 "
                                         "conversion disagrees"):
        run_deployment_agent(experiments["churn"], output_dir=tmp_path / "e",
                             settings_path=strict, model_runtime="onnx")


def test_sklearn_runtime_skips_the_conversion(experiments: dict[str, Path],
                                              tmp_path: Path) -> None:
    _, record = run_deployment_agent(experiments["diabetes"], output_dir=tmp_path / "d",
                                     model_runtime="sklearn")
    assert record["runtimes"] == {"serving": "bentoml", "model": "sklearn",
                                  "model_reason": "deployment.model.runtime is sklearn"}
    assert record["gate"] is None


def test_hist_gradient_boosting_passes_or_falls_back_with_a_reason(tmp_path: Path) -> None:
    """skl2onnx 1.20 with onnx 1.23 was seen to fail on this estimator: either way, the
    service is generated and says which runtime serves it, and why."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    joblib.dump(HistGradientBoostingClassifier(max_iter=20).fit(X, y), tmp_path / "m.joblib")
    manifest = {"model_path": "m.joblib", "model_type": "sklearn", "classes": [0, 1],
                "input_schema": {"a": "float", "b": "float", "c": "float"}}
    (tmp_path / "experiment_manifest.json").write_text(json.dumps(manifest))
    _, record = run_deployment_agent(tmp_path / "experiment_manifest.json")
    runtime, reason = record["runtimes"]["model"], record["runtimes"]["model_reason"]
    assert runtime in ("onnx", "sklearn") and reason
    if runtime == "sklearn":
        assert reason.startswith("ONNX not served: ")
    else:
        assert record["gate"]["passed"]
