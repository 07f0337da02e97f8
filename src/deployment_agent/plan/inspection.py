"""Inspect the model at build time, so that a model the service cannot serve fails the
build, not traffic.

For every family I read what the model says about itself (its classes, its input columns,
its objective) and check it against the manifest; then I load it with the very scoring
code the service runs (:mod:`deployment_agent.service`) and score the example input, in
this process: a model whose output the service cannot read is refused here, with the
reason. The model is only loaded after its sha256 matched the manifest, and only by the
library versions it was trained with: when a library it references is installed here at
another version, I read no pickle and run no self-check (the build's smoke check, in an
environment made from the deployment's own locked requirements, then proves it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from importlib import import_module
from typing import Any

import numpy as np

from ..contract.errors import ModelFileError
from ..contract.manifest import ExperimentManifest
from ..resources import scoring_module
from ..service.predictor import Predictor
from ..service.recommender import Catalogue as RecommenderItems
from ..service.recommender import CatalogueError, Recommender, read_catalogue
from ..service.spec import Catalogue, Column, ModelSpec
from . import features as plan_features
from . import native
from .dependencies import mismatched, pinned
from .references import referenced_modules
from .runtime import family_modules

# Classifiers whose predict() returns classes_[argmax(predict_proba())] (or an argmax of a
# decision function that predict_proba preserves, ties included): for them the service
# derives the prediction from one predict_proba call. Any other classifier gets both calls.
ARGMAX_CLASSIFIERS = frozenset({
    "LogisticRegression", "LogisticRegressionCV", "RandomForestClassifier",
    "ExtraTreesClassifier", "DecisionTreeClassifier", "ExtraTreeClassifier",
    "GradientBoostingClassifier", "HistGradientBoostingClassifier", "MLPClassifier",
    "GaussianNB",
})


@dataclass(frozen=True)
class ModelInfo:
    """What the plan needs to know about the model object itself."""

    verified: bool  # loaded and self-checked here
    task: str
    classes: list[Any] | None
    estimator: str
    final_estimator: str
    spec: ModelSpec  # how the service scores the model file natively
    requirements: dict[str, str]  # the model's own libraries, pinned
    has_proba: bool
    item_ids: list[Any] = dataclasses.field(default_factory=list)  # a recommender's items
    anomaly_rate: float | None = None  # the share of anomalies expected in live traffic
    reason: str | None = None  # why it was not loaded here


# The share of anomalies expected when neither the manifest nor the model says.
DEFAULT_ANOMALY_RATE = 0.1


def model_columns(manifest: ExperimentManifest) -> list[Column]:
    """The model's input columns in order: the query features, then a scorer's item
    features."""
    specs = dict(manifest.input_schema)
    if manifest.recommendation is not None:
        specs.update(manifest.recommendation.item_features)
    return [Column(name, spec.type, plan_features.dtype(spec)) for name, spec in specs.items()]


def _catalogue(manifest: ExperimentManifest, sha256: str, metric: str) -> Catalogue | None:
    spec = manifest.recommendation
    if spec is None:
        return None
    item_columns = spec.item_features if spec.strategy == "scorer" else manifest.input_schema
    return Catalogue(file="model/catalogue.csv", sha256=sha256, item_id=spec.item_id,
                     item_id_type=spec.item_id_type,
                     columns=tuple(Column(n, s.type, plan_features.dtype(s))
                                   for n, s in item_columns.items()),
                     strategy=spec.strategy, max_k=spec.max_k, default_k=spec.default_k,
                     metric=metric)


def _fail(manifest: ExperimentManifest, problem: str, fix: str) -> ModelFileError:
    return ModelFileError(f"{manifest.source}: {problem}. Fix: {fix}")


def _classes(manifest: ExperimentManifest, found: list[Any] | None, count: int | None
             ) -> list[Any] | None:
    """The class labels: the model's own, checked against the manifest's, else the
    manifest's (as many as the model has), else 0..n-1."""
    given = manifest.classes
    if found is not None:
        if given is not None and [str(c) for c in given] != [str(c) for c in found]:
            raise _fail(manifest, f"classes {given} differ from the model's {found}",
                        "list the model's classes in order, or leave classes out")
        return list(given) if given is not None else found  # the manifest's types
    if count is None:
        return given
    if given is not None and len(given) != count:
        raise _fail(manifest, f"classes has {len(given)} labels but the model has {count} "
                    "classes", "list one label per class, in the model's class order")
    return list(given) if given is not None else list(range(count))


