"""The seed's Python examples run exactly as it writes them, from a project folder holding
the modelling step's output (``artifacts/modeling/``): each build ends with the smoke
check, the service served from an environment made only from its locked wheels."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import train

from deployment_agent import run_deployment_agent
from deployment_agent.plan.layout import layout_for
from deployment_agent.plan.planner import read_context

pytestmark = pytest.mark.server


def test_the_recommender_example_deploys_as_written(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Seed, example 2, word for word; the churn example shares the modeling folder and
    keeps its own deployment."""
    train("recommender", tmp_path / "artifacts" / "modeling")
    train("churn", tmp_path / "artifacts" / "modeling")
    monkeypatch.chdir(tmp_path)
    churn_path, _ = run_deployment_agent(
        experiment_manifest_path="artifacts/modeling/experiment_manifest.json")

    artifacts_path, manifest = run_deployment_agent(
        experiment_manifest_path="artifacts/modeling/recommender.json",
        api_title="Product Recommender API",
        api_version="1.0.0"
    )

    assert artifacts_path == Path("artifacts/deployment-recommender")
    assert churn_path == Path("artifacts/deployment") and (churn_path / "runbook.md").is_file()
    assert manifest["api"] == {"title": "Product Recommender API", "version": "1.0.0"}
    assert manifest["model"]["task"] == "recommendation"
    assert manifest["catalogue"]["items"] == 240
    assert manifest["catalogue"]["sha256"] == manifest["files"]["model/catalogue.csv"]
    context = read_context(layout_for("artifacts/modeling/recommender.json"))
    assert context.model.spec.catalogue is not None
    assert context.model.spec.catalogue.strategy == "neighbors"
    runbook = (artifacts_path / "runbook.md").read_text()
    assert "k` (1 to 50, default 10" in runbook and '"item_id"' in runbook
    smoke = layout_for("artifacts/modeling/recommender.json").smoke_report.read_text()
    assert manifest["bento_tag"] in smoke
