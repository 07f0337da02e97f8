"""The service's scoring modules, as Python: every family scores rows exactly as the library
that trained the model, and the predictor turns the outputs into the same answers.

Each model is trained here, saved the way a modelling step hands it over (a joblib pickle,
XGBoost's JSON, LightGBM's text file, CatBoost's .cbm, an ONNX file), loaded by the
service's own module and compared prediction by prediction with the model in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import catboost
import joblib
import lightgbm
import numpy as np
import pytest
import xgboost
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deployment_agent.service import (
    scoring_catboost,
    scoring_lightgbm,
    scoring_onnx,
    scoring_sklearn,
    scoring_xgboost,
)
from deployment_agent.service.outputs import UnreadableOutput
from deployment_agent.service.predictor import Predictor
from deployment_agent.service.spec import Column, ModelSpec, OnnxInput

COLUMNS = tuple(Column(f"f{i}", "float", "float64") for i in range(5))
X, Y = make_classification(300, 5, n_informative=3, n_classes=3, random_state=0)
XR, YR = make_regression(300, 5, random_state=0)
ROWS = [tuple(row) for row in X.tolist()]
ROWS_R = [tuple(row) for row in XR.tolist()]


def spec(family: str, **fields: Any) -> ModelSpec:
    return ModelSpec(family=family, task=fields.pop("task", "classification"), columns=COLUMNS,
                     **fields)


def answers_match(answers: list[dict[str, Any]], labels: Any, proba: Any = None) -> None:
    assert [a["prediction"] for a in answers] == list(labels)
    if proba is not None:
        found = np.array([list(a["probabilities"].values()) for a in answers])
        np.testing.assert_allclose(found, proba, rtol=1e-6, atol=1e-7)


def test_xgboost_json_scores_as_the_booster(tmp_path: Path) -> None:
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(X, Y)
    model.save_model(tmp_path / "model.json")
    classes = ("a", "b", "c")
    native = spec("xgboost", classes=classes, objective="multi:softprob",
                  predict_from_proba=True)
    answers = Predictor(scoring_xgboost.load(tmp_path / "model.json", native), native
                        ).predict(ROWS)
    answers_match(answers, [classes[i] for i in model.predict(X)], model.predict_proba(X))


def test_xgboost_softmax_margins_become_the_softprob_probabilities(tmp_path: Path) -> None:
    softprob = xgboost.XGBClassifier(n_estimators=10, objective="multi:softprob").fit(X, Y)
    softmax = xgboost.train({"objective": "multi:softmax", "num_class": 3, "max_depth": 6,
                             "eta": 0.3}, xgboost.DMatrix(X, Y), num_boost_round=10)
    softmax.save_model(tmp_path / "model.ubj")
    native = spec("xgboost", classes=(0, 1, 2), objective="multi:softmax")
    answers = Predictor(scoring_xgboost.load(tmp_path / "model.ubj", native), native
                        ).predict(ROWS)
    assert [a["prediction"] for a in answers] == softmax.predict(xgboost.DMatrix(X)).astype(
        int).tolist()
    assert abs(sum(answers[0]["probabilities"].values()) - 1) < 1e-9
    assert softprob.n_classes_ == 3


def test_lightgbm_text_model_scores_as_the_booster(tmp_path: Path) -> None:
    model = lightgbm.LGBMRegressor(n_estimators=30, verbose=-1).fit(XR, YR)
    model.booster_.save_model(tmp_path / "model.txt")
    native = spec("lightgbm", task="regression")
    answers = Predictor(scoring_lightgbm.load(tmp_path / "model.txt", native), native
                        ).predict(ROWS_R)
    np.testing.assert_allclose([a["prediction"] for a in answers], model.predict(XR),
                               rtol=1e-12)


def test_catboost_cbm_scores_as_catboost_with_string_categories(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = [[float(v), str(rng.choice(["red", "green", "blue"]))] for v in rng.normal(size=200)]
    labels = [int(v > 0) ^ (c == "red") for v, c in table]
    model = catboost.CatBoostClassifier(iterations=20, verbose=0, cat_features=[1],
                                       allow_writing_files=False)
    model.fit(table, labels)
    model.save_model(str(tmp_path / "model.cbm"))
    columns = (Column("x", "float", "float64"), Column("colour", "str", "object"))
    native = ModelSpec(family="catboost", task="classification", columns=columns,
                       classes=(0, 1), categorical=(1,), predict_from_proba=True)
    rows = [tuple(r) for r in table]
    answers = Predictor(scoring_catboost.load(tmp_path / "model.cbm", native), native
                        ).predict(rows)
    answers_match(answers, model.predict(table).tolist(), model.predict_proba(table))


def test_catboost_in_a_pipeline_predicts_a_column_which_is_read_as_labels(
        tmp_path: Path) -> None:
    """CatBoost's predict() is (n, 1): normalised, not refused."""
    model = make_pipeline(StandardScaler(), catboost.CatBoostClassifier(
        iterations=10, verbose=0, allow_writing_files=False)).fit(X, Y)
    assert model.predict(X).shape == (300, 1)
    joblib.dump(model, tmp_path / "model.joblib")
    native = spec("sklearn", classes=(0, 1, 2))
    answers = Predictor(scoring_sklearn.load(tmp_path / "model.joblib", native), native
                        ).predict(ROWS)
    answers_match(answers, model.predict(X).ravel().tolist(), model.predict_proba(X))


