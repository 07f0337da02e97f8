"""The Ray Serve target, offline: every file written and validated (Serve's own schema,
KubeRay's RayService CRD made strict, ruff), the code package reproducible and complete,
and a typo in either config caught with the field named. The real cluster is
``tests/verify/test_ray_cluster.py``'s."""

from __future__ import annotations

import zipfile

import pytest
import yaml
from conftest import Deployment
from helpers import undocumented

from deployment_agent.contract.errors import BuildError
from deployment_agent.release.ray import validate_rayservice, validate_serve_config, write
from deployment_agent.stack import pin


def test_the_ray_target_is_written_valid_and_reproducible(
        deployments: dict[str, Deployment]) -> None:
    layout = deployments["churn"].layout
    first = write(layout)
    folder = layout.ray
    assert sorted(p.name for p in folder.iterdir()) == [
        "cluster.env", "rayservice.yaml", "requirements.txt", "serve_app.py",
        "serve_config.yaml"]
    config = yaml.safe_load((folder / "serve_config.yaml").read_text())
    app = config["applications"][0]
    assert config["proxy_location"] == "EveryNode"
    assert app["import_path"] == "serve_app:app"
    assert app["runtime_env"]["working_dir"] == first["package_uri"]
    deployment = app["deployments"][0]
    assert deployment["num_replicas"] == 2 and deployment["max_ongoing_requests"] == 32
    assert "user_config" not in deployment  # nothing reaches every replica at once
    assert "RAY_SERVE_ENABLE_HA_PROXY=1" in (folder / "cluster.env").read_text()
    assert f"ray[serve]=={pin('ray')}" in (folder / "requirements.txt").read_text()
    with zipfile.ZipFile(first["package"]) as package:
        names = package.namelist()
    assert {"serve_app.py", "api/main.py", "api/settings.py"} <= set(names)
    assert any(name.startswith("model/") for name in names)
    assert not any("__pycache__" in name for name in names)
    assert write(layout)["package"] == first["package"]  # same files, same package
    service = yaml.safe_load((folder / "rayservice.yaml").read_text())
    assert yaml.safe_load(service["spec"]["serveConfigV2"]) == config
    assert undocumented(folder) == []  # first person, as every generated module


@pytest.mark.parametrize(("change", "named"), [
    (lambda d: d["spec"].update(upgradeStrategi={"type": "NewCluster"}), "upgradeStrategi"),
    (lambda d: d["spec"]["rayClusterConfig"]["workerGroupSpecs"][0].pop("groupName"),
     "groupName"),
])
def test_a_rayservice_typo_is_caught(deployments: dict[str, Deployment], change, named
                                     ) -> None:
    layout = deployments["churn"].layout
    write(layout)
    document = yaml.safe_load((layout.ray / "rayservice.yaml").read_text())
    change(document)
    with pytest.raises(BuildError, match=named):
        validate_rayservice(document)


def test_a_serve_config_typo_is_caught(deployments: dict[str, Deployment]) -> None:
    layout = deployments["churn"].layout
    write(layout)
    config = yaml.safe_load((layout.ray / "serve_config.yaml").read_text())
    config["applications"][0]["deployments"][0]["max_ongoing_request"] = 3
    with pytest.raises(BuildError, match="max_ongoing_request"):
        validate_serve_config(config)
