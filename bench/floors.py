"""The floors: the churn model called in-process, by scikit-learn and by ONNX Runtime.

No HTTP, no validation, no JSON: the fastest any server could score. The batch targets
compare our servers' records/s with scikit-learn's own.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np


def _timed(call: Callable[[], Any], repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return timings


def floor(one: Callable[[], Any], thousand: Callable[[], Any]) -> dict[str, float]:
    single = _timed(one, 2000)
    batch = _timed(thousand, 50)
    return {"p50_ms": statistics.median(single) * 1000,
            "p99_ms": statistics.quantiles(single, n=100)[98] * 1000,
            "records_per_s_1000": 1000 / statistics.median(batch)}


def sklearn_floor(model_path: Path, row: list[float]) -> dict[str, float]:
    """predict_proba (the service's one call for this model) on 1 row and on 1,000 rows."""
    model = joblib.load(model_path)
    one = np.array([row], dtype=np.float64)
    rows = np.repeat(one, 1000, axis=0)
    return floor(lambda: model.predict_proba(one), lambda: model.predict_proba(rows))


def onnx_floor(onnx_path: Path, row: list[float], dtype: str) -> dict[str, float]:
    """The verified ONNX conversion in ONNX Runtime, one thread, on 1 and 1,000 rows."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(onnx_path), options,
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    one = np.array([row], dtype=dtype)
    rows = np.repeat(one, 1000, axis=0)
    return floor(lambda: session.run(None, {name: one}), lambda: session.run(None, {name: rows}))


def sklearn_batch_rate(model_path: Path, row: list[float]) -> Callable[[], float]:
    """A function measuring in-process scikit-learn on 1,000 rows now (records/s, median of
    50 calls), for ratios taken in turn with a server's load (bench.load.against_floors)."""
    model = joblib.load(model_path)
    rows = np.repeat(np.array([row], dtype=np.float64), 1000, axis=0)
    return lambda: 1000 / statistics.median(_timed(lambda: model.predict_proba(rows), 50))
