"""I watch the service's inputs and predictions for drift, as a monitoring system measures it.

Drift, as a monitoring system measures it. Every scored record is counted into the bins
of its feature's training distribution (``drift_feature_bin_total{feature,bin}``: deciles
for numbers, categories for the rest, and one bin for values training never saw), and
every prediction into the bins of the training predictions. At scrape time I take the
counts of a sliding window (the last DRIFT_WINDOW_RECORDS records, at most
DRIFT_WINDOW_SECONDS back, measured between scrapes) and publish each feature's
Population Stability Index (``drift_psi``), the predictions' (``drift_prediction_psi``),
the null rate per feature, and ``drift_detected``: 1 when any PSI reaches DRIFT_THRESHOLD
(0.1 is the convention's moderate shift, 0.25 a major one). I publish no PSI for a window
of fewer than MIN_WINDOW_RECORDS records: with few records, PSI is noise.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import fcntl
import json
import math
import operator
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import (
    Counter,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from .. import frames
from ..metrics import REGISTRY

DRIFT_RECORDS = Counter("drift_records_total", "Records counted by the drift monitor.",
                        registry=REGISTRY)
DRIFT_BINS = Counter(
    "drift_feature_bin_total", "Records per feature and bin of its training distribution.",
    ["feature", "bin"], registry=REGISTRY,
)
DRIFT_NULLS = Counter("drift_feature_null_total", "Null values per feature.", ["feature"],
                      registry=REGISTRY)
PREDICTION_BINS = Counter(
    "drift_prediction_bin_total", "Predictions per bin of the training predictions.",
    ["bin"], registry=REGISTRY,
)
# Below this many records in the window, I publish no PSI.
MIN_WINDOW_RECORDS = 500
# Shares below this count as this (a bin never seen would make the PSI infinite).
SMOOTHING = 1e-4
SNAPSHOTS_FILE = "drift_window.json"
# A worker bins and publishes the records of small calls at least this often (see
# DriftMonitor).
FLUSH_RECORDS = 100
FLUSH_SECONDS = 1.0


@dataclass(frozen=True)
class Reference:
    """I am the training distribution of one feature (or of the predictions)."""

    position: int  # in a row (training column order); -1 for the predictions
    name: str
    expected: tuple[float, ...]
    edges: tuple[float, ...] = ()  # numeric: a value equal to an edge goes to the bin above
    categories: dict[str, int] = field(default_factory=dict)  # categorical: value -> bin

    def bin_of(self, value: Any) -> int:
        """I return the bin of one non-null value (categories: the last bin is "other")."""
        if self.categories:
            key = ("true" if value else "false") if isinstance(value, bool) else str(value)
            return self.categories.get(key, len(self.categories))
        return bisect.bisect_right(self.edges, value)

    def tally(self, values: Iterable[Any]) -> list[int]:
        """I count categorical values into my bins: a C counter of the distinct values
        first, then one lookup per distinct value (None is not counted here)."""
        counts = [0] * len(self.expected)
        for value, n in collections.Counter(values).items():
            if value is not None:
                counts[self.bin_of(value)] += n
        return counts

    def tally_booleans(self, column: np.ndarray) -> tuple[list[int], int]:
        """I count a boolean feature's column of the float matrix (1, 0, or NaN for
        null) into my bins, and return its nulls too."""
        counts = [0] * len(self.expected)
        trues, falses = int(np.count_nonzero(column == 1.0)), int(np.count_nonzero(column == 0.0))
        counts[self.bin_of(True)] += trues
        counts[self.bin_of(False)] += falses
        return counts, int(np.count_nonzero(np.isnan(column)))


def categories(values: Sequence[str]) -> dict[str, int]:
    """I number the categories of a reference (their bins), in order."""
    return {value: i for i, value in enumerate(values)}


@dataclass(frozen=True)
class References:
    """I am what the drift monitor watches: each watched feature's training distribution,
    and the predictions' (None when the manifest recorded none)."""

    features: tuple[Reference, ...]
    prediction: Reference | None


def _reference(position: int, data: dict[str, Any]) -> Reference:
    """I build one reference from its generated JSON."""
    return Reference(position, data["name"], tuple(data["expected"]),
                     edges=tuple(data.get("edges") or ()),
                     categories=categories(data.get("categories") or ()))


