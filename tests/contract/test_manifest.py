"""Manifest validation: every malformed manifest is refused with the field and the fix,
and nothing is written (a previous good deployment stays as it was)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import pytest
import sklearn.base
from helpers import generate

from deployment_agent.contract.errors import DeploymentAgentError, ManifestError, ModelFileError
from deployment_agent.contract.manifest import load_manifest, manifest_json_schema

Mutation = Callable[[dict[str, Any], Path], None]


def _set(key: str, value: Any) -> Mutation:
    return lambda m, _: m.__setitem__(key, value)


def _drop(key: str) -> Mutation:
    return lambda m, _: m.pop(key)


def _feature(name: str, spec: Any) -> Mutation:
    return lambda m, _: m["input_schema"].__setitem__(name, spec)


def _remove_feature(m: dict[str, Any], _: Path) -> None:
    del m["input_schema"]["credit_score"]
    del m["example_input"]["credit_score"]
    del m["feature_stats"]["credit_score"]


def _delete_model(m: dict[str, Any], folder: Path) -> None:
    (folder / m["model_path"]).unlink()


def _tamper_model(m: dict[str, Any], folder: Path) -> None:
    with (folder / m["model_path"]).open("ab") as handle:
        handle.write(b"\0")


def _tamper_reference(m: dict[str, Any], folder: Path) -> None:
    with (folder / m["reference_path"]).open("a") as handle:
        handle.write("1,2,3\n")


def _narrow_reference(m: dict[str, Any], folder: Path) -> None:
    import hashlib

    import pandas as pd

    path = folder / m["reference_path"]
    pd.read_csv(path).drop(columns=["credit_score"]).to_csv(path, index=False)
    m["reference_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()


def _unknown_reference(m: dict[str, Any], _: Path) -> None:
    m["reference_path"] = m["model_path"]
    m.pop("reference_sha256")


# (case id, how to break the manifest, error class, text the message must contain)
CASES: list[tuple[str, Mutation, type[Exception], str]] = [
    ("missing model_path", _drop("model_path"), ManifestError, "model_path: required"),
    ("missing model_type", _drop("model_type"), ManifestError, "model_type: required"),
    ("missing input_schema", _drop("input_schema"), ManifestError, "input_schema: required"),
    ("empty input_schema", _set("input_schema", {}), ManifestError, "input_schema: Dictionary"),
    ("unknown type", _feature("age", "integer"), ManifestError,
     'input_schema["age"].type: unknown type \'integer\''),
    ("unknown type in spec", _feature("age", {"type": "number"}), ManifestError,
     'input_schema["age"].type'),
    ("unsupported model_type", _set("model_type", "pytorch"), ManifestError, "model_type: Input"),
    ("empty model_path", _set("model_path", ""), ManifestError, "model_path"),
    ("model file missing", _delete_model, ManifestError, "not found"),
    ("sha256 mismatch", _tamper_model, ManifestError, "model_sha256: "),
    ("reference sample altered", _tamper_reference, ManifestError, "reference_sha256: "),
    ("reference sample without a feature", _narrow_reference, ManifestError,
     "reference_path: reference.csv lacks the columns ['credit_score']"),
    ("reference sample of an unknown format", _unknown_reference, ManifestError,
     "reference_path: model.joblib is neither .csv nor .parquet"),
    ("malformed sha256", _set("model_sha256", "abc"), ManifestError, "model_sha256: String"),
    ("minimum above maximum", _feature("age", {"type": "int", "minimum": 9, "maximum": 1}),
     ManifestError, 'input_schema["age"]: minimum 9.0 is greater'),
    ("bounds on a bool", _feature("is_active", {"type": "bool", "minimum": 0}), ManifestError,
     'input_schema["is_active"]: minimum/maximum apply'),
    ("enum on a float", _feature("income", {"type": "float", "enum": [1.5]}), ManifestError,
     'input_schema["income"]'),
    ("enum of the wrong type", _feature("age", {"type": "int", "enum": ["old"]}), ManifestError,
     'input_schema["age"]: enum values'),
    ("misspelt spec key", _feature("age", {"type": "int", "min": 1}), ManifestError,
     'input_schema["age"].min: unknown key'),
    ("unknown task", _set("task", "clustering"), ManifestError, "task: Input should be"),
    ("classes on a regression", _set("task", "regression"), ManifestError,
     "classes are given but task is regression"),
    ("example_input incomplete", lambda m, _: m["example_input"].pop("age"), ManifestError,
     "example_input does not match input_schema"),
    ("non-numeric metric", lambda m, _: m["metrics"].__setitem__("accuracy", "high"),
     ManifestError, "metrics.accuracy"),
    ("schema narrower than the model", _remove_feature, ModelFileError,
     "the model reads 6 features but the manifest gives 5"),
    ("classes differ from the model", _set("classes", [1, 0]), ModelFileError,
     "classes [1, 0] differ from the model's [0, 1]"),
    ("skops type on a joblib file", _set("model_type", "skops"), ModelFileError,
     "cannot read the references of this skops file"),
    ("recommendation without its section", _set("task", "recommendation"), ManifestError,
     "classes are given but task is recommendation"),
    ("regression task on a classifier", lambda m, _: (m.pop("classes"), m.update(
        task="regression")), ModelFileError, "task is regression but the model is a "
     "classifier"),
    ("anomaly section on a classifier", _set("anomaly", {"threshold": 0}), ManifestError,
     'anomaly: this section needs "task": "anomaly_detection"'),
    ("xgboost type on a joblib file", _set("model_type", "xgboost"), ModelFileError,
     "cannot read"),
    ("control character in a feature name", _feature("age\nnext", "int"), ManifestError,
     "feature name 'age\\nnext': character 4 is a control character (U+000A)"),
    ("line separator in a model name", _set("model_name", "churn\u2028model"), ManifestError,
     "model_name: value 'churn\\u2028model': character 6 is a line separator"),
    ("lone surrogate in a class label", _set("classes", ["\ud800", "b"]), ManifestError,
     "classes: class label '\\ud800': character 1 is a lone surrogate"),
    ("duplicate enum values", _feature("region", {"type": "str", "enum": ["a", "a"]}),
     ManifestError, "enum values must be distinct"),
]


@pytest.fixture
def churn(experiments: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of the trained churn experiment (model + manifest)."""
    folder = tmp_path / "modeling"
    shutil.copytree(experiments["churn"].parent, folder)
    return folder / "experiment_manifest.json"


