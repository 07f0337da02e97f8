"""Plan the drift monitor: each feature's (and the prediction's) reference distribution.

The service counts live values into the same bins and computes a PSI per feature over a
sliding window (see the generated ``api/monitoring/drift.py``). The reference comes from the
manifest (``feature_stats[...].bins`` or ``.frequencies``, ``prediction_stats``), as the
examples' training scripts write it. A manifest without them still gets a reference
where one can be derived, and says so (``derived=True``, shown in the runbook):

- numeric features: deciles of a normal distribution with the recorded mean and std,
  clipped to the recorded min/max, else ten equal bins between min/max or the schema's
  bounds;
- enums: equal shares of their values; booleans: the recorded mean as the share of
  true, else half and half;
- free strings and predictions without a recorded distribution: no reference, so no PSI.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..contract.manifest import (
    Bins,
    ExperimentManifest,
    FeatureSpec,
    FeatureStatistics,
    PredictionStatistics,
)

DECILES = [k / 10 for k in range(1, 10)]


class DriftReference(BaseModel):
    """Expected shares: per bin of a numeric value (bins split at ``edges``, a value equal
    to an edge goes to the bin above), or per category (the last share is "any other")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["numeric", "categorical"]
    edges: list[float] = []
    categories: list[str] = []
    expected: list[float]
    derived: bool
    source: str


def _equal(n: int) -> list[float]:
    return [1 / n] * n


def _numeric(spec: FeatureSpec, stats: FeatureStatistics | None) -> DriftReference | None:
    if stats is not None and stats.bins is not None:
        return DriftReference(kind="numeric", edges=stats.bins.edges,
                              expected=stats.bins.fractions, derived=False,
                              source="training deciles (feature_stats.bins)")
    low = stats.min if stats and stats.min is not None else spec.minimum
    high = stats.max if stats and stats.max is not None else spec.maximum

    def inside(edges: list[float]) -> list[float]:
        return sorted({e for e in edges if (low is None or e > low) and
                       (high is None or e < high)})

    if stats is not None and stats.mean is not None and stats.std:
        normal = NormalDist(stats.mean, stats.std)
        edges = inside([normal.inv_cdf(q) for q in DECILES])
        cdf = [0.0, *(normal.cdf(e) for e in edges), 1.0]
        source = "deciles of a normal with the training mean and std"
    elif low is not None and high is not None and high > low:
        edges = inside([low + (high - low) * q for q in DECILES])
        cdf = [0.0, *((e - low) / (high - low) for e in edges), 1.0]
        source = "ten equal bins between min and max"
    else:
        return None
    if not edges:
        return None
    return DriftReference(kind="numeric", edges=edges, derived=True, source=source,
                          expected=[b - a for a, b in zip(cdf, cdf[1:], strict=False)])


def _categorical(spec: FeatureSpec, stats: FeatureStatistics | None) -> DriftReference | None:
    if stats is not None and stats.frequencies:
        categories = list(stats.frequencies)
        expected = [stats.frequencies[c] for c in categories]
        return DriftReference(kind="categorical", categories=categories,
                              expected=[*expected, max(0.0, 1 - sum(expected))],
                              derived=False, source="training frequencies")
    if spec.type == "bool":
        true = stats.mean if stats and stats.mean is not None and 0 <= stats.mean <= 1 else 0.5
        return DriftReference(kind="categorical", categories=["true", "false"],
                              expected=[true, 1 - true, 0.0], derived=True,
                              source="the training mean" if true != 0.5 else "half and half")
    if spec.enum:
        return DriftReference(kind="categorical", categories=[str(v) for v in spec.enum],
                              expected=[*_equal(len(spec.enum)), 0.0], derived=True,
                              source="equal shares of the enum's values")
    return None


def feature_reference(spec: FeatureSpec, stats: FeatureStatistics | None
                      ) -> DriftReference | None:
    """The reference distribution of one feature, or None when none can be known."""
    if spec.type in ("bool", "str") or spec.enum:
        return _categorical(spec, stats)
    return _numeric(spec, stats)


def prediction_reference(stats: PredictionStatistics | None, classes: list[Any] | None
                         ) -> DriftReference | None:
    """The reference distribution of the predictions (recorded at training only)."""
    if stats is None:
        return None
    if classes is not None and stats.frequencies:
        categories = [str(c) for c in classes]
        expected = [stats.frequencies.get(c, 0.0) for c in categories]
        return DriftReference(kind="categorical", categories=categories,
                              expected=[*expected, max(0.0, 1 - sum(expected))],
                              derived=False, source="training predictions")
    if classes is None and stats.bins is not None:
        bins: Bins = stats.bins
        return DriftReference(kind="numeric", edges=bins.edges, expected=bins.fractions,
                              derived=False, source="training predictions' deciles")
    return None


def references(manifest: ExperimentManifest) -> dict[str, DriftReference | None]:
    """Each feature's reference, by name."""
    stats = manifest.feature_stats or {}
    return {name: feature_reference(spec, stats.get(name))
            for name, spec in manifest.input_schema.items()}
