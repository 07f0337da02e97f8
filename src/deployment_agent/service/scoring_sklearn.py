"""I load a scikit-learn-compatible model (a joblib or pickle file, or a skops file) and
run it on rows.

Anything with scikit-learn's API is served this way: pipelines, and XGBoost, LightGBM or
CatBoost estimators pickled inside them. I refuse a model pickled by another scikit-learn
(InconsistentVersionWarning is an error here): its arithmetic may differ silently. A skops
file may hold only the types skops trusts by default and those the build configuration
lists (never types the file itself asks for).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from . import frames
from .outputs import Raw
from .spec import ModelSpec


class IncompatibleModel(Exception):
    """I am raised when the file cannot be trusted to score as it did when trained: with
    what is wrong, and what to do about it."""

    def __init__(self, problem: str, fix: str) -> None:
        """I keep the problem and the fix apart, for whoever reports them."""
        super().__init__(f"{problem}; {fix}")
        self.problem, self.fix = problem, fix


def _deserialise(path: Path, spec: ModelSpec) -> Any:
    """I read the (already hash-verified) file with the library its format needs."""
    if spec.family == "skops":
        import skops.io

        untrusted = set(skops.io.get_untrusted_types(file=path)) - set(spec.skops_trusted_types)
        if untrusted:
            raise IncompatibleModel(
                f"skops file holds untrusted types {sorted(untrusted)}",
                "if you trust them, list them under deployment.model.skops_trusted_types")
        return skops.io.load(path, trusted=list(spec.skops_trusted_types) or None)
    import joblib

    return joblib.load(path)


# The parameters by which scikit-learn's, XGBoost's and LightGBM's estimators take their
# number of threads (LightGBM's aliases included); each library accepts a change of them
# on a fitted model.
THREAD_PARAMETERS = ("n_jobs", "nthread", "nthreads", "num_thread", "num_threads")
# CatBoost refuses any parameter change once fitted: its prediction methods take the
# number of threads as an argument instead (-1, their default, is every core).
CATBOOST_METHODS = ("predict", "predict_proba", "predict_log_proba")


def estimators(model: Any) -> Iterator[Any]:
    """I yield every estimator the model holds, once each: the model itself, a pipeline's
    steps, and the fitted copies inside meta-estimators (``estimators_``, calibrated
    classifiers), which ``get_params`` does not reach."""
    seen: set[int] = set()
    stack = [model]
    while stack:
        found = stack.pop()
        if id(found) in seen:
            continue
        seen.add(id(found))
        if isinstance(found, list | tuple):
            stack.extend(found)
        elif isinstance(found, dict):
            stack.extend(found.values())
        elif hasattr(found, "get_params"):
            yield found
            stack.extend(getattr(found, "__dict__", {}).values())


def _is_catboost(estimator: Any) -> bool:
    """I tell a CatBoost model by its library, without importing CatBoost."""
    return type(estimator).__module__.split(".", 1)[0] == "catboost"


def one_thread(model: Any) -> Any:
    """I make every estimator of the model score on one thread, in each library's own way,
    whatever thread count it was trained with (or none): each worker process is one
    core's worth of serving, and threads of several workers fighting over the cores cost
    far more than they give (an XGBoost pipeline served 52 requests/s with its default
    threads). The predictions do not change.

    scikit-learn, XGBoost and LightGBM take a new thread parameter on a fitted model; a
    CatBoost model's prediction methods are bound to ``thread_count=1`` on this object,
    because CatBoost refuses ``set_params`` once fitted."""
    for estimator in estimators(model):
        if _is_catboost(estimator):
            for name in CATBOOST_METHODS:
                method = getattr(type(estimator), name, None)
                if method is not None:
                    setattr(estimator, name, partial(method, estimator, thread_count=1))
            continue
        threads = {name: 1 for name in estimator.get_params(deep=False)
                   if name in THREAD_PARAMETERS}
        if threads:
            estimator.set_params(**threads)
    return model


class ThreadSetupError(Exception):
    """I am raised when the model was read but could not be set to one thread: a fault of
    this loading code, not of the model file."""


def _read(path: Path, spec: ModelSpec) -> Any:
    """I deserialise the model, treating a scikit-learn version mismatch as an error."""
    try:
        from sklearn.exceptions import InconsistentVersionWarning
    except ImportError:  # a model that holds no scikit-learn object needs no scikit-learn
        return _deserialise(path, spec)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        try:
            return _deserialise(path, spec)
        except InconsistentVersionWarning as warning:
            raise IncompatibleModel(
                f"trained with scikit-learn {warning.original_sklearn_version}, loaded by "
                f"{warning.current_sklearn_version}",
                f"install scikit-learn=={warning.original_sklearn_version} or retrain the "
                "model") from None


def load(path: Path, spec: ModelSpec) -> Scorer:
    """I read the model, then set it to one thread. A failure of the second step is a
    ThreadSetupError, never confused with a file that cannot be read."""
    model = _read(path, spec)
    try:
        return Scorer(one_thread(model), spec)
    except Exception as exc:
        raise ThreadSetupError(f"{type(exc).__name__}: {exc}") from exc


class Scorer:
    """I hold the model and call the methods its task needs, once per batch."""

    def __init__(self, model: Any, spec: ModelSpec) -> None:
        """I keep the model and what my spec says about it."""
        self.model = model
        self.spec = spec
        self.has_proba = spec.classes is not None and hasattr(model, "predict_proba")

    def features(self, rows: frames.Rows) -> Any:
        """I build what the model was fitted on: a typed DataFrame or a float matrix."""
        return frames.dataframe(rows, self.spec.columns) if self.spec.dataframe else \
            frames.matrix(rows)

    def run(self, rows: frames.Rows) -> Raw:
        """I score rows in one vectorised call per method the task needs.

        For a classifier whose predict() is the class of highest probability, I read the
        prediction off predict_proba rather than pay for a second model call."""
        features = self.features(rows)
        if self.spec.classes is not None:
            proba = self.model.predict_proba(features) if self.has_proba else None
            if proba is not None and self.spec.predict_from_proba:
                return Raw(proba=proba)
            return Raw(labels=self.model.predict(features), proba=proba)
        if self.spec.task == "anomaly_detection":
            return Raw(values=getattr(self.model, self.spec.score_method or
                                      "decision_function")(features))
        return Raw(values=self.model.predict(features))

    def kneighbors(self, rows: frames.Rows, n: int) -> tuple[Any, Any]:
        """I return the distances and catalogue positions of each row's ``n`` nearest
        items (a model with kneighbors, fitted on the catalogue's vectors)."""
        return self.model.kneighbors(self.features(rows), n_neighbors=n)
