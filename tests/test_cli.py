"""The ``deployment-agent`` command: the doit graph on any manifest, from any folder.

The last test builds the wheel, installs it into a fresh virtualenv in a temporary folder
and deploys a manifest from a third folder, as a user of the published package would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import ROOT, train

from deployment_agent.cli import main

pytestmark = pytest.mark.server  # deploy ends by serving the build


def run_cli(*args: str, cwd: Path, python: str = sys.executable,
            command: list[str] | None = None) -> tuple[int, str]:
    result = subprocess.run([*(command or [python, "-m", "deployment_agent"]), *args], cwd=cwd,
                            capture_output=True, text=True, timeout=900,
                            env={**os.environ, "BENTOML_DO_NOT_TRACK": "True"})
    return result.returncode, result.stdout + result.stderr


def test_deploy_builds_serves_checks_and_settles(tmp_path: Path) -> None:
    manifest = train("iris_sites", tmp_path / "ml" / "modeling")
    code, output = run_cli("deploy", str(manifest), "--title", "Iris \"sites\" API",
                           "--version", "2.0.0", cwd=tmp_path)
    assert code == 0, output
    deployment = tmp_path / "ml" / "deployment"
    record = json.loads((deployment / "deployment_manifest.json").read_text())
    assert record["api"] == {"title": 'Iris "sites" API', "version": "2.0.0"}
    smoke = json.loads((tmp_path / "ml" / "deployment-build" / "smoke.json").read_text())
    assert smoke["observed"]["POST /predict"] == 200
    code, output = run_cli("deploy", str(manifest), "--title", "Iris \"sites\" API",
                           "--version", "2.0.0", cwd=tmp_path)
    assert code == 0 and not [ln for ln in output.splitlines() if ln.startswith(".  ")], output
    code, output = run_cli("deploy", str(manifest), "--version", "2.0.1", cwd=tmp_path)
    assert code == 0 and ".  validate" in output, output


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    code, output = run_cli("deploy", str(tmp_path / "missing.json"), cwd=tmp_path)
    assert code != 0 and "file not found. Fix:" in output and "Traceback" not in output
    with pytest.raises(SystemExit):
        main(["deploy", "m.json", "--port", "eighty"])


def test_schema_and_settings_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "Experiment manifest"
    assert main(["settings"]) == 0
    assert "DRIFT_THRESHOLD" in capsys.readouterr().out


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_and_deploys_from_a_third_folder(
        tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist),
                            str(ROOT)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(dist.glob("deployment_agent-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    installed = subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-compile",
                                str(wheel)],
                               capture_output=True, text=True, timeout=1200)
    assert installed.returncode == 0, installed.stderr[-3000:]
    project = tmp_path / "someone-elses-ml-repo"
    manifest = train("churn", project / "runs" / "7" / "modeling")
    shutil.rmtree(project / "runs" / "7" / "modeling" / "__pycache__", ignore_errors=True)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    code, output = run_cli("deploy", str(manifest), "--title", "Churn API", "--version",
                           "1.0.0", cwd=cwd, command=[str(env_dir / "bin" / "deployment-agent")])
    assert code == 0, output
    assert (project / "runs" / "7" / "deployment" / "runbook.md").is_file()
    assert (project / "runs" / "7" / "deployment-build" / "smoke.json").is_file()
    site = next((env_dir / "lib").glob("python3*/site-packages/deployment_agent"))
    assert (site / "templates" / "common" / "api" / "schemas.py.j2").is_file()
    assert (site / "runbook" / "07_contacts.md.j2").is_file()
    assert (site / "service" / "app.py").is_file() and (site / "generate" / "ruff.toml").is_file()
    assert not list(site.rglob("*.db")) and not (site / "deployment-build").exists()
    assert not list(cwd.iterdir())  # nothing written where the command was run