def _rewrite(path: Path, mutate: Mutation) -> None:
    data = json.loads(path.read_text())
    mutate(data, path.parent)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(("mutate", "kind", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_manifest_is_refused_and_nothing_is_written(
    churn: Path, mutate: Mutation, kind: type[Exception], expected: str
) -> None:
    _rewrite(churn, mutate)
    with pytest.raises(kind) as raised:
        generate(churn)
    message = str(raised.value)
    assert expected in message
    assert "Fix:" in message
    assert not (churn.parent.parent / "deployment").exists()


def test_missing_file_and_invalid_json_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="file not found. Fix: run the modelling step"):
        load_manifest(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"model_path": "m.joblib",\n "model_type": }')
    with pytest.raises(ManifestError, match=r"not valid JSON at line 2 column 16"):
        load_manifest(broken)
    broken.write_text("[1, 2]")
    with pytest.raises(ManifestError, match="top level must be a JSON object"):
        load_manifest(broken)


def test_model_from_another_scikit_learn_is_refused(churn: Path, monkeypatch:
                                                    pytest.MonkeyPatch) -> None:
    """InconsistentVersionWarning is an error naming both versions."""
    data = json.loads(churn.read_text())
    model = joblib.load(churn.parent / data["model_path"])
    monkeypatch.setattr(sklearn.base, "__version__", "1.0.2")  # what __getstate__ records
    joblib.dump(model, churn.parent / data["model_path"])
    monkeypatch.undo()
    data.pop("model_sha256")
    churn.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=r"trained with scikit-learn 1\.0\.2, loaded by "
                                             r"1\.9\.1\. Fix: install scikit-learn==1\.0\.2"):
        generate(churn)


def test_failed_run_keeps_the_previous_deployment(churn: Path) -> None:
    out, _ = generate(churn)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    _rewrite(churn, _feature("age", "integer"))
    with pytest.raises(DeploymentAgentError):
        generate(churn, api_version="2.0.0")
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in out.parent.iterdir() if "staging" in p.name]


def test_multiline_descriptions_are_text(churn: Path) -> None:
    _rewrite(churn, _feature("age", {"type": "int", "description": "Age\n\tin years"}))
    assert load_manifest(churn).input_schema["age"].description == "Age\n\tin years"
    _rewrite(churn, _feature("age", {"type": "int", "description": "Age\x00"}))
    with pytest.raises(ManifestError, match=r"description 'Age\\x00': character 4 is a "
                                            "control character"):
        load_manifest(churn)


def test_short_and_long_feature_forms_and_unknown_fields(churn: Path) -> None:
    _rewrite(churn, lambda m, _: m.update(owner="team-churn",
                                          input_schema={**m["input_schema"], "age": "int"}))
    manifest = load_manifest(churn)
    assert manifest.input_schema["age"].type == "int"
    assert manifest.model_extra == {"owner": "team-churn"}


def test_json_schema_export_matches_the_committed_file() -> None:
    committed = Path(__file__).parents[2] / "docs" / "experiment_manifest.schema.json"
    assert json.loads(committed.read_text()) == manifest_json_schema()
    assert set(manifest_json_schema()["required"]) == {"model_path", "model_type",
                                                        "input_schema"}