def _task(manifest: ExperimentManifest, kind: str) -> str:
    """The task: the manifest's, checked against the kind of model, else the kind's."""
    task = manifest.task
    inferred = {"classifier": "classification", "regressor": "regression",
                "detector": "anomaly_detection"}.get(kind)
    if task is None:
        if inferred is None:
            raise _fail(manifest, f"the model is a {kind}; its task cannot be guessed",
                        'set "task" (a ranker serves as a "recommendation" scorer)')
        return inferred
    if task == "recommendation":
        return task
    if kind == "classifier" and task != "classification":
        raise _fail(manifest, f"task is {task} but the model is a classifier",
                    'set "task": "classification", or leave it out')
    if task == "classification" and kind != "classifier":
        raise _fail(manifest, f"task is classification but the model is a {kind}",
                    "deploy a classifier, or correct task")
    if task == "anomaly_detection" and kind not in ("detector", "regressor"):
        raise _fail(manifest, f"task is anomaly_detection but the model is a {kind}",
                    "deploy an outlier detector (IsolationForest, OneClassSVM, ...)")
    if task == "regression" and kind not in ("regressor",):
        raise _fail(manifest, f"task is regression but the model is a {kind}",
                    'correct "task", or leave it out')
    return task


def _check_features(manifest: ExperimentManifest, columns: list[Column], count: int | None,
                    names: list[str] | None, ordered: bool) -> None:
    if count is not None and count != len(columns):
        raise _fail(manifest, f"the model reads {count} features but the manifest gives "
                    f"{len(columns)}", "list exactly the training features, in order")
    if names is not None:
        expected = [c.name for c in columns]
        if (names != expected) if ordered else (set(names) != set(expected)):
            raise _fail(manifest, f"the model's features {names} differ from the manifest's "
                        f"{expected}", "use the training column names, in training order")


