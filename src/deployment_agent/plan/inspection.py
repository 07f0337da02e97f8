"""Inspect the model at build time, so schema/model mismatches fail the build, not traffic.

The model is only unpickled after its sha256 matched the manifest (see
:func:`deployment_agent.manifest.check_model_file`), and only by the scikit-learn that
trained it: a version mismatch skips inspection here (the pinned serving environment
checks it again) and, where the model *is* loaded, InconsistentVersionWarning is an error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import joblib
import sklearn
import skops.io
from sklearn.exceptions import InconsistentVersionWarning

from ..contract.errors import ModelFileError
from ..contract.manifest import ExperimentManifest

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
    """What the templates need to know about the model object itself."""

    inspected: bool
    classes: list[str | int] | None
    feature_names_in: list[str] | None
    has_proba: bool
    estimator: str
    final_estimator: str = "?"

    @property
    def predict_from_proba(self) -> bool:
        """Whether ``predict`` is exactly the class of highest ``predict_proba``."""
        return self.has_proba and self.final_estimator in ARGMAX_CLASSIFIERS


def load_model(manifest: ExperimentManifest, trusted_types: list[str]) -> Any:
    """Load the model file, treating a scikit-learn version mismatch as an error."""
    path = manifest.model_file
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        try:
            if manifest.model_type == "skops":
                untrusted = [
                    t for t in skops.io.get_untrusted_types(file=path) if t not in trusted_types
                ]
                if untrusted:
                    raise ModelFileError(
                        f"{path}: skops file contains untrusted types {untrusted}. Fix: if you "
                        "trust them, list them under deployment.model.skops_trusted_types in "
                        "config/settings.yaml"
                    )
                return skops.io.load(path, trusted=trusted_types or None)
            return joblib.load(path)
        except InconsistentVersionWarning as warning:
            raise ModelFileError(
                f"{path}: trained with scikit-learn {warning.original_sklearn_version}, "
                f"loaded by {warning.current_sklearn_version}. Fix: install "
                f"scikit-learn=={warning.original_sklearn_version} or retrain the model"
            ) from None
        except ModelFileError:
            raise
        except Exception as exc:  # corrupt/truncated files raise many different types
            raise ModelFileError(
                f"{path}: cannot load {manifest.model_type} model ({type(exc).__name__}: {exc})."
                " Fix: re-export the model, and check model_type matches the file format"
            ) from None


def inspect_model(manifest: ExperimentManifest, trusted_types: list[str]) -> ModelInfo:
    """Load the model and check it agrees with the manifest's schema and classes."""
    trained_with = (manifest.framework_versions or {}).get("scikit-learn")
    if trained_with and trained_with != sklearn.__version__:
        # The build host is not the serving environment: trust the manifest and let
        # the pinned service check the model when it loads it.
        return ModelInfo(False, manifest.classes, None, manifest.task == "classification", "?")
    model = load_model(manifest, trusted_types)
    if not hasattr(model, "predict"):
        raise ModelFileError(f"{manifest.model_file}: the object has no predict() method")
    where = f"{manifest.source}"
    n_in = getattr(model, "n_features_in_", None)
    if n_in is not None and n_in != len(manifest.input_schema):
        raise ModelFileError(
            f"{where}: input_schema has {len(manifest.input_schema)} features but the model "
            f"was fitted on {n_in}. Fix: list exactly the training features, in order"
        )
    names = getattr(model, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else None
    if names is not None and set(names) != set(manifest.input_schema):
        raise ModelFileError(
            f"{where}: input_schema features {sorted(manifest.input_schema)} differ from the "
            f"model's feature_names_in_ {sorted(names)}. Fix: use the training column names"
        )
    classes = getattr(model, "classes_", None)
    classes = [c.item() if hasattr(c, "item") else c for c in classes] if classes is not None \
        else None
    if manifest.classes is not None and classes is not None and \
            [str(c) for c in manifest.classes] != [str(c) for c in classes]:
        raise ModelFileError(
            f"{where}: classes {manifest.classes} differ from the model's classes_ {classes}. "
            "Fix: list model.classes_ in order, or leave classes out"
        )
    if manifest.task == "regression" and classes is not None:
        raise ModelFileError(f"{where}: task is regression but the model is a classifier")
    return ModelInfo(
        inspected=True,
        classes=classes,
        feature_names_in=names,
        has_proba=classes is not None and hasattr(model, "predict_proba"),
        estimator=type(model).__name__,
        final_estimator=type(model[-1] if hasattr(model, "steps") else model).__name__,
    )
