"""Request builders and load drivers shared by the server and container tests."""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from deployment_agent.plan.context import Context
from deployment_agent.verify.server import ServiceProcess


def sample_records(context: Context, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Valid records drawn around the training distribution (bounded by the schema)."""
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(n):
        record: dict[str, Any] = {}
        for f in context.features:
            stats = f.stats
            mean = stats.mean if stats and stats.mean is not None else 0.0
            std = stats.std if stats and stats.std else 1.0
            if f.enum:
                value: Any = f.enum[int(rng.integers(len(f.enum)))]
            elif f.type == "bool":
                value = bool(rng.integers(2))
            elif f.type == "str":
                value = "value"
            else:
                value = float(rng.normal(mean, std))
                low = f.minimum if f.minimum is not None else -1e9
                high = f.maximum if f.maximum is not None else 1e9
                value = min(max(value, low), high)
                value = int(round(value)) if f.type == "int" else round(value, 4)
            record[f.name] = value
        records.append(record)
    return records


def reference_input(context: Context, records: list[dict[str, Any]]) -> Any:
    """What the model was fitted on: a typed DataFrame of the original columns, or a float
    matrix (the same rule as the generated service's)."""
    if context.model.uses_dataframe:
        return pd.DataFrame({f.name: pd.Series([r[f.name] for r in records], dtype=f.dtype)
                             for f in context.features})
    return np.array([[r[f.name] for f in context.features] for r in records], dtype=float)


def invalid_requests(context: Context) -> list[tuple[str, dict[str, Any], str]]:
    """(kind, body, the field the 422 must name) for every applicable kind of bad input."""
    example = context.example_input
    features = context.features
    first = features[0].name
    cases = [
        ("missing field", {k: v for k, v in example.items() if k != first}, first),
        ("extra field", {**example, "unexpected": 1}, "unexpected"),
        ("string for a number", {**example, first: "35"}, first),
    ]
    for f in features:
        name = f.name
        if f.type == "int":
            cases.append(("float for an int", {**example, name: 35.5}, name))
        if f.type == "bool":
            cases.append(('"false" for a bool', {**example, name: "false"}, name))
        if f.maximum is not None:
            cases.append(("above maximum", {**example, name: int(f.maximum) + 1 if f.type == "int"
                          else f.maximum + 1}, name))
        if f.enum:
            cases.append(("not in enum", {**example, name: "elsewhere"}, name))
        if not f.nullable:
            cases.append(("null where not nullable", {**example, name: None}, name))
    return cases


def drain_under_load(base_url: str, body: Any, stop: Callable[[], int], clients: int = 16,
                     load_seconds: float = 2.0) -> tuple[collections.Counter[str], int, float]:
    """Load /predict/batch with a fresh connection per request, ``stop`` the server mid-load
    (it returns the exit code); count what each request got: an answer, a refusal (no
    connection: refused, or no answer to the SYN once the container is gone), or nothing
    although it was sent (lost). Returns the counts, exit code and seconds."""
    outcomes: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    done = threading.Event()

    def client() -> None:
        while not done.is_set():
            try:
                response = httpx.post(base_url + "/predict/batch", json=body,
                                      headers={"connection": "close"}, timeout=30)
                outcome = f"answered {response.status_code}"
            except (httpx.ConnectError, httpx.ConnectTimeout):
                outcome = "refused"  # no connection, so the request was never sent
            except httpx.HTTPError as exc:
                outcome = f"lost ({type(exc).__name__})"
            with lock:
                outcomes[outcome] += 1
            if outcome == "refused":
                time.sleep(0.05)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(load_seconds)
    signalled = time.perf_counter()
    code = stop()
    seconds = time.perf_counter() - signalled
    time.sleep(0.5)  # clients now meet a closed port
    done.set()
    for thread in threads:
        thread.join()
    return outcomes, code, seconds


def post(server: ServiceProcess, path: str, body: Any, **headers: str) -> httpx.Response:
    """POST ``body`` as JSON to a running ServiceProcess (HTTPS with its CA if it has one)."""
    return httpx.post(server.base_url + path, json=body, headers=headers, timeout=10,
                      verify=server.verify)


def drain_summary(outcomes: collections.Counter[str], code: int, seconds: float) -> str:
    """The figures of one drain_under_load run, for the report."""
    lost = sum(n for outcome, n in outcomes.items() if outcome.startswith("lost"))
    return f"{dict(outcomes)}, exit {code} after {seconds:.2f} s, lost {lost}"


def assert_drained(outcomes: collections.Counter[str], code: int, seconds: float,
                   grace: float) -> None:
    """Exit 0 within the grace period; requests answered and refused, none lost."""
    assert code == 0 and seconds < grace
    assert set(outcomes) <= {"answered 200", "refused"}, outcomes  # nothing lost
    assert outcomes["answered 200"] > 0 and outcomes["refused"] > 0, outcomes


def dashboard_metrics(folder: Path) -> set[str]:
    """The metric names the generated dashboard's queries read (``folder``: a deployment)."""
    board = json.loads((folder / "monitoring" / "dashboard.json").read_text())
    exprs = [t["expr"] for panel in board["panels"] for t in panel["targets"]]
    return {m for expr in exprs for m in re.findall(r"([a-z_]+)\{", expr)}


CLIENTS = 8


class Load:
    """CLIENTS threads posting /predict (one request in flight each), recording when each
    answer came and counting the failures."""

    def __init__(self, url: str, body: dict[str, object]) -> None:
        self.url, self.body = url, body
        self.answered: list[float] = []
        self.failures: collections.Counter[str] = collections.Counter()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client) for _ in range(CLIENTS)]

    def client(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                try:
                    status = client.post(self.url, json=self.body).status_code
                    outcome = None if status == 200 else f"status {status}"
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with self.lock:
                    if outcome is None:
                        self.answered.append(time.monotonic())
                    else:
                        self.failures[outcome] += 1

    def rate(self, start: float, end: float) -> float:
        return sum(start <= t < end for t in self.answered) / (end - start)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


