"""Layouts: where a manifest deploys to, and where its build state lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployment_agent.plan.layout import BENTO_STORE_ENV, layout_for


def test_a_modeling_folder_deploys_to_its_sibling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BENTO_STORE_ENV, raising=False)
    layout = layout_for("ml/artifacts/modeling/experiment_manifest.json")
    assert layout.deployment == Path("ml/artifacts/deployment")
    assert layout.state == Path("ml/artifacts/deployment-build")
    assert layout.bento_store == Path("ml/artifacts/deployment-build/bentoml").resolve()


def test_other_manifests_deploy_beside_themselves_and_state_is_configurable(
        tmp_path: Path) -> None:
    layout = layout_for(tmp_path / "m.json", build_dir=tmp_path / "state")
    assert layout.deployment == tmp_path / "deployment-m"
    assert layout.k8s == tmp_path / "k8s-m"
    assert layout.history_file == tmp_path / "deployment-m_history.json"
    assert layout_for(tmp_path / "experiment_manifest.json").deployment == \
        tmp_path / "deployment"
    shared = layout_for("artifacts/modeling/recommender.json")
    assert shared.deployment == Path("artifacts/deployment-recommender")
    assert shared.state == Path("artifacts/deployment-recommender-build")
    assert layout.context_file == tmp_path / "state" / "context.json"
    assert layout_for(tmp_path / "m.json", tmp_path / "out").state == tmp_path / "out-build"