def load_references(path: Path) -> References:
    """I read the deployment's drift references (``api/drift_reference.json``, generated
    from the manifest's training statistics; features without one are not watched)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    prediction = data.get("prediction")
    return References(
        tuple(_reference(f["position"], f) for f in data["features"]),
        None if prediction is None else _reference(-1, prediction))


class DriftMonitor:
    """I count every scored record into the bins of its features' training distributions.

    I resolve every counter child once, and count records column by column, vectorised.
    Small calls (``/predict``'s records, alone or coalesced, and small batches) wait in a
    list; I bin them together once FLUSH_RECORDS records wait or FLUSH_SECONDS have passed,
    whichever comes first (a background thread flushes what a quiet moment leaves): each
    counter increment of prometheus_client's multiprocess mode takes a lock and writes a
    memory-mapped file, about 1.4 µs, and binning one record in Python cost about 5 µs,
    measured, against well under 1 µs per record binned a hundred at a time. A batch of
    FLUSH_RECORDS or more is binned and published at once, with whatever waits. A scrape
    of this worker publishes its own waiting records first.
    """

    def __init__(self, references: References) -> None:
        """I resolve every counter child once, so that counting costs no label lookup."""
        self.features = references.features
        self.prediction = references.prediction
        self.bins = [[DRIFT_BINS.labels(r.name, str(b)) for b in range(len(r.expected))]
                     for r in self.features]
        self.nulls = [DRIFT_NULLS.labels(r.name) for r in self.features]
        self.prediction_bins = [PREDICTION_BINS.labels(str(b)) for b in
                                range(len(self.prediction.expected))] \
            if self.prediction else []
        # A batch's numeric features share one index space of bins (see _count_columns).
        self.numeric = [i for i, r in enumerate(self.features) if not r.categories]
        # Booleans are counted from the float matrix too; other categories by a counter.
        self.booleans = [i for i, r in enumerate(self.features)
                         if r.categories and set(r.categories) <= {"true", "false"}]
        self.categorical = [i for i, r in enumerate(self.features)
                            if r.categories and i not in self.booleans]
        self.numeric_positions = [self.features[i].position for i in self.numeric]
        self.numeric_edges = [np.asarray(self.features[i].edges, dtype=np.float64)
                              for i in self.numeric]
        sizes = [len(self.features[i].expected) for i in self.numeric]
        self.numeric_offsets = np.cumsum([0, *sizes[:-1]], dtype=np.intp)
        self.numeric_total = sum(sizes)
        self.lock = threading.Lock()
        self.flusher: threading.Thread | None = None
        self.waiting_rows: list[tuple[object, ...]] = []
        self.waiting_predictions: list[Any] = []
        self.flushed_at = time.monotonic()

    def _take_waiting(self) -> tuple[list[tuple[object, ...]], list[Any]]:
        """I hand over the waiting records and their predictions, and start new lists."""
        with self.lock:
            rows, predictions = self.waiting_rows, self.waiting_predictions
            self.waiting_rows, self.waiting_predictions = [], []
            self.flushed_at = time.monotonic()
        return rows, predictions

    def flush(self) -> None:
        """I bin the waiting records and publish their counts to the Prometheus counters."""
        rows, predictions = self._take_waiting()
        if rows:
            self._publish(len(rows), *self._counts(rows, predictions))

    def _counts(self, rows: Sequence[tuple[object, ...]], predictions: Sequence[Any]
                ) -> tuple[list[list[int]], list[int], list[int]]:
        """I count rows into every feature's bins and nulls, and their predictions."""
        bins, nulls = self._count_columns(rows)
        return bins, nulls, self._count_predictions(predictions)

    def _publish(self, records: int, bins: list[list[int]], nulls: list[int],
                 predictions: list[int]) -> None:
        """I add counts to the Prometheus counters: one increment per non-zero count."""
        DRIFT_RECORDS.inc(records)
        for counters, counts in zip(self.bins, bins, strict=True):
            for counter, n in zip(counters, counts, strict=True):
                if n:
                    counter.inc(n)
        for counter, n in zip(self.nulls, nulls, strict=True):
            if n:
                counter.inc(n)
        for counter, n in zip(self.prediction_bins, predictions, strict=True):
            if n:
                counter.inc(n)

    def _flush_every(self, seconds: float) -> None:
        """I publish the waiting records every ``seconds`` (the background thread)."""
        while True:
            time.sleep(seconds)
            self.flush()

    def observe(self, rows: Sequence[tuple[object, ...]], predictions: Sequence[Any]) -> None:
        """I count validated rows (their features) and the predictions' watched values (a
        value of None, a recommendation with no item, is not counted)."""
        if len(rows) < FLUSH_RECORDS:
            self._wait(rows, predictions)
            return
        # I publish a batch at once, and whatever waits with it: a scrape right after a
        # batch sees it, whichever worker answers the scrape.
        self._publish(len(rows), *self._counts(rows, predictions))
        self.flush()

    def _wait(self, rows: Sequence[tuple[object, ...]], predictions: Sequence[Any]) -> None:
        """I add a few records to the waiting ones, and flush them when they are due."""
        if self.flusher is None:  # started here, in the worker, never before a fork
            self.flusher = threading.Thread(target=self._flush_every, args=(FLUSH_SECONDS,),
                                            name="drift-flush", daemon=True)
            self.flusher.start()
        with self.lock:
            self.waiting_rows.extend(rows)
            self.waiting_predictions.extend(predictions)
            due = len(self.waiting_rows) >= FLUSH_RECORDS or \
                time.monotonic() - self.flushed_at >= FLUSH_SECONDS
        if due:
            self.flush()

    def _count_columns(self, rows: Sequence[tuple[object, ...]]
                       ) -> tuple[list[list[int]], list[int]]:
        """I count a batch into every watched feature's bins, and its nulls.

        The numeric features are one float submatrix (null is NaN there: JSON has no NaN,
        so NaN can only be a null), binned by one ``searchsorted`` per feature into one
        shared index space and counted by a single ``bincount``; the model's own matrix
        is reused when it built one. A boolean feature is counted from its column of
        that matrix, any other categorical one by a C counter."""
        n = len(rows)
        bins: list[list[int]] = [[] for _ in self.features]
        nulls = [0] * len(self.features)
        try:
            matrix: np.ndarray | None = frames.matrix(rows)
        except (TypeError, ValueError):  # the rows hold text
            matrix = None
        if self.numeric:
            if matrix is not None:  # one row per feature: each binned from contiguous memory
                numbers = matrix.T[self.numeric_positions]
            else:  # only my columns, then
                getter = operator.itemgetter(*self.numeric_positions)
                numbers = np.array(list(map(getter, rows)), dtype=np.float64).reshape(
                    n, len(self.numeric)).T
            indices = np.empty(numbers.shape, dtype=np.intp)
            for j, edges in enumerate(self.numeric_edges):
                indices[j] = np.searchsorted(edges, numbers[j], side="right")
            indices += self.numeric_offsets[:, np.newaxis]
            missing = np.isnan(numbers)
            if missing.any():
                indices[missing] = self.numeric_total  # one bin past every feature's: nulls
                missed = missing.sum(axis=1).tolist()
            else:
                missed = [0] * len(self.numeric)
            counts = np.bincount(indices.ravel(), minlength=self.numeric_total + 1).tolist()
            for j, i in enumerate(self.numeric):
                start = self.numeric_offsets[j]
                bins[i] = counts[start:start + len(self.features[i].expected)]
                nulls[i] = missed[j]
        counted = self.categorical
        if matrix is None:
            counted = counted + self.booleans
        else:
            for i in self.booleans:
                bins[i], nulls[i] = self.features[i].tally_booleans(
                    matrix[:, self.features[i].position])
        for i in counted:
            reference = self.features[i]
            column = list(map(operator.itemgetter(reference.position), rows))
            bins[i] = reference.tally(column)
            nulls[i] = column.count(None)
        return bins, nulls

    def _count_predictions(self, predictions: Sequence[Any]) -> list[int]:
        """I count the watched predictions into their bins: numbers by ``searchsorted``,
        labels by a C counter (None is not counted)."""
        if self.prediction is None:
            return []
        if self.prediction.categories:
            return self.prediction.tally(predictions)
        present = predictions if None not in predictions else \
            [p for p in predictions if p is not None]
        indices = np.searchsorted(self.prediction.edges, np.asarray(present, dtype=np.float64),
                                  side="right")
        return np.bincount(indices, minlength=len(self.prediction.expected)).tolist()


def psi(counts: Sequence[float], expected: Sequence[float]) -> float:
    """I compute the Population Stability Index of observed ``counts`` against the
    ``expected`` shares: sum of (actual - expected) * ln(actual / expected)."""
    total = sum(counts)
    value = 0.0
    for count, share in zip(counts, expected, strict=True):
        actual = max(count / total, SMOOTHING)
        share = max(share, SMOOTHING)
        value += (actual - share) * math.log(actual / share)
    return value


@dataclass
class Totals:
    """I am the drift counters' values at one moment, summed over every worker."""

    at: float
    records: float = 0.0
    bins: dict[str, float] = field(default_factory=dict)  # "feature\x00bin" -> count
    nulls: dict[str, float] = field(default_factory=dict)
    predictions: dict[str, float] = field(default_factory=dict)

    @classmethod
    def read(cls, families: Iterable[Metric], at: float) -> Totals:
        """I sum the drift counters' samples of every worker, as scraped at ``at``."""
        totals = cls(at)
        for family in families:
            for sample in family.samples:
                if sample.name == "drift_records_total":
                    totals.records += sample.value
                elif sample.name == "drift_feature_bin_total":
                    key = f"{sample.labels['feature']}\x00{sample.labels['bin']}"
                    totals.bins[key] = totals.bins.get(key, 0.0) + sample.value
                elif sample.name == "drift_feature_null_total":
                    name = sample.labels["feature"]
                    totals.nulls[name] = totals.nulls.get(name, 0.0) + sample.value
                elif sample.name == "drift_prediction_bin_total":
                    name = sample.labels["bin"]
                    totals.predictions[name] = totals.predictions.get(name, 0.0) + sample.value
        return totals

    def minus(self, base: Totals) -> Totals:
        """I return the counts since ``base``."""
        def diff(now: dict[str, float], then: dict[str, float]) -> dict[str, float]:
            """I subtract one set of counts from another, key by key."""
            return {k: v - then.get(k, 0.0) for k, v in now.items()}

        return Totals(self.at, self.records - base.records, diff(self.bins, base.bins),
                      diff(self.nulls, base.nulls), diff(self.predictions, base.predictions))


class DriftWindow:
    """I keep the drift counters' totals at past scrapes, to compute a sliding window.

    In multiprocess mode any worker may answer a scrape, so my snapshots live in a file
    in PROMETHEUS_MULTIPROC_DIR, under a lock; in a single process, in memory.
    """

    def __init__(self, records: int, seconds: int) -> None:
        """I remember the window's size: at least ``records`` back, at most ``seconds``."""
        self.records = records
        self.seconds = seconds
        self.memory: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def snapshots(self) -> Iterator[list[dict[str, Any]]]:
        """I lend the list of snapshots, locked, and save it back when the caller is done."""
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not folder:
            yield self.memory
            return
        path = Path(folder) / SNAPSHOTS_FILE
        with path.open("a+", encoding="utf-8") as stream:
            fcntl.flock(stream, fcntl.LOCK_EX)
            stream.seek(0)
            text = stream.read()
            snapshots: list[dict[str, Any]] = json.loads(text) if text else []
            yield snapshots
            stream.seek(0)
            stream.truncate()
            stream.write(json.dumps(snapshots))

    def advance(self, now: Totals) -> Totals:
        """I record ``now`` and return the counts of the current window."""
        with self.snapshots() as snapshots:
            recent = [s for s in snapshots if s["at"] >= now.at - self.seconds]
            enough = [s for s in recent if now.records - s["records"] >= self.records]
            base_data = enough[-1] if enough else (recent[0] if recent else None)
            recent.append(vars(now))
            snapshots[:] = recent[-500:]
        return now.minus(Totals(**base_data)) if base_data else now


def drift_families(families: list[Metric], threshold: float, window: DriftWindow,
                   references: References) -> list[Metric]:
    """I turn the aggregated drift counters into the window's gauges."""
    counts = window.advance(Totals.read(families, time.time()))
    psi_family = GaugeMetricFamily("drift_psi", "PSI of each feature over the window.",
                                   labels=["feature"])
    nulls_family = GaugeMetricFamily("drift_null_rate", "Share of nulls per feature over "
                                     "the window.", labels=["feature"])
    scores = []
    if counts.records > 0:
        for reference in references.features:
            nulls = counts.nulls.get(reference.name, 0.0)
            nulls_family.add_metric([reference.name], nulls / counts.records)
            bins = [counts.bins.get(f"{reference.name}\x00{b}", 0.0)
                    for b in range(len(reference.expected))]
            if sum(bins) >= MIN_WINDOW_RECORDS:
                score = psi(bins, reference.expected)
                psi_family.add_metric([reference.name], score)
                scores.append(score)
    result: list[Metric] = [psi_family, nulls_family]
    if references.prediction is not None:
        bins = [counts.predictions.get(str(b), 0.0)
                for b in range(len(references.prediction.expected))]
        prediction_family = GaugeMetricFamily("drift_prediction_psi",
                                              "PSI of the predictions over the window.")
        if sum(bins) >= MIN_WINDOW_RECORDS:
            score = psi(bins, references.prediction.expected)
            prediction_family.add_metric([], score)
            scores.append(score)
        result.append(prediction_family)
    result.append(GaugeMetricFamily("drift_window_records", "Records in the drift window.",
                                    value=counts.records))
    result.append(GaugeMetricFamily("drift_detected", "1 when a PSI reaches DRIFT_THRESHOLD.",
                                    value=float(any(s >= threshold for s in scores))))
    return result


