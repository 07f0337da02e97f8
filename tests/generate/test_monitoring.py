"""Monitoring as code: the alert rules pass promtool's check and its unit tests, for every
example; a broken rule is caught; the dashboard queries the service's own metrics."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import Deployment
from helpers import dashboard_metrics
from servers import binary

from deployment_agent.generate.monitoring import alerts

REQUIRED = {"ModelNotReady", "HighErrorRate", "HighLatencyP99", "InputDriftWarning",
            "InputDriftCritical", "NoTraffic", "WorkerRestarted"}


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool", "prometheus"), *args], cwd=cwd,
                          capture_output=True, text=True)


@pytest.mark.parametrize("name", ["churn", "diabetes", "iris_sites"])
def test_rules_pass_promtool_check_and_unit_tests(deployments: dict[str, Deployment],
                                                  name: str) -> None:
    folder = deployments[name].layout.deployment / "monitoring"
    checked = promtool("check", "rules", "alerts.yml", cwd=folder)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alerts(deployments[name].context))} rules found" in checked.stdout
    tested = promtool("test", "rules", "alerts_test.yml", cwd=folder)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert {a.name for a in alerts(deployments[name].context)} >= REQUIRED


def test_a_broken_rule_or_a_wrong_expectation_is_caught(deployments: dict[str, Deployment],
                                                        tmp_path: Path) -> None:
    folder = deployments["churn"].layout.deployment / "monitoring"
    for name in ("alerts.yml", "alerts_test.yml"):
        (tmp_path / name).write_text((folder / name).read_text())
    rules = tmp_path / "alerts.yml"
    rules.write_text(rules.read_text().replace(">= 0.25", ">= 0.5"))
    assert promtool("test", "rules", "alerts_test.yml", cwd=tmp_path).returncode != 0
    rules.write_text(rules.read_text().replace("max(drift_psi", "max(drift_psi{{"))
    assert promtool("check", "rules", "alerts.yml", cwd=tmp_path).returncode != 0


def test_the_dashboard_covers_what_the_issue_asks(deployments: dict[str, Deployment]) -> None:
    names = dashboard_metrics(deployments["churn"].layout.deployment)
    assert {"http_requests_total", "http_request_duration_seconds_bucket", "model_ready",
            "drift_psi"} <= names