def test_onnx_file_with_a_zipmap_scores_as_the_model_it_was_exported_from(
        tmp_path: Path) -> None:
    from skl2onnx import to_onnx

    model = LogisticRegression(max_iter=500).fit(X.astype(np.float32), Y)
    (tmp_path / "model.onnx").write_bytes(to_onnx(model, X[:1].astype(np.float32),
                                                  target_opset=17).SerializeToString())
    onnx_spec = spec("onnx", classes=(0, 1, 2), onnx_inputs=(OnnxInput("X", "float32",
                                                                       tuple(range(5))),),
                     onnx_outputs={"label": "output_label",
                                   "probabilities": "output_probability"})
    answers = Predictor(scoring_onnx.load(tmp_path / "model.onnx", onnx_spec), onnx_spec
                        ).predict(ROWS)
    answers_match(answers, model.predict(X.astype(np.float32)).tolist(),
                  model.predict_proba(X.astype(np.float32)))


def test_anomaly_scores_are_the_decision_function(tmp_path: Path) -> None:
    model = IsolationForest(random_state=0).fit(X)
    joblib.dump(model, tmp_path / "model.joblib")
    native = spec("sklearn", task="anomaly_detection", score_method="decision_function")
    answers = Predictor(scoring_sklearn.load(tmp_path / "model.joblib", native), native
                        ).predict(ROWS)
    np.testing.assert_array_equal([a["anomaly_score"] for a in answers],
                                  model.decision_function(X))
    assert [a["is_anomaly"] for a in answers] == (model.predict(X) == -1).tolist()


def test_a_model_whose_output_the_service_cannot_read_fails_its_check(tmp_path: Path) -> None:
    """A regressor of two targets predicts (n, 2): the check says so, naming the shape."""
    from sklearn.linear_model import Ridge

    joblib.dump(Ridge().fit(XR, np.column_stack([YR, YR])), tmp_path / "model.joblib")
    native = spec("sklearn", task="regression")
    predictor = Predictor(scoring_sklearn.load(tmp_path / "model.joblib", native), native)
    with pytest.raises(UnreadableOutput, match=r"shape \(1, 2\), expected \(1,\)"):
        predictor.check(ROWS_R[0])


THREADS = {"xgboost": "n_jobs", "lightgbm": "n_jobs", "catboost": "thread_count"}


def booster(library: str, threads: int | None) -> Any:
    """A classifier of ``library`` trained with ``threads`` threads, or with none given."""
    given = {} if threads is None else {THREADS[library]: threads}
    if library == "xgboost":
        return xgboost.XGBClassifier(n_estimators=10, max_depth=3, **given)
    if library == "lightgbm":
        return lightgbm.LGBMClassifier(n_estimators=10, verbose=-1, **given)
    return catboost.CatBoostClassifier(iterations=10, verbose=0, allow_writing_files=False,
                                       **given)


