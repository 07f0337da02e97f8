"""Inspection: every family's model is checked against the manifest and self-checked with
the service's own code when the manifest is validated; what cannot be served is refused
there, naming the field and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from helpers import generate
from sklearn.covariance import EllipticEnvelope
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from sklearn.svm import OneClassSVM

from deployment_agent.contract.errors import ModelFileError
from deployment_agent.contract.manifest import load_manifest
from deployment_agent.plan.inspection import inspect_model
from examples.families import NAMES, SCHEMA, neighbours, onnx_file

X = np.random.default_rng(0).normal(size=(200, len(NAMES)))


def write(folder: Path, model: Any, **fields: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    path = folder / "experiment_manifest.json"
    path.write_text(json.dumps({"model_path": "model.joblib", "model_type": "sklearn",
                                "input_schema": SCHEMA, **fields}))
    return path


@pytest.mark.parametrize("detector", [OneClassSVM(nu=0.1), EllipticEnvelope(random_state=0),
                                      LocalOutlierFactor(novelty=True)],
                         ids=lambda d: type(d).__name__)
def test_outlier_detectors_are_anomaly_detection_without_being_told(
        detector: Any, tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, detector.fit(X)))
    info = inspect_model(manifest, [])
    assert info.task == "anomaly_detection" and info.spec.score_method == "decision_function"
    assert info.verified and info.anomaly_rate == pytest.approx(
        detector.contamination if isinstance(getattr(detector, "contamination", None), float)
        else 0.1)


def test_a_detector_with_score_samples_only_needs_a_threshold(tmp_path: Path) -> None:
    path = write(tmp_path, GaussianMixture(2, random_state=0).fit(X),
                 task="anomaly_detection")
    with pytest.raises(ModelFileError, match=r"score_samples only.*Fix: set \"anomaly\": "
                                             r"\{\"threshold\""):
        inspect_model(load_manifest(path), [])
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "anomaly": {"threshold": -12.5}}))
    info = inspect_model(load_manifest(path), [])
    assert info.spec.score_method == "score_samples" and info.spec.threshold == -12.5


def test_an_onnx_file_whose_inputs_differ_from_the_schema_is_refused(tmp_path: Path) -> None:
    case = onnx_file(tmp_path)
    data = json.loads(case.manifest.read_text())
    data["input_schema"] = {**data["input_schema"], "extra": "float"}
    data["example_input"] = {**data["example_input"], "extra": 0.0}
    case.manifest.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=r"graph's inputs \['X'\] do not match input_schema"
                                             r".*Fix: export the model with one 2-D input of 6"):
        generate(case.manifest)


def test_a_neighbours_model_must_be_fitted_on_the_catalogue(tmp_path: Path) -> None:
    case = neighbours(tmp_path)
    joblib.dump(NearestNeighbors().fit(X[:80]), tmp_path / "model.joblib")
    data = json.loads(case.manifest.read_text())
    data.pop("model_sha256")
    case.manifest.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="not the vectors the model was fitted on"):
        generate(case.manifest)
    joblib.dump(NearestNeighbors().fit(X[:30]), tmp_path / "model.joblib")
    with pytest.raises(ModelFileError, match="fitted on 30 items but the catalogue has 80"):
        generate(case.manifest)


def test_a_catalogue_cell_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    case = neighbours(tmp_path)
    catalogue = tmp_path / "items.csv"
    lines = catalogue.read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split(",")[1], "high", 1)
    catalogue.write_text("\n".join(lines) + "\n")
    data = json.loads(case.manifest.read_text())
    data["recommendation"].pop("catalog_sha256")
    case.manifest.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=r"recommendation.catalog_path: .*items.csv line 4, "
                                             r"column 'tenure': 'high' is not a float"):
        generate(case.manifest)
