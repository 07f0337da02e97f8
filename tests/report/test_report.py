"""The report after deployment: the churn service's log and feedback, drawn by Evidently in
its own environment (made from the package index once: slow)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from conftest import report, train
from helpers import generate, sample_records

from deployment_agent.cli import main
from deployment_agent.plan.layout import layout_for
from deployment_agent.plan.planner import read_context
from deployment_agent.verify.server import ServiceProcess

pytestmark = pytest.mark.slow


def test_the_report_draws_drift_and_quality_over_time(tmp_path: Path) -> None:
    manifest = train("churn", tmp_path / "modeling")
    root, _ = generate(manifest)
    context = read_context(layout_for(manifest))
    log = tmp_path / "log"
    records = sample_records(context, 200, seed=11)
    # A real server, stopped gracefully (its own process: the tests' in-process apps share
    # one metrics registry, whose counts other tests check).
    with ServiceProcess.entrypoint(root, tmp_path / "bentoml", {
            "WORKERS": "1", "INFERENCE_LOG_ENABLED": "true",
            "INFERENCE_LOG_DIR": str(log)}) as server:
        server.wait_for("/health/ready", timeout=90)
        answers = httpx.post(f"{server.base_url}/predict/batch", json={"records": records},
                             headers={"X-Request-ID": "r"}, timeout=30).json()["predictions"]
        truth = [a["prediction"] if i % 4 else 1 - a["prediction"]
                 for i, a in enumerate(answers)]
        assert httpx.post(f"{server.base_url}/feedback", json={"outcomes": [
            {"prediction_id": f"r-{i}", "outcome": t} for i, t in enumerate(truth)]},
            timeout=30).status_code == 200
        server.stop()  # SIGTERM: every worker writes what it queued
    assert main(["report", str(manifest), "--log-dir", str(log)]) == 0
    page = layout_for(manifest).report.read_text(encoding="utf-8")
    assert "200 records logged; 200 with an outcome." in page
    assert "Realized quality per hour served" in page  # the Plotly chart
    assert "Drift per feature" in page and "Realized quality on the records" in page
    assert re.search(r"plotly", page, re.I)
    report(f"report: {len(page) / 1e6:.1f} MB of HTML for 200 logged records with outcomes")


def test_without_a_log_the_report_says_which_folder_to_give(tmp_path: Path) -> None:
    manifest = train("churn", tmp_path / "modeling")
    generate(manifest)
    assert main(["report", str(manifest), "--log-dir", str(tmp_path / "nowhere")]) != 0
