"""I define the service's Prometheus metrics and watch its inputs and predictions for drift.

Under several worker processes (BentoML's, or uvicorn's with WORKERS > 1), each worker
writes its values to files in PROMETHEUS_MULTIPROC_DIR and :func:`render_metrics`
aggregates them at scrape time. In a single process I use my own registry, never the
global one, so that importing me twice (a test, a reload) cannot fail on a duplicate.

The drift monitor's counters and the window's gauges are ``monitoring/drift.py``'s; the
model's realized quality is ``monitoring/feedback.py``'s. :func:`render_metrics` adds what
they derive at scrape time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, Metric

from .patches import worker_deaths

REGISTRY = CollectorRegistry()

REQUESTS = Counter(
    "http_requests_total", "HTTP requests by endpoint, method and status code.",
    ["endpoint", "method", "status"], registry=REGISTRY,
)
LATENCY = Histogram(
    "http_request_duration_seconds", "Time to answer a request, by endpoint.", ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
PREDICTIONS = Counter("predictions_total", "Records scored by the model.", ["endpoint"],
                      registry=REGISTRY)
PREDICTION_ERRORS = Counter("prediction_errors_total", "Model calls that raised.",
                            registry=REGISTRY)
# Each task's own counter (name, help): what it counts is each batch's answers' events.
TASK_COUNTERS: dict[str, tuple[str, str]] = {
    "anomaly_detection": ("anomalies_total", "Records the detector flagged as anomalies."),
    "recommendation": ("recommendations_short_total",
                       "Answers with fewer items than asked for (exclusions, small catalogue)."),
}


@functools.cache
def task_counter(task: str) -> Counter | None:
    """I return the counter of ``task``'s own events (None: the task has none),
    registered once per process."""
    if task not in TASK_COUNTERS:
        return None
    name, documentation = TASK_COUNTERS[task]
    return Counter(name, documentation, registry=REGISTRY)


MODEL_LOAD_SECONDS = Gauge(
    "model_load_seconds", "Seconds taken to load and self-check the model.",
    multiprocess_mode="livemax", registry=REGISTRY,
)
MODEL_READY = Gauge(
    "model_ready", "1 when the model is loaded in every live worker.",
    multiprocess_mode="livemin", registry=REGISTRY,
)
def worker_restarts(folder: str | None) -> Metric:
    """I read the dead workers the supervisor recorded, as a counter by how they died."""
    family = CounterMetricFamily("worker_restarts", "Worker processes that died and were "
                                 "replaced, by how they died.", labels=["reason"])
    for reason, count in worker_deaths(folder).items():
        family.add_metric([reason], count)
    return family


class Families:
    """I am a fixed list of metric families, for ``generate_latest``."""

    def __init__(self, families: list[Metric]) -> None:
        """I keep the families to expose."""
        self.families = families

    def collect(self) -> list[Metric]:
        """I return them, as a registry would."""
        return self.families


def render_metrics(derived: Callable[[list[Metric]], list[Metric]] = lambda _: []
                   ) -> tuple[bytes, str]:
    """I return the exposition text of every metric (of every worker in multiprocess mode),
    with the families ``derived`` computes from them at scrape time (the drift window's
    gauges, the model's quality)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        families = list(registry.collect())
    else:
        families = list(REGISTRY.collect())
    families.append(worker_restarts(folder))
    families += derived(families)
    return generate_latest(Families(families)), CONTENT_TYPE_LATEST  # type: ignore[arg-type]