@pytest.mark.parametrize("threads", [None, -1, 1, 4])
@pytest.mark.parametrize("library", sorted(THREADS))
@pytest.mark.parametrize("in_pipeline", [False, True])
def test_a_model_loads_on_one_thread_whatever_thread_count_it_was_trained_with(
        library: str, threads: int | None, in_pipeline: bool, tmp_path: Path) -> None:
    """A worker is one core's worth of serving: every booster is set to one thread when
    loaded, in its library's own way, whatever it was trained with. CatBoost refuses
    set_params once fitted (a model trained with thread_count=1 or 4 could not be
    deployed): its prediction methods take thread_count=1 instead. The answers are those of
    the model as trained (its default, every core per call, served 52 requests/s with
    XGBoost in a 2-worker image)."""
    final = booster(library, threads)
    model = make_pipeline(StandardScaler(), final) if in_pipeline else final
    model.fit(X, Y)
    joblib.dump(model, tmp_path / "model.joblib")
    native = spec("sklearn", classes=(0, 1, 2))
    scorer = scoring_sklearn.load(tmp_path / "model.joblib", native)
    loaded = scorer.model[-1] if in_pipeline else scorer.model
    if library == "catboost":
        assert loaded.predict_proba.keywords == {"thread_count": 1}
        # untouched (CatBoost drops -1, its default, from its parameters)
        assert loaded.get_params().get("thread_count") == (None if threads == -1 else threads)
    else:
        assert loaded.get_params()["n_jobs"] == 1
    answers_match(Predictor(scorer, native).predict(ROWS), model.predict(X).ravel().tolist(),
                  model.predict_proba(X))


def test_the_fitted_copies_inside_meta_estimators_are_set_to_one_thread(
        tmp_path: Path) -> None:
    """A VotingClassifier predicts with the fitted copies in ``estimators_``, which
    ``get_params`` does not reach; LightGBM's ``num_threads`` alias wins over ``n_jobs`` at
    prediction, so it is set too."""
    from sklearn.ensemble import RandomForestClassifier, VotingClassifier

    model = VotingClassifier([
        ("forest", RandomForestClassifier(n_estimators=5, n_jobs=4, random_state=0)),
        ("lightgbm", lightgbm.LGBMClassifier(n_estimators=5, verbose=-1, num_threads=4)),
        ("catboost", booster("catboost", 4))], voting="soft", n_jobs=4).fit(X, Y)
    joblib.dump(model, tmp_path / "model.joblib")
    native = spec("sklearn", classes=(0, 1, 2))
    scorer = scoring_sklearn.load(tmp_path / "model.joblib", native)
    forest, light, cat = scorer.model.estimators_
    assert scorer.model.n_jobs == forest.n_jobs == 1
    assert light.get_params()["num_threads"] == light.n_jobs == 1
    assert cat.predict_proba.keywords == {"thread_count": 1}
    answers_match(Predictor(scorer, native).predict(ROWS), model.predict(X).tolist(),
                  model.predict_proba(X))


class RefusesThreads(KNeighborsClassifier):
    """An estimator that, like CatBoost, refuses a new parameter once fitted."""

    def __init__(self, n_jobs: int | None = None) -> None:
        super().__init__(n_jobs=n_jobs)

    def set_params(self, **params: Any) -> Any:
        if hasattr(self, "classes_"):
            raise RuntimeError("You can't change params of fitted model.")
        return super().set_params(**params)


def test_a_failure_after_the_file_was_read_is_not_blamed_on_the_file(tmp_path: Path) -> None:
    """The loading code's own failure is a ThreadSetupError, and the service's reason says
    the model was read: it never asks the user to re-export a sound file."""
    from deployment_agent.service.model_loader import ModelHandle, ModelLoadError

    joblib.dump(RefusesThreads(n_jobs=2).fit(X, Y), tmp_path / "model.joblib")
    native = spec("sklearn", classes=(0, 1, 2))
    with pytest.raises(scoring_sklearn.ThreadSetupError, match="change params"):
        scoring_sklearn.load(tmp_path / "model.joblib", native)
    from deployment_agent.service.digest import sha256_of

    handle = ModelHandle(tmp_path / "model.joblib", sha256_of(tmp_path / "model.joblib"),
                         native, scoring_sklearn, ROWS[0], tmp_path)
    with pytest.raises(ModelLoadError, match="the model was read, but setting it to one "
                                             "thread failed: RuntimeError"):
        handle.load()


