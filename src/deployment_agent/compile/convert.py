"""Convert a trained model to ONNX: scikit-learn pipelines with skl2onnx (boosters inside
them included, :mod:`.boosters`), native XGBoost and LightGBM boosters with onnxmltools,
CatBoost models with CatBoost's own export.

A pipeline fitted on a DataFrame gets one ONNX input per column (strings as strings,
everything else as numbers, null as NaN); any other model gets a single numeric matrix
input. Numbers are double where the converters and ONNX Runtime support it (float32
thresholds can send a value down the other side of a tree split), else float32. Native
boosters score in float32 themselves, so their graphs take float32. Classifiers output a
probability tensor (no ZipMap).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..service.spec import ModelSpec
from . import boosters

MATRIX_INPUT = "X"
PRECISIONS = ("float64", "float32")
# Native boosters score in float32: only a float32 graph can agree with them.
NATIVE_PRECISIONS = ("float32",)
# Operator sets: ai.onnx.ml 3 has tree ensembles with double thresholds and outputs.
TARGET_OPSET = {"": 21, "ai.onnx.ml": boosters.TARGET_ML_OPSET}
BOOSTER_LIBRARIES = ("xgboost", "lightgbm", "catboost")


class ConversionError(Exception):
    """The model could not be converted (an unsupported estimator or option)."""


def _sklearn(model: Any, spec: ModelSpec, precision: str, libraries: set[str]) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    boosters.register_hist_gradient_boosting()
    for library in sorted(libraries & set(BOOSTER_LIBRARIES)):
        boosters.register(library)
    number = DoubleTensorType if precision == "float64" else FloatTensorType
    if spec.dataframe:
        initial = [(c.name, StringTensorType([None, 1]) if c.type == "str" else
                    number([None, 1])) for c in spec.columns]
    else:
        initial = [(MATRIX_INPUT, number([None, len(spec.columns)]))]
    final = model[-1] if hasattr(model, "steps") else model
    options = {id(final): {"zipmap": False}} if spec.classes is not None else None
    # A fixed graph name: skl2onnx's default is a random id, and the same model must
    # always give the same bytes (and sha256).
    onnx_model = convert_sklearn(model, initial_types=initial, options=options,
                                 target_opset=TARGET_OPSET, name="model")
    return onnx_model.SerializeToString()


def _booster(model: Any, spec: ModelSpec) -> bytes:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    initial = [(MATRIX_INPUT, FloatTensorType([None, len(spec.columns)]))]
    # onnxmltools picks the newest operator set it supports (older than skl2onnx's).
    if spec.family == "xgboost":
        onnx_model = onnxmltools.convert_xgboost(model, initial_types=initial, name="model")
    else:
        onnx_model = onnxmltools.convert_lightgbm(model, initial_types=initial, name="model",
                                                  zipmap=False)
        boosters.round_thresholds_down(onnx_model.graph.node, model)
    return onnx_model.SerializeToString()


def _catboost(model: Any) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        model.save_model(str(path), format="onnx")
        return path.read_bytes()


def precisions(family: str) -> tuple[str, ...]:
    """The precisions to try, best first, for a model of ``family``."""
    return PRECISIONS if family in ("sklearn", "skops") else NATIVE_PRECISIONS


def convert(model: Any, spec: ModelSpec, precision: str, libraries: set[str]) -> bytes:
    """The serialised ONNX model of ``model`` (scored as ``spec`` says), with numbers of
    ``precision``; :class:`ConversionError` says why when it cannot be made. ``libraries``
    are the top-level modules the model file references."""
    family = spec.family
    try:
        if family in ("sklearn", "skops"):
            return _sklearn(model, spec, precision, libraries)
        if family == "catboost":
            return _catboost(model)
        return _booster(model, spec)
    except Exception as exc:  # the converters raise many types for unsupported models
        raise ConversionError(f"{type(exc).__name__}: {exc}") from exc


def native_object(scorer: Any) -> Any:
    """The library object a scoring module holds (an estimator, a booster, a model)."""
    for name in ("model", "booster"):
        if hasattr(scorer, name):
            return getattr(scorer, name)
    raise ConversionError(f"{type(scorer).__name__} holds no model to convert")
