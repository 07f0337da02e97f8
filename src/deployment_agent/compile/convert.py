"""Convert a scikit-learn model to ONNX with skl2onnx, and feed both the same rows.

A pipeline fitted on a DataFrame gets one ONNX input per column (strings as strings,
everything else as double, null as NaN); one fitted on a matrix gets a single double
input. Double precision first: float32 thresholds can send a value down the other side
of a tree split. Classifiers output a probability tensor (no ZipMap).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..plan.context import Context

MATRIX_INPUT = "X"


class ConversionError(Exception):
    """skl2onnx could not convert the model (an unsupported estimator or option)."""


def input_names(context: Context) -> list[str]:
    """The ONNX graph's input names, in training column order."""
    if context.model.uses_dataframe:
        return [f.name for f in context.features]
    return [MATRIX_INPUT]


def convert(model: Any, context: Context) -> bytes:
    """The serialised ONNX model; :class:`ConversionError` says why when it cannot be made."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    if context.model.uses_dataframe:
        initial = [(f.name, StringTensorType([None, 1]) if f.type == "str" else
                    DoubleTensorType([None, 1])) for f in context.features]
    else:
        initial = [(MATRIX_INPUT, DoubleTensorType([None, len(context.features)]))]
    final = model[-1] if hasattr(model, "steps") else model
    options = {id(final): {"zipmap": False}} if context.model.classes is not None else None
    try:
        onnx_model = convert_sklearn(model, initial_types=initial, options=options)
    except Exception as exc:  # skl2onnx raises many types for unsupported models
        raise ConversionError(f"{type(exc).__name__}: {exc}") from None
    return onnx_model.SerializeToString()


def onnx_feed(context: Context, rows: list[tuple[Any, ...]]) -> dict[str, np.ndarray]:
    """The ONNX inputs for ``rows``, column by column (the service builds them the same way)."""
    if not context.model.uses_dataframe:
        matrix = np.array([[np.nan if v is None else v for v in row] for row in rows],
                          dtype=np.float64)
        return {MATRIX_INPUT: matrix}
    feed = {}
    for i, feature in enumerate(context.features):
        column = [row[i] for row in rows]
        if feature.type == "str":
            feed[feature.name] = np.array(["" if v is None else v for v in column],
                                          dtype=object).reshape(-1, 1)
        else:
            feed[feature.name] = np.array([np.nan if v is None else v for v in column],
                                          dtype=np.float64).reshape(-1, 1)
    return feed


def sklearn_input(context: Context, rows: list[tuple[Any, ...]]) -> Any:
    """What the scikit-learn model was fitted on: a typed DataFrame or a float matrix."""
    if not context.model.uses_dataframe:
        return np.array([[np.nan if v is None else v for v in row] for row in rows],
                        dtype=np.float64)
    import pandas as pd

    return pd.DataFrame({f.name: pd.Series([row[i] for row in rows], dtype=f.dtype)
                         for i, f in enumerate(context.features)})
