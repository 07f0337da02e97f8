"""The doit graph (dodo.py), run for real in a scratch project: complete, incremental, exact
targets, clean failures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from deployment_agent.resources import TEMPLATES_ENV, runbook_dir, templates_dir

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.server  # the default tasks end by serving the bento


def doit(project: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run doit on the repository's dodo.py with ``project`` as working directory."""
    result = subprocess.run(
        [sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py"), "-d", str(project), *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600,
    )
    return result.returncode, result.stdout + result.stderr


def ran(output: str) -> set[str]:
    """Tasks doit executed (``.  name``); up-to-date ones print ``-- name``."""
    return {line[3:].strip() for line in output.splitlines() if line.startswith(".  ")}


def fresh_project(root: Path) -> tuple[Path, dict[str, str]]:
    """A scratch project as a fresh clone has it: the examples, the configuration and a
    private copy of the templates; nothing built."""
    shutil.copytree(ROOT / "examples", root / "examples",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "config", root / "config")
    templates = root / "templates"
    shutil.copytree(templates_dir(), templates)
    shutil.copytree(runbook_dir(), templates / "runbook")
    return root, {TEMPLATES_ENV: str(templates),
                  "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A scratch project shared by the tests of this module, in order."""
    return fresh_project(tmp_path_factory.mktemp("project"))


# Each task that needs no Docker daemon, with the record or file it writes last.
ALONE = {"validate": "deployment-build/context.json",
         "compile": "deployment-build/compiled/gate.json",
         "generate": "deployment-build/generated.json",
         "bento": "deployment-build/bento.json",
         "wheelhouse": "deployment-build/wheelhouse/requirements.lock.txt",
         "smoke": "deployment-build/smoke.json",
         "k8s": "k8s/kustomization.yaml"}


@pytest.mark.parametrize("task", sorted(ALONE))
def test_each_task_alone_runs_in_a_fresh_project(task: str, tmp_path: Path) -> None:
    """Every file a task reads is declared (as a file or a task dependency): run alone in
    a fresh clone, each one runs what it needs first and succeeds, and a second run does
    nothing. (containerize and push, which need Docker, start from a fresh project in
    test_build_then_push_pushes_what_was_built.)"""
    root, env = fresh_project(tmp_path)
    code, output = doit(root, task, env=env)
    assert code == 0, output
    assert task in ran(output), output
    assert (root / "artifacts" / ALONE[task]).is_file(), output
    code, output = doit(root, task, env=env)
    assert code == 0 and ran(output) == set(), output


def test_one_task_alone_runs_in_a_fresh_project(tmp_path: Path) -> None:
    """doit writes its database into the build state folder even when only the examples
    are trained: the folder exists before it does."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns("__pycache__"))
    code, output = doit(tmp_path, "train_example:churn",
                        env={"PYTHONPATH": os.pathsep.join([str(tmp_path),
                                                             os.environ.get("PYTHONPATH", "")])})
    assert code == 0, output
    assert (tmp_path / "artifacts/deployment-build/doit.db").is_file()


def test_first_run_builds_everything_and_second_run_nothing(
        project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    code, output = doit(root, env=env)
    assert code == 0, output
    assert ran(output) == {"train_example:churn", "train_example:diabetes",
                           "train_example:iris_sites", "train_example:recommender",
                           "validate", "compile", "generate", "bento", "wheelhouse", "smoke",
                           "bentos"}
    smoke = json.loads((root / "artifacts/deployment-build/smoke.json").read_text())
    assert smoke["observed"]["POST /predict"] == 200
    # bentos/ holds the smoke-checked bento as one archive (`bentoml import` restores it).
    archive = root / "bentos" / f"{smoke['tag'].replace(':', '-')}.bento"
    assert tarfile.is_tarfile(archive), sorted((root / "bentos").iterdir())
    code, output = doit(root, env=env)
    assert code == 0, output
    assert ran(output) == set(), output


def test_editing_one_template_reruns_only_its_dependents(
        project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    section = Path(env[TEMPLATES_ENV]) / "runbook" / "07_contacts.md.j2"
    section.write_text(section.read_text() + "- Escalation: the head of data science\n")
    code, output = doit(root, env=env)
    assert code == 0, output
    # The runbook is not part of the bento: its tag is unchanged, nothing is rebuilt, and
    # the requirements are the same: no wheel is fetched again.
    assert ran(output) == {"generate"}, output
    assert "head of data science" in (root / "artifacts/deployment/runbook.md").read_text()
    code, output = doit(root, env=env)
    assert ran(output) == set(), output


def test_changing_the_api_version_rebuilds_the_service_not_the_model(
        project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    code, output = doit(root, env={**env, "API_VERSION": "1.1.0"})
    assert code == 0, output
    assert ran(output) == {"validate", "compile", "generate", "bento", "smoke",
                           "bentos"}, output
    manifest = json.loads((root / "artifacts/deployment/deployment_manifest.json").read_text())
    assert manifest["image"] == "customer-churn-api:1.1.0"
    assert "Previous image: `customer-churn-api:1.0.0`" in (
        root / "artifacts/deployment/runbook.md").read_text()


def test_an_invalid_manifest_fails_doit_and_keeps_the_deployment(
        project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    manifest_path = root / "artifacts/modeling/experiment_manifest.json"
    good = manifest_path.read_text()
    before = (root / "artifacts/deployment/api/schemas.py").read_bytes()
    broken = json.loads(good)
    broken["input_schema"]["age"] = "integer"
    manifest_path.write_text(json.dumps(broken))
    try:
        code, output = doit(root, "validate", "compile", "generate", env=env)
    finally:
        manifest_path.write_text(good)
    assert code != 0
    assert 'input_schema["age"].type: unknown type \'integer\'. Fix: use one of' in output
    assert "Traceback" not in output
    assert (root / "artifacts/deployment/api/schemas.py").read_bytes() == before


def test_the_model_file_is_a_dependency_checked_by_content(
        project: tuple[Path, dict[str, str]]) -> None:
    """A touched model is still up to date; a model whose bytes changed reruns validate,
    which refuses it against the manifest's checksum; the good bytes back, it settles."""
    root, env = project
    model = root / "artifacts/modeling/model.joblib"
    good = model.read_bytes()
    assert doit(root, "validate", env=env)[0] == 0  # settled (earlier tests change settings)
    os.utime(model)
    code, output = doit(root, "validate", env=env)
    assert code == 0 and ran(output) == set(), output
    model.write_bytes(good + b"\0")
    try:
        code, output = doit(root, "validate", env=env)
    finally:
        model.write_bytes(good)
    assert code != 0 and "model_sha256" in output, output
    assert "Traceback" not in output
    # doit forgets a task that failed, so the good bytes back rerun validate once.
    code, output = doit(root, "validate", env=env)
    assert code == 0 and ran(output) == {"validate"}, output
    code, output = doit(root, "validate", env=env)
    assert code == 0 and ran(output) == set(), output


def test_another_manifest_is_selected_by_parameter(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    manifest = "artifacts/examples/iris_sites/modeling/experiment_manifest.json"
    code, output = doit(root, "generate", f"manifest={manifest}", env=env)
    assert code == 0, output
    assert (root / "artifacts/examples/iris_sites/deployment/api/main.py").is_file()


def test_each_task_alone_settles(project: tuple[Path, dict[str, str]]) -> None:
    """`doit generate; doit generate` reruns nothing: its targets are exactly what it writes
    (the Dockerfile included), and no other task writes into the deployment folder."""
    root, env = project
    code, output = doit(root, "generate", env=env)
    assert code == 0, output
    code, output = doit(root, "generate", env=env)
    assert ran(output) == set(), output
    code, output = doit(root, "info", "generate", env=env)
    assert "deployment/Dockerfile" in output and "deployment/api/scoring.py" in output
    for task in ("validate", "compile", "bento", "smoke"):
        code, output = doit(root, "info", task, env=env)
        assert "deployment/" not in output.split("targets")[-1].replace(
            "deployment-build/", ""), (task, output)


def test_the_registry_is_part_of_the_bentos_up_to_date_check(
        project: tuple[Path, dict[str, str]]) -> None:
    """REGISTRY names the image: the bento's record follows it both ways, so that the image
    built next carries the name it will be pushed under."""
    root, env = project
    record = root / "artifacts/deployment-build/bento.json"
    for registry in ("127.0.0.1:5999/ml", ""):
        code, output = doit(root, "bento", env={**env, "REGISTRY": registry})
        assert code == 0, output
        assert "bento" in ran(output), output
        image = json.loads(record.read_text())["image"]
        assert image.startswith(f"{registry}/") == bool(registry), image
    code, output = doit(root, "bento", env={**env, "REGISTRY": ""})
    assert ran(output) == set(), output


@pytest.mark.docker
def test_build_then_push_pushes_what_was_built(tmp_path: Path) -> None:
    """The most common flow, from a fresh project, with the registry toggled in between:
    `doit containerize`, then `REGISTRY=... doit push`, then `doit containerize` without
    it, then the push again. The image pushed is always the one built under the
    registry's name, and its digest stays on record."""
    from servers import registry

    root, env = fresh_project(tmp_path / "project")
    pushed = root / "artifacts/deployment-build/push.json"
    with registry(tmp_path / "registry") as address:
        named = {**env, "REGISTRY": f"{address}/ml"}
        digests = []
        for attempt in range(2):
            code, output = doit(root, "containerize", env={**env, "REGISTRY": ""})
            assert code == 0, output
            code, output = doit(root, "push", env=named)
            assert code == 0, output
            # The image is rebuilt under the registry's name each time; the second time it
            # is the very image already pushed (same id, same name): nothing to push, and
            # its digest is still on record.
            assert "containerize" in ran(output), output
            assert ("push" in ran(output)) == (attempt == 0), output
            record = json.loads(pushed.read_text())
            assert record["image"].startswith(f"{address}/ml/"), record
            assert record["reference"].startswith(f"{address}/ml/") and "@sha256:" in \
                record["reference"]
            digests.append(record["digest"])
            code, output = doit(root, "push", env=named)
            assert ran(output) == set(), output
        assert digests[0] == digests[1]
        manifest = json.loads((root / "artifacts/deployment/deployment_manifest.json")
                              .read_text())
        assert "image_digest" not in manifest
