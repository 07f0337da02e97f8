"""I run an ONNX model with ONNX Runtime: a verified conversion of the trained model, or an
ONNX file the modelling step exported itself.

I open the (already hash-verified) file in a session on the CPU with one thread: each
worker process is one core's worth of serving. I feed each graph input from its columns,
with the element type the graph declares (strings as strings, null as NaN in a float
input, as the verification gate fed them), and read the outputs by role: the label, the
probabilities (a tensor, or the list of per-class maps a ZipMap gives), a value or a score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from . import frames
from .outputs import Raw
from .spec import ModelSpec, OnnxInput


class IncompatibleModel(Exception):
    """I am raised when ONNX Runtime cannot run the file."""


def load(path: Path | bytes, spec: ModelSpec) -> Scorer:
    """I open the graph (a file, or its bytes) in an ONNX Runtime session, one thread."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(
            path if isinstance(path, bytes) else str(path), options,
            providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for invalid graphs
        where = "the graph" if isinstance(path, bytes) else path
        raise IncompatibleModel(f"cannot load {where} with ONNX Runtime: {exc}") from None
    return Scorer(session, spec)


def column_input(values: Any, graph_input: OnnxInput) -> np.ndarray:
    """I build one graph input from one column (shape (n, 1), or (n,) for rank 1)."""
    if graph_input.element == "str":
        column = np.array(values, dtype=object)
        column[np.equal(column, None)] = ""
    else:
        column = np.array(values, dtype=np.float64).astype(graph_input.element)
    return column if graph_input.rank == 1 else column.reshape(-1, 1)


class Scorer:
    """I hold the session, feed it rows and sort its outputs by role."""

    def __init__(self, session: onnxruntime.InferenceSession, spec: ModelSpec) -> None:
        """I keep the session and the outputs my spec names, in a fixed order."""
        self.session = session
        self.spec = spec
        self.roles = sorted(spec.onnx_outputs)
        self.names = [spec.onnx_outputs[role] for role in self.roles]

    def feed(self, rows: frames.Rows) -> dict[str, np.ndarray]:
        """I turn rows into the graph's inputs, column by column."""
        inputs = self.spec.onnx_inputs
        if len(inputs) == 1 and len(inputs[0].columns) == len(self.spec.columns):
            return {inputs[0].name: frames.matrix(rows).astype(inputs[0].element)}
        columns = list(zip(*rows, strict=True))
        return {i.name: column_input(columns[i.columns[0]], i) for i in inputs}

    def run(self, rows: frames.Rows) -> Raw:
        """I score rows in one session run."""
        outputs = dict(zip(self.roles, self.session.run(self.names, self.feed(rows)),
                           strict=True))
        proba = outputs.get("probabilities")
        if isinstance(proba, list):  # a ZipMap: one {class: probability} per row
            classes = self.spec.classes or ()
            proba = np.array([[row[c] for c in classes] for row in proba], dtype=np.float64)
        return Raw(labels=outputs.get("label"), proba=proba,
                   values=outputs.get("score", outputs.get("value")))