def _sklearn_spec(manifest: ExperimentManifest, columns: list[Column], model: Any,
                  base: ModelSpec) -> tuple[ModelSpec, str, str]:
    """Inspect a scikit-learn-compatible model object; its spec and estimator names."""
    from sklearn.base import is_classifier, is_outlier_detector

    final = model[-1] if hasattr(model, "steps") else model
    neighbors = manifest.recommendation is not None and \
        manifest.recommendation.strategy == "neighbors"
    if not hasattr(model, "kneighbors" if neighbors else "predict"):
        method = "kneighbors" if neighbors else "predict"
        raise _fail(manifest, f"the model ({type(model).__name__}) has no {method}() method",
                    "deploy a fitted estimator" + (" with kneighbors (NearestNeighbors)"
                                                   if neighbors else ""))
    count = getattr(model, "n_features_in_", None) or None  # CatBoost says 0
    if count is None and getattr(final, "feature_names_", None):
        count = len(final.feature_names_)
    names = getattr(model, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else None
    _check_features(manifest, columns, count, names, ordered=False)
    kind = "detector" if is_outlier_detector(model) else \
        "classifier" if is_classifier(model) else "regressor"
    task = _task(manifest, kind)
    found = getattr(model, "classes_", None) if kind == "classifier" else None
    classes = _classes(manifest, [c.item() if hasattr(c, "item") else c for c in found]
                       if found is not None else None, None)
    score_method = None
    threshold = 0.0
    if task == "anomaly_detection":
        score_method = "decision_function" if hasattr(model, "decision_function") else \
            "score_samples" if hasattr(model, "score_samples") else None
        if score_method is None:
            raise _fail(manifest, "the anomaly detector has neither decision_function nor "
                        "score_samples", "deploy an outlier detector that scores samples")
        given = manifest.anomaly.threshold if manifest.anomaly else None
        if score_method == "score_samples" and given is None:
            raise _fail(manifest, "the detector has score_samples only, so its cut is unknown",
                        'set "anomaly": {"threshold": ...}')
        threshold = given if given is not None else 0.0
    metric = str(getattr(model, "effective_metric_", getattr(model, "metric", "euclidean")))
    spec = replace(base, task=task, classes=tuple(classes) if classes is not None else None,
                   dataframe=names is not None or any(c.type == "str" for c in columns),
                   predict_from_proba=type(final).__name__ in ARGMAX_CLASSIFIERS,
                   score_method=score_method, threshold=threshold,
                   catalogue=replace(base.catalogue, metric=metric) if base.catalogue else None)
    return spec, type(model).__name__, type(final).__name__


def _native_spec(manifest: ExperimentManifest, columns: list[Column], base: ModelSpec
                 ) -> tuple[ModelSpec, str, str]:
    """Read a native model file's own description and check it; its spec."""
    path = manifest.model_file
    family = manifest.model_type
    try:
        found = native.onnx_model(path, columns, manifest.task) if family == "onnx" else \
            getattr(native, f"{family}_model")(path)
    except ModelFileError:
        raise
    except Exception as exc:
        raise _fail(manifest, f"cannot read {path} as a {family} model ({type(exc).__name__}: "
                    f"{exc})", "check model_type matches the file, and re-export the model"
                    ) from None
    if family in ("xgboost", "lightgbm") and any(c.type == "str" for c in columns):
        raise _fail(manifest, f"a {family} model file reads numbers only, but input_schema "
                    "has str features", "encode them in a Pipeline saved with joblib "
                    '("model_type": "sklearn"), or declare them as numbers')
    if family == "catboost":
        strings = tuple(i for i, c in enumerate(columns) if c.type == "str")
        if any(i not in found.categorical for i in strings):
            raise _fail(manifest, f"input_schema has str features at positions {strings}, "
                        f"but the model's categorical features are {found.categorical}",
                        "declare the categorical features as str, the others as numbers")
    _check_features(manifest, columns, found.n_features, found.feature_names, ordered=True)
    task = _task(manifest, found.kind)
    if task == "recommendation" and manifest.recommendation is not None and \
            manifest.recommendation.strategy == "neighbors":
        raise _fail(manifest, f"a {family} model has no kneighbors()", 'use "strategy": '
                    '"scorer", or deploy a NearestNeighbors model ("model_type": "sklearn")')
    classes = _classes(manifest, found.classes, found.n_classes) \
        if found.kind == "classifier" else None
    if task == "classification" and not classes:
        raise _fail(manifest, "the model's classes are unknown", 'list them in "classes"')
    threshold = manifest.anomaly.threshold if manifest.anomaly and \
        manifest.anomaly.threshold is not None else 0.0
    spec = replace(base, task=task, classes=tuple(classes) if classes else None,
                   predict_from_proba=True, objective=found.objective,
                   categorical=found.categorical, onnx_inputs=found.onnx_inputs,
                   onnx_outputs=dict(found.onnx_outputs), threshold=threshold,
                   score_method="decision_function" if task == "anomaly_detection" else None)
    return spec, found.estimator, found.estimator


def self_check(manifest: ExperimentManifest, spec: ModelSpec, scorer: Any | None = None,
               items: RecommenderItems | None = None) -> dict[str, Any]:
    """Load the model with the service's scoring module (unless ``scorer`` is given),
    score the example input and check the answer; a ModelFileError says why not."""
    path = manifest.model_file
    module = import_module(f"deployment_agent.service.{scoring_module(spec.family)}")
    try:
        predictor = Predictor(scorer or module.load(path, spec), spec)
        row = tuple(example_row(manifest))
        if spec.catalogue is not None and items is not None:
            recommender = Recommender(predictor, items, spec.catalogue)
            _check_fitted_items(manifest, predictor, recommender)
            return recommender.check(row)
        return predictor.check(row)
    except ModelFileError:
        raise
    except Exception as exc:  # the service's own reason, whatever the library raised
        raise _fail(manifest, f"the model's self-check on the example input failed: "
                    f"{type(exc).__name__}: {exc}", "make sure the model file, its "
                    "model_type and the input_schema belong together") from None


def _check_fitted_items(manifest: ExperimentManifest, predictor: Predictor,
                        recommender: Recommender) -> None:
    """A neighbors model must have been fitted on the catalogue's vectors, in order."""
    if recommender.spec.strategy != "neighbors":
        return
    model = getattr(predictor.scorer, "model", None)
    fitted = getattr(model, "n_samples_fit_", None)
    items = recommender.catalogue.rows
    if fitted is not None and fitted != len(items):
        raise _fail(manifest, f"the model was fitted on {fitted} items but the catalogue has "
                    f"{len(items)}", "deploy the catalogue the model was fitted on")
    vectors = getattr(model, "_fit_X", None)
    if isinstance(vectors, np.ndarray) and not np.allclose(
            vectors, np.array(items, dtype=np.float64), equal_nan=True):
        raise _fail(manifest, "the catalogue's rows are not the vectors the model was fitted "
                    "on, in order", "write the catalogue in the order of the fitted rows")


def example_row(manifest: ExperimentManifest) -> list[Any]:
    """The example input's values in input_schema order (the plan fills in missing ones)."""
    from .context import example_input

    example = example_input(manifest)
    return [example[name] for name in manifest.input_schema]


def inspect_model(manifest: ExperimentManifest, trusted_types: list[str],
                  catalogue_sha256: str = "") -> ModelInfo:
    """Check the model agrees with the manifest, self-check it, and pin its libraries."""
    columns = model_columns(manifest)
    family = manifest.model_type
    versions = manifest.framework_versions or {}
    needs = referenced_modules(manifest.model_file, family) | set(family_modules(family))
    if any(c.type == "str" for c in columns) and family in ("sklearn", "skops"):
        needs.add("pandas")
    requirements = pinned(needs, versions)
    differ = mismatched(requirements)
    base = ModelSpec(family=family, task=manifest.task or "regression", columns=tuple(columns),
                     classes=tuple(manifest.classes) if manifest.classes else None,
                     dataframe="pandas" in needs, skops_trusted_types=tuple(trusted_types),
                     catalogue=_catalogue(manifest, catalogue_sha256, "euclidean"))
    scorer = None
    contamination = None
    if family not in ("sklearn", "skops"):
        spec, estimator, final = _native_spec(manifest, columns, base)
    elif differ:  # never unpickle with other library versions than the training ones
        task = manifest.task or ("classification" if manifest.classes else "regression")
        spec, estimator, final = replace(base, task=task), "?", "?"
    else:
        module = import_module("deployment_agent.service.scoring_sklearn")
        try:
            model = module.load(manifest.model_file, base).model
        except module.IncompatibleModel as exc:
            raise _fail(manifest, f"{manifest.model_file}: {exc.problem}", exc.fix) from None
        except module.ThreadSetupError as exc:  # the file was read: the fault is ours
            raise _fail(manifest, f"the {family} model was read, but setting it to one "
                        f"thread per worker failed ({exc})", "this is a deployment-agent "
                        "bug, not a problem of the model: report it with this message"
                        ) from None
        except Exception as exc:  # corrupt/truncated files raise many different types
            raise _fail(manifest, f"cannot load the {family} model ({type(exc).__name__}: "
                        f"{exc})", "re-export the model, and check model_type matches the "
                        "file format") from None
        spec, estimator, final = _sklearn_spec(manifest, columns, model, base)
        scorer = module.Scorer(model, spec)
        final_step = model[-1] if hasattr(model, "steps") else model
        contamination = getattr(final_step, "contamination", None)
        if spec.dataframe and "pandas" not in needs:
            requirements = pinned(needs | {"pandas"}, versions)
    classes = list(spec.classes) if spec.classes is not None else None
    if family == "onnx":
        requirements = {}  # ONNX Runtime's packages are the model runtime's own
    has_proba = classes is not None and (
        scorer.has_proba if scorer is not None else
        "probabilities" in spec.onnx_outputs if family == "onnx" else
        spec.objective != "binary:hinge")
    items = _read_items(manifest, spec)
    expected = manifest.anomaly.expected_rate if manifest.anomaly else None
    if expected is None and isinstance(contamination, float):
        expected = contamination
    info = ModelInfo(not differ, spec.task, classes, estimator, final, spec, requirements,
                     has_proba, list(items.ids) if items else [],
                     (expected or DEFAULT_ANOMALY_RATE) if spec.task == "anomaly_detection"
                     else None, f"trained with {', '.join(differ)}" if differ else None)
    if not differ:
        self_check(manifest, spec, scorer, items)
    return info


def _read_items(manifest: ExperimentManifest, spec: ModelSpec) -> RecommenderItems | None:
    """A recommender's catalogue, read as the service reads it."""
    if spec.catalogue is None or manifest.catalog_file is None:
        return None
    try:
        return read_catalogue(manifest.catalog_file, spec.catalogue)
    except CatalogueError as exc:
        raise _fail(manifest, f"recommendation.catalog_path: {exc}",
                    "write the catalogue as a CSV with a header naming the item id and "
                    "feature columns, each value of its declared type") from None
