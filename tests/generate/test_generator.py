"""The generated tree: complete, lint-clean, importable, reproducible, and self-describing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import Deployment
from helpers import generate

from deployment_agent.contract.errors import DeploymentAgentError
from deployment_agent.hashing import sha256_file
from deployment_agent.package.bento import build
from deployment_agent.plan.layout import layout_for
from deployment_agent.resources import outputs
from deployment_agent.verify.server import ServiceProcess


@pytest.mark.parametrize("name", ["churn", "diabetes", "iris_sites", "recommender"])
def test_every_template_is_rendered_and_listed(deployments: dict[str, Deployment],
                                               name: str) -> None:
    deployment = deployments[name]
    root = deployment.layout.deployment
    runtimes = deployment.manifest["runtimes"]
    for rel in outputs(runtimes["serving"]):
        assert (root / rel).is_file(), rel
    files = deployment.manifest["files"]
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk - set(files) == {"deployment_manifest.json"}
    for rel, digest in files.items():
        assert sha256_file(root / rel) == digest, rel
    recorded = json.loads((root / "deployment_manifest.json").read_text())
    assert recorded == deployment.manifest
    assert recorded["model"]["sha256"] == sha256_file(root / recorded["model"]["file"])
    # One home per file: the folder's Dockerfile builds from the folder, the bento's
    # dockerfile_template from the bento (BentoML renders it again at containerize time: it
    # holds no Jinja syntax); both run the same entrypoint as the same user.
    dockerfile = (root / "Dockerfile").read_text()
    assert "COPY api ./api" in dockerfile
    template = (root / "docker" / "Dockerfile.template").read_text()
    assert "COPY --chown=10001:10001 ./src /srv" in template and template != dockerfile
    assert "{{" not in template and "{%" not in template and "{#" not in template
    for text in (dockerfile, template):
        assert 'ENTRYPOINT ["python3", "-m", "api.serve"]' in text
        assert "USER 10001:10001" in text
    assert (root / ".dockerignore").is_file()


@pytest.mark.parametrize("name", ["churn", "diabetes", "iris_sites", "recommender"])
def test_generated_python_passes_ruff_and_imports(deployments: dict[str, Deployment],
                                                  name: str) -> None:
    root = deployments[name].layout.deployment
    # From the folder, with its own ruff.toml, and from the repository's root.
    for cwd, target in ((root, "."), (Path("/"), str(root))):
        ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", target],
                              cwd=cwd, capture_output=True, text=True)
        assert ruff.returncode == 0, ruff.stdout
    imported = subprocess.run(
        [sys.executable, "-c", "import service, api.main; print(api.main.app.title)"],
        cwd=root, capture_output=True, text=True,
        env={**os.environ, "BENTOML_DO_NOT_TRACK": "True"},
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == deployments[name].manifest["api"]["title"]


def _pins(folder: Path) -> dict[str, str]:
    lines = (folder / "requirements.txt").read_text().splitlines()
    assert all("==" in line for line in lines if line and not line.startswith("#"))
    return dict(line.split("==") for line in lines if "==" in line)


def test_requirements_pin_the_training_versions(experiments: dict[str, Path],
                                                tmp_path: Path) -> None:
    """Served by scikit-learn, the model's libraries keep their training versions; served
    by ONNX Runtime, none of them ships."""
    for name in ("churn", "diabetes"):
        out, manifest = generate(experiments[name], output_dir=tmp_path / name,
                                             model_runtime="native")
        pins = _pins(out)
        trained = json.loads(experiments[name].read_text())["framework_versions"]
        assert pins["scikit-learn"] == trained["scikit-learn"]
        assert pins["numpy"] == trained["numpy"]
        assert {"bentoml", "fastapi", "pydantic", "uvicorn", "prometheus-client"} <= set(pins)
        assert ("skops" in pins) == (name == "diabetes")
    out, manifest = generate(experiments["churn"], output_dir=tmp_path / "onnx",
                                         model_runtime="onnx")
    assert manifest["runtimes"]["model"] == "onnx"
    assert not {"scikit-learn", "scipy", "joblib", "pandas"} & set(_pins(out))


def test_two_clean_builds_are_byte_identical(experiments: dict[str, Path],
                                             tmp_path: Path) -> None:
    trees = []
    for attempt in ("a", "b"):
        out, _ = generate(experiments["iris_sites"], output_dir=tmp_path / attempt)
        trees.append({p.relative_to(out): p.read_bytes() for p in out.rglob("*")
                      if p.is_file()})
    assert trees[0] == trees[1]


def test_feature_names_with_spaces_become_aliases(deployments: dict[str, Deployment]) -> None:
    schemas = (deployments["iris_sites"].layout.deployment / "api" / "schemas.py").read_text()
    assert 'petal_length_cm: Annotated[' in schemas
    assert 'alias="petal length (cm)"' in schemas
    assert 'Literal["north meadow", "river bank", "south ridge"]' in schemas


def test_rollback_names_the_previous_image(experiments: dict[str, Path],
                                           tmp_path: Path) -> None:
    out, first = generate(experiments["churn"], output_dir=tmp_path / "d",
                                      api_version="1.0.0")
    assert "No previous deployment" in (out / "runbook.md").read_text()
    out, second = generate(experiments["churn"], output_dir=tmp_path / "d",
                                       api_version="1.1.0")
    runbook = (out / "runbook.md").read_text()
    assert f"Previous image: `{first['image']}`" in runbook
    assert f"docker run -d --name customer-churn-api -p 8000:8000 {first['image']}" in runbook
    assert second["image"] == "customer-churn-api:1.1.0"
    history = json.loads((tmp_path / "d_history.json").read_text())
    assert [h["image_ref"] for h in history] == ["customer-churn-api:1.0.0",
                                                  "customer-churn-api:1.1.0"]


def test_uvicorn_runtime_has_its_own_dockerfile_and_no_bentoml(experiments: dict[str, Path],
                                                                tmp_path: Path) -> None:
    out, manifest = generate(experiments["churn"], output_dir=tmp_path / "d",
                                         runtime="uvicorn")
    dockerfile = (out / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python3", "-m", "api.serve"]' in dockerfile
    assert "USER 10001:10001" in dockerfile
    assert "FROM deployment-agent/wheelhouse:" in dockerfile
    assert "bentoml" not in (out / "requirements.txt").read_text()
    assert manifest["files"]["Dockerfile"] == sha256_file(out / "Dockerfile")
    assert not (out / "docker" / "Dockerfile.template").exists()
    assert (out / ".dockerignore").is_file() and (out / "docker" / "slim_rootfs.py").is_file()


def test_prediction_is_read_off_predict_proba_only_where_exact(
        deployments: dict[str, Deployment], tmp_path: Path) -> None:
    """LogisticRegression: predict == argmax(predict_proba), one model call. A classifier
    outside the allow-list (here k-nearest neighbours, whose vote and probabilities may
    break ties differently) keeps both calls."""
    import joblib
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 2)), rng.integers(0, 2, 60)
    joblib.dump(KNeighborsClassifier(4).fit(X, y), tmp_path / "knn.joblib")
    manifest = {"model_path": "knn.joblib", "model_type": "sklearn", "classes": [0, 1],
                "input_schema": {"a": "float", "b": "float"}}
    (tmp_path / "experiment_manifest.json").write_text(json.dumps(manifest))
    out, _ = generate(tmp_path / "experiment_manifest.json",
                                  model_runtime="native")
    spec = json.loads((out / "api" / "model_spec.json").read_text())
    assert spec["family"] == "sklearn" and spec["predict_from_proba"] is False
    churn, _ = generate(deployments["churn"].layout.manifest,
                                    output_dir=tmp_path / "churn", model_runtime="native")
    spec = json.loads((churn / "api" / "model_spec.json").read_text())
    assert spec["family"] == "sklearn" and spec["predict_from_proba"] is True


def test_secrets_next_to_the_deployment_stay_out_of_the_bento(
        experiments: dict[str, Path], tmp_path: Path) -> None:
    """Keys and certificates an operator keeps beside the deployment (even in model/) are
    not packaged: the bento is built from an allow-list."""
    out, _ = generate(experiments["churn"], output_dir=tmp_path / "deployment")
    decoy = "decoy-secret-4f1b0c"
    for rel in ("api_keys.txt", ".env", "tls/key.pem", "model/api_keys.txt", "secrets/token"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(f"{decoy}\n")
    bento = Path(build(layout_for(experiments["churn"], out)).path)
    packaged = [p for p in bento.rglob("*") if p.is_file()]
    assert any(p.name.startswith("model.") for p in packaged)
    assert not [p for p in packaged if decoy.encode() in p.read_bytes()]
    uvicorn, _ = generate(experiments["churn"], output_dir=tmp_path / "uvicorn",
                                      runtime="uvicorn")
    assert "api_keys" in (uvicorn / ".dockerignore").read_text()  # its image's build context


@pytest.mark.server
def test_skops_types_are_trusted_only_from_the_build_configuration(tmp_path: Path) -> None:
    """A skops model holding a type skops does not trust by default is refused, naming the
    type and the setting; listed in the settings, it is built and served. The list in the
    generated service comes from the settings, never from the model file."""
    import numpy as np
    import skops.io
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    model = make_pipeline(FunctionTransformer(np.sinc), Ridge()).fit(X, X.sum(axis=1))
    skops.io.dump(model, tmp_path / "model.skops")
    manifest = {"model_path": "model.skops", "model_type": "skops", "task": "regression",
                "input_schema": {"a": "float", "b": "float"}}
    (tmp_path / "experiment_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DeploymentAgentError, match=r"numpy\.sinc.*skops_trusted_types"):
        generate(tmp_path / "experiment_manifest.json")
    settings = tmp_path / "settings.yaml"
    settings.write_text("deployment:\n  model:\n    skops_trusted_types: [numpy.sinc]\n")
    out, manifest = generate(tmp_path / "experiment_manifest.json",
                                         settings_path=settings)
    # skl2onnx has no converter for an arbitrary function: served by scikit-learn, and
    # the reason is recorded.
    assert manifest["runtimes"]["model"] == "native"
    assert "conversion error" in manifest["runtimes"]["model_reason"]
    spec = json.loads((out / "api" / "model_spec.json").read_text())
    assert spec["skops_trusted_types"] == ["numpy.sinc"]
    with ServiceProcess.uvicorn(out) as server:
        server.wait_for("/health/ready")
        assert httpx.post(server.base_url + "/predict", json={"a": 0.5, "b": 1.0}
                          ).status_code == 200
