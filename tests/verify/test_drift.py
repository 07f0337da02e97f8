"""Drift, measured as a monitoring system would: PSI per feature over a sliding window,
against the training distribution, on a running service with two workers (the counts of
both are summed)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import Deployment, report
from helpers import dashboard_metrics

from deployment_agent.service.monitoring.drift import FLUSH_SECONDS
from deployment_agent.verify.server import ServiceProcess
from examples.churn.train import FEATURES, make_data

pytestmark = pytest.mark.server


def churn_records(n: int, seed: int) -> list[dict[str, Any]]:
    """Fresh customers from the churn example's own generator: in distribution."""
    X, _ = make_data(n, seed)
    kinds = {"age": int, "tenure_months": int, "num_products": int, "is_active": bool,
             "income": float, "credit_score": float}
    return [{name: kinds[name](value) for name, value in zip(FEATURES, row, strict=True)}
            for row in X]


def drift(base_url: str) -> dict[str, Any]:
    """The drift gauges of one scrape."""
    text = httpx.get(base_url + "/metrics").text
    psi = {m[1]: float(m[2]) for m in re.finditer(r'^drift_psi\{feature="([^"]+)"\} (\S+)',
                                                    text, re.MULTILINE)}
    nulls = {m[1]: float(m[2]) for m in re.finditer(
        r'^drift_null_rate\{feature="([^"]+)"\} (\S+)', text, re.MULTILINE)}

    def gauge(name: str) -> float:
        found = re.search(rf"^{name} (\S+)", text, re.MULTILINE)
        assert found, name
        return float(found[1])

    return {"psi": psi, "nulls": nulls, "detected": gauge("drift_detected"),
            "window": gauge("drift_window_records"),
            "prediction": gauge("drift_prediction_psi")}


def send(base_url: str, records: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for start in range(0, len(records), 100):
            assert client.post("/predict/batch",
                               json={"records": records[start:start + 100]}).status_code == 200


@pytest.fixture
def churn_service(deployments: dict[str, Deployment], tmp_path: Path
                  ) -> Iterator[tuple[ServiceProcess, Deployment]]:
    """The churn service with two workers and the inference log on (every series the
    dashboard reads is then served)."""
    deployment = deployments["churn"]
    with ServiceProcess.entrypoint(deployment.layout.deployment.resolve(),
                                   deployment.bento_store, {
                                       "WORKERS": "2", "INFERENCE_LOG_ENABLED": "true",
                                       "INFERENCE_LOG_DIR": str(tmp_path / "log")}) as server:
        server.wait_for("/health/ready", timeout=90)
        yield server, deployment


def test_a_shift_crosses_the_threshold_and_normal_traffic_does_not(
        churn_service: tuple[ServiceProcess, Deployment]) -> None:
    server, deployment = churn_service
    base_url = server.base_url
    send(base_url, churn_records(2000, seed=7))
    normal = drift(base_url)
    assert normal["window"] >= 1000 and normal["detected"] == 0, normal
    assert set(normal["psi"]) == set(FEATURES)
    assert max(normal["psi"].values()) < 0.1 and normal["prediction"] < 0.1, normal
    assert set(normal["nulls"].values()) == {0.0}
    # The same mean, another spread: credit scores only at 512 or 850 (the case,
    # invisible to a mean-based score).
    rng = np.random.default_rng(3)
    spread = [{**r, "credit_score": float(rng.choice([512.0, 850.0]))}
              for r in churn_records(1000, seed=8)]
    send(base_url, spread)
    shifted = drift(base_url)
    assert shifted["psi"]["credit_score"] >= 0.25 and shifted["detected"] == 1, shifted
    others = {k: v for k, v in shifted["psi"].items() if k != "credit_score"}
    assert max(others.values()) < 0.1, shifted
    send(base_url, churn_records(1000, seed=9))
    recovered = drift(base_url)
    assert recovered["detected"] == 0, recovered
    scraped = httpx.get(base_url + "/metrics").text
    # The dashboard reads only series the service serves (with the inference log on).
    # (a counter with no sample yet, worker_restarts_total, is declared by its HELP line).
    for metric in dashboard_metrics(deployment.layout.deployment):
        base = metric.removesuffix("_bucket")
        assert re.search(rf"^(# HELP )?{base}", scraped, re.MULTILINE), metric
    report(f"drift (churn, 2 workers): in distribution max PSI "
           f"{max(normal['psi'].values()):.3f}; credit scores spread to 512/850 (same mean): "
           f"PSI {shifted['psi']['credit_score']:.2f}, drift_detected 1; back in "
           f"distribution: max PSI {max(recovered['psi'].values()):.3f}")


def test_a_mean_shift_moves_the_predictions_too(
        churn_service: tuple[ServiceProcess, Deployment]) -> None:
    base_url = churn_service[0].base_url
    send(base_url, churn_records(1000, seed=11))
    young_and_new = [{**r, "tenure_months": 0, "is_active": False}
                     for r in churn_records(1000, seed=12)]
    send(base_url, young_and_new)
    shifted = drift(base_url)
    assert shifted["psi"]["tenure_months"] >= 0.25 and shifted["psi"]["is_active"] >= 0.25
    assert shifted["prediction"] >= 0.1, shifted  # far more churners than in training


def bin_counts(base_url: str) -> dict[str, float]:
    """Every drift bin counter of one scrape, summed over the workers."""
    text = httpx.get(base_url + "/metrics").text
    counts: dict[str, float] = {}
    for found in re.finditer(r"^(drift_(?:feature|prediction)_bin_total\{[^}]*\}) (\S+)",
                             text, re.MULTILINE):
        counts[found[1]] = counts.get(found[1], 0.0) + float(found[2])
    return counts


def test_one_record_at_a_time_counts_as_a_batch_does(
        churn_service: tuple[ServiceProcess, Deployment]) -> None:
    # /predict counts without arrays, /predict/batch vectorised: the same records must land
    # in the same bins either way (a value on a bin edge included).
    server, deployment = churn_service
    base_url = server.base_url
    records = churn_records(150, seed=21)
    edges = {f.name: f.drift.edges for f in deployment.context.features
             if f.drift and f.drift.edges}
    records[0] = {**records[0], "age": int(edges["age"][3]),
                  "credit_score": edges["credit_score"][0]}

    def delta(send_them: Any) -> dict[str, float]:
        before = bin_counts(base_url)
        send_them()
        # Each worker publishes its single-record counts within FLUSH_SECONDS.
        time.sleep(FLUSH_SECONDS + 0.5)
        after = bin_counts(base_url)
        return {k: v - before.get(k, 0.0) for k, v in after.items()
                if v - before.get(k, 0.0)}

    def one_by_one() -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            for record in records:
                assert client.post("/predict", json=record).status_code == 200

    singles = delta(one_by_one)
    batched = delta(lambda: send(base_url, records))
    assert singles == batched and sum(singles.values()) == 7 * len(records), singles
