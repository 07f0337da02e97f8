"""A model file's references, read without running it, become pinned requirements."""

from __future__ import annotations

import json
import pickle
import sys
import types
import zipfile
from pathlib import Path
from typing import Any

import joblib
import lightgbm
import numpy as np
import pytest
import xgboost
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from deployment_agent.contract.errors import ModelFileError
from deployment_agent.plan.dependencies import distribution_of, pinned
from deployment_agent.plan.references import pickle_globals, referenced_modules


@pytest.fixture(scope="module")
def pipeline() -> object:
    """Object arrays (the encoder's categories) come before the booster in the file."""
    import pandas as pd

    frame = pd.DataFrame({"a": np.linspace(0, 1, 60), "b": ["x", "y", "z"] * 20})
    steps = ColumnTransformer([("n", StandardScaler(), ["a"]), ("c", OneHotEncoder(), ["b"])])
    return make_pipeline(steps, xgboost.XGBClassifier(n_estimators=3)).fit(
        frame, (frame.a > 0.5).astype(int))


@pytest.mark.parametrize("compress", [0, 3, "lzma", "bz2", "gzip", ("zlib", 5)])
def test_joblib_files_name_every_library_whatever_the_compression(
        pipeline: object, tmp_path: Path, compress: object) -> None:
    joblib.dump(pipeline, tmp_path / "model.joblib", compress=compress)
    assert referenced_modules(tmp_path / "model.joblib", "sklearn") == {
        "builtins", "joblib", "numpy", "sklearn", "xgboost"}


@pytest.mark.parametrize("model", [xgboost.XGBRanker(n_estimators=2),
                                   lightgbm.LGBMClassifier(n_estimators=2, verbose=-1)])
def test_a_boosters_sklearn_wrapper_alone_needs_scikit_learn(model: Any,
                                                             tmp_path: Path) -> None:
    """XGBRanker or LGBMClassifier pickled alone name no sklearn global, yet they load only
    with scikit-learn installed: the pins carry it."""
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    fitted = model.fit(X, y, qid=np.repeat(np.arange(4), 10)) \
        if isinstance(model, xgboost.XGBRanker) else model.fit(X, y)
    joblib.dump(fitted, tmp_path / "model.joblib")
    modules = referenced_modules(tmp_path / "model.joblib", "sklearn")
    assert "sklearn" in modules
    assert "scikit-learn" in pinned(modules, {})


def test_reading_references_runs_nothing_of_the_file(tmp_path: Path) -> None:
    """A pickle that would call os.system on load is only read: its global is named."""

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return os.system, (f"touch {tmp_path / 'pwned'}",)

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Exploit()))
    found = pickle_globals(tmp_path / "evil.pkl")
    assert ("posix", "system") in found or ("os", "system") in found
    assert not (tmp_path / "pwned").exists()


def test_a_module_that_is_not_installed_is_named_with_the_fix(tmp_path: Path) -> None:
    module = types.ModuleType("acme_features")
    Scaler = type("Scaler", (), {"__module__": "acme_features", "__qualname__": "Scaler"})
    module.Scaler = Scaler  # type: ignore[attr-defined]
    sys.modules["acme_features"] = module
    try:
        (tmp_path / "model.pkl").write_bytes(pickle.dumps(Scaler()))
    finally:
        del sys.modules["acme_features"]
    modules = referenced_modules(tmp_path / "model.pkl", "sklearn")
    assert "acme_features" in modules
    with pytest.raises(ModelFileError, match="'acme_features', which is not installed here.*"
                                             "Fix: pip install the library"):
        pinned(modules, {})


def test_objects_of_the_training_script_cannot_be_served(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="defined in __main__.*Fix: define those"):
        pinned({"__main__", "numpy"}, {})


def test_pins_follow_framework_versions_then_the_installed_closure() -> None:
    pins = pinned({"sklearn", "numpy", "builtins", "copyreg"}, {"scikit-learn": "1.9.1",
                                                                 "numpy": "2.4.6"})
    assert pins["scikit-learn"] == "1.9.1" and pins["numpy"] == "2.4.6"
    assert {"scipy", "joblib", "threadpoolctl"} <= set(pins)  # scikit-learn's own
    assert "builtins" not in pins and "copyreg" not in pins
    assert pinned({"sklearn"}, {"scikit-learn": "1.8.0"})["scikit-learn"] == "1.8.0"


def test_xgboost_is_served_by_its_cpu_build_without_cuda() -> None:
    pins = pinned({"xgboost"}, {"xgboost": xgboost.__version__})
    assert pins["xgboost-cpu"] == xgboost.__version__ and "xgboost" not in pins
    assert not [name for name in pins if name.startswith("nvidia-")]
    assert distribution_of("xgboost") == "xgboost"


def test_skops_files_name_the_module_of_every_object(tmp_path: Path) -> None:
    import skops.io
    from sklearn.linear_model import Ridge

    skops.io.dump(make_pipeline(StandardScaler(), Ridge()).fit(np.eye(3), [1, 2, 3]),
                  tmp_path / "model.skops")
    assert {"sklearn", "skops", "numpy"} <= referenced_modules(tmp_path / "model.skops",
                                                               "skops")
    with zipfile.ZipFile(tmp_path / "model.skops") as archive:
        assert json.loads(archive.read("schema.json"))


def test_a_file_that_is_not_what_model_type_says_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.skops").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="cannot read the references of this skops file"):
        referenced_modules(tmp_path / "model.skops", "skops")
