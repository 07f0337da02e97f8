"""Load a subject with wrk: single records at concurrency 1, 8 and 32, batches of 10, 100
and 1,000 records at concurrency 8, and (for ours) ``/health`` while ``/predict`` is
loaded, and ``/health/ready`` likewise. At each of those points the server's CPU per
request (per record for batches) is metered too, and for ours ``/health`` alone at c=8:
what the HTTP stack and the middleware cost before any prediction."""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable
from typing import Any

from deployment_agent.verify import loadgen

from . import cpu
from .subjects import Subject

BATCH_SIZES = (10, 100, 1000)


def measure(subject: Subject, records: list[dict[str, Any]], seconds: float) -> None:
    """Run every load point of ``subject``; the figures go to ``subject.results``."""
    body = subject.predict_body(records[0])
    with subject.start() as base_url:
        predict = base_url + subject.predict_path
        loadgen.run(predict, 8, min(seconds, 2), body)  # warm-up
        for concurrency in (1, 8, 32):
            subject.results[f"predict_c{concurrency}"] = metered_run(
                base_url, predict, concurrency, seconds, body)
        if subject.batch_path and subject.batch_body:
            for size in BATCH_SIZES:
                result = metered_run(base_url, base_url + subject.batch_path, 8, seconds,
                                     subject.batch_body(records[:size]), size)
                result["records_per_s"] = result["rps"] * size
                subject.results[f"batch{size}_c8"] = result
        if subject.kind == "ours":
            subject.results["health_c8"] = metered_run(base_url, base_url + "/health", 8,
                                                       seconds)
            for probe, key in (("/health", "health"), ("/health/ready", "ready")):
                background = loadgen.start(base_url + probe, 1, seconds)
                subject.results[f"predict_c8_with_{key}"] = loadgen.run(predict, 8, seconds,
                                                                        body)
                subject.results[f"{key}_under_load"] = loadgen.parse(
                    background.communicate()[0])
    c8 = subject.results["predict_c8"]
    print(f"  {subject.name}: predict c8 {c8['rps']:.0f} req/s, p50 {c8['p50_ms']:.2f} ms",
          flush=True)


def metered_run(base_url: str, url: str, concurrency: int, seconds: float,
                body: Any | None = None, units: int = 1) -> dict[str, float]:
    """One wrk load point, with the server's CPU per request (per record: ``units``)."""
    with cpu.metered(base_url) as spent:
        result = loadgen.run(url, concurrency, seconds, body)
    cpu.per_unit(result, spent, units)
    return result


def alternating_rps(subjects: dict[str, Subject], record: dict[str, Any], seconds: float,
                    rounds: int = 5) -> dict[str, dict[str, Any]]:
    """Requests/s of ``/predict`` at concurrency 8 for servers compared with each other:
    all started at once, loaded in turn ``rounds`` times, so that a slow moment of the
    machine falls on every side; each gets the median of its rounds and every sample."""
    with contextlib.ExitStack() as stack:
        requests = {name: (stack.enter_context(s.start()) + s.predict_path, record)
                    for name, s in subjects.items()}
        return interleaved(requests, seconds, rounds)


def alternating_routes(subject: Subject, routes: dict[str, tuple[str, Any]], seconds: float,
                       rounds: int = 5) -> dict[str, dict[str, Any]]:
    """Requests/s of several routes of one server, each ``(path, body)``, loaded in turn at
    concurrency 8 as :func:`alternating_rps` loads servers."""
    with subject.start() as base_url:
        return interleaved({name: (base_url + path, body)
                            for name, (path, body) in routes.items()}, seconds, rounds)


def interleaved(requests: dict[str, tuple[str, Any]], seconds: float,
                rounds: int) -> dict[str, dict[str, Any]]:
    """Each (url, body) warmed up, then loaded in turn ``rounds`` times at concurrency 8;
    the median requests/s of each, and every sample."""
    for url, body in requests.values():
        loadgen.run(url, 8, min(seconds, 2), body)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in requests}
    for _ in range(rounds):
        for name, (url, body) in requests.items():
            samples[name].append(loadgen.run(url, 8, seconds, body)["rps"])
    return {name: {"rps": statistics.median(values), "samples": values}
            for name, values in samples.items()}


def against_floors(ours: dict[str, Subject], floor: Subject, record: dict[str, Any],
                   batch: dict[str, Any], in_process: Callable[[], float], seconds: float,
                   rounds: int = 5) -> dict[str, Any]:
    """The floor-ratio targets, measured in turn within each round so that a slow moment
    of the machine (a shared host) falls on both sides of every ratio. Each of ``ours`` is
    started alone beside the constant floor (another idle server running beside them
    slowed ours by up to a third, measured); each round loads the floor at c=8, times the
    in-process model on 1,000 rows (``in_process``: records/s), then loads ours at c=8
    with one record and with a batch of 1,000 (``batch``). Each ratio is the median over
    the rounds of that round's ratio; every sample is kept."""
    ratios: dict[str, dict[str, float]] = {}
    samples: dict[str, dict[str, list[float]]] = {}
    for name, subject in ours.items():
        with subject.start() as base_url, floor.start() as floor_url:
            urls = {"floor": (floor_url + floor.predict_path, record, 1),
                    "single": (base_url + "/predict", record, 1),
                    "batch": (base_url + "/predict/batch", batch, len(batch["records"]))}
            for url, body, _ in urls.values():
                loadgen.run(url, 8, min(seconds, 2), body)  # warm-up
            found: dict[str, list[float]] = {"floor": [], "in_process": [], "single": [],
                                             "batch": []}
            for _ in range(rounds):
                for key, (url, body, units) in urls.items():
                    found[key].append(loadgen.run(url, 8, seconds, body)["rps"] * units)
                    if key == "floor":
                        found["in_process"].append(in_process())
        samples[name] = found
        ratios[name] = {
            "single_of_floor": statistics.median(
                a / b for a, b in zip(found["single"], found["floor"], strict=True)),
            "batch_of_in_process": statistics.median(
                a / b for a, b in zip(found["batch"], found["in_process"], strict=True)),
        }
    return {"ratios": ratios, "samples": samples}
