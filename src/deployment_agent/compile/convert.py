"""Convert a scikit-learn model to ONNX with skl2onnx, and feed both the same rows.

A pipeline fitted on a DataFrame gets one ONNX input per column (strings as strings,
everything else as numbers, null as NaN); one fitted on a matrix gets a single numeric
input. Numbers are double where the converters and ONNX Runtime support it (float32
thresholds can send a value down the other side of a tree split), else float32 (ONNX
Runtime's Imputer, for one, takes float32 only). Classifiers output a probability tensor
(no ZipMap).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..plan.context import Context

MATRIX_INPUT = "X"
PRECISIONS = ("float64", "float32")
# Operator sets: ai.onnx.ml 3 has tree ensembles with double thresholds and outputs.
TARGET_OPSET = {"": 21, "ai.onnx.ml": 3}


class ConversionError(Exception):
    """skl2onnx could not convert the model (an unsupported estimator or option)."""


def convert(model: Any, context: Context, precision: str) -> bytes:
    """The serialised ONNX model; :class:`ConversionError` says why when it cannot be made."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    number = DoubleTensorType if precision == "float64" else FloatTensorType
    if context.model.uses_dataframe:
        initial = [(f.name, StringTensorType([None, 1]) if f.type == "str" else
                    number([None, 1])) for f in context.features]
    else:
        initial = [(MATRIX_INPUT, number([None, len(context.features)]))]
    final = model[-1] if hasattr(model, "steps") else model
    options = {id(final): {"zipmap": False}} if context.model.classes is not None else None
    try:
        # A fixed graph name: skl2onnx's default is a random id, and the same model must
        # always give the same bytes (and sha256).
        onnx_model = convert_sklearn(model, initial_types=initial, options=options,
                                     target_opset=TARGET_OPSET, name="model")
    except Exception as exc:  # skl2onnx raises many types for unsupported models
        raise ConversionError(f"{type(exc).__name__}: {exc}") from None
    return onnx_model.SerializeToString()


def onnx_feed(context: Context, columns: list[list[Any]], precision: str,
              names: list[str]) -> dict[str, np.ndarray]:
    """The ONNX inputs for ``columns`` (one list per feature), as the service builds them.
    ``names`` are the graph's input names in column order: skl2onnx rewrites column names
    that are not plain identifiers."""
    if not context.model.uses_dataframe:
        matrix = np.array(columns, dtype=np.float64).T
        return {names[0]: np.ascontiguousarray(matrix).astype(precision)}
    feed = {}
    for name, feature, column in zip(names, context.features, columns, strict=True):
        if feature.type == "str":
            values = np.array(column, dtype=object)
            values[np.equal(values, None)] = ""
            feed[name] = values.reshape(-1, 1)
        else:
            feed[name] = np.array(column, dtype=np.float64).astype(precision).reshape(-1, 1)
    return feed


def sklearn_input(context: Context, columns: list[list[Any]]) -> Any:
    """What the scikit-learn model was fitted on: a typed DataFrame or a float matrix."""
    if not context.model.uses_dataframe:
        return np.ascontiguousarray(np.array(columns, dtype=np.float64).T)
    import pandas as pd

    return pd.DataFrame({f.name: pd.Series(column, dtype=f.dtype)
                         for f, column in zip(context.features, columns, strict=True)})
