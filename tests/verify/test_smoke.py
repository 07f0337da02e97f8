"""The build is done only when the service can serve where it will run: the smoke check
serves it from a virtualenv made only from its locked wheels, a service that cannot become
ready fails the build with its own reason, and the previous deployment stays in place."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deployment_agent import run_deployment_agent
from deployment_agent.verify.smoke import SmokeError

pytestmark = pytest.mark.server


def test_a_service_that_cannot_become_ready_fails_the_build_and_the_previous_stays(
        experiments: dict[str, Path], tmp_path: Path) -> None:
    """The manifest says scikit-learn 1.8.0 trained the model (it was 1.9.1): the build
    cannot check that here (another version is installed), pins 1.8.0, and the service,
    served from its own wheels, refuses the pickle. That refusal is the build's error."""
    folder = tmp_path / "modeling"
    shutil.copytree(experiments["churn"].parent, folder)
    manifest = folder / "experiment_manifest.json"
    out, first = run_deployment_agent(manifest, runtime="uvicorn", model_runtime="native")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    data = json.loads(manifest.read_text())
    data["framework_versions"]["scikit-learn"] = "1.8.0"
    manifest.write_text(json.dumps(data))
    with pytest.raises(SmokeError) as failed:
        run_deployment_agent(manifest, runtime="uvicorn", model_runtime="native",
                             api_version="2.0.0")
    message = str(failed.value)
    assert "did not become ready in its own environment" in message
    assert "trained with scikit-learn 1.9.1, loaded by 1.8.0" in message
    assert "The previous deployment, which passed its smoke check, is back" in message
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert json.loads((out / "deployment_manifest.json").read_text())["bento_tag"] == \
        first["bento_tag"]
