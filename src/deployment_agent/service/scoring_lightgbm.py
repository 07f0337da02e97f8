"""I load LightGBM's text model file and run it on rows.

I read the booster with LightGBM itself and predict on one thread (each worker process is
one core's worth of serving) from a float matrix (null is NaN, which LightGBM treats as
missing, as in training). A classifier's booster gives class probabilities (``binary``:
the positive class's); the labels are the classes of the manifest, by index.
"""

from __future__ import annotations

from pathlib import Path

import lightgbm

from . import frames
from .outputs import Raw
from .spec import ModelSpec


class IncompatibleModel(Exception):
    """I am raised when LightGBM cannot read the file."""


def load(path: Path, spec: ModelSpec) -> Scorer:
    """I read the (already hash-verified) booster."""
    try:
        booster = lightgbm.Booster(model_file=str(path))
    except lightgbm.basic.LightGBMError as exc:
        raise IncompatibleModel(f"LightGBM cannot read {path}: {exc}") from None
    return Scorer(booster, spec)


class Scorer:
    """I hold the booster and return its probabilities or values."""

    def __init__(self, booster: lightgbm.Booster, spec: ModelSpec) -> None:
        """I keep the booster and my spec."""
        self.booster = booster
        self.spec = spec

    def run(self, rows: frames.Rows) -> Raw:
        """I score rows in one prediction call, on one thread."""
        output = self.booster.predict(frames.matrix(rows), num_threads=1)
        return Raw(values=output) if self.spec.classes is None else Raw(proba=output)
