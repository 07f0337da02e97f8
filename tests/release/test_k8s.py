"""The Kubernetes kustomize base: every object valid offline, the Deployment hardened as the
issue asks, the base rendered by kubectl kustomize; a typo is caught."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import Deployment

from deployment_agent.contract.errors import BuildError
from deployment_agent.release.k8s import kustomize, validate_documents, write


def objects(folder: Path) -> dict[str, dict]:
    found = {}
    for path in folder.glob("*.yaml"):
        if path.name != "kustomization.yaml":
            for document in yaml.safe_load_all(path.read_text()):
                found[document["kind"]] = document
    return found


def test_the_base_is_valid_and_hardened(deployments: dict[str, Deployment]) -> None:
    deployment = deployments["churn"]
    written = write(deployment.layout)
    assert sorted(written["kinds"]) == ["ConfigMap", "Deployment", "HorizontalPodAutoscaler",
                                        "InferenceService", "NetworkPolicy",
                                        "PodDisruptionBudget", "PrometheusRule", "Service",
                                        "ServiceMonitor"]
    found = objects(deployment.layout.k8s)
    pod = found["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == deployment.context.image.ref  # not pushed: by tag
    assert container["startupProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"]["requests"] == container["resources"]["limits"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"]
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert pod["terminationGracePeriodSeconds"] > deployment.context.api.graceful_shutdown_seconds
    secret = next(v for v in pod["volumes"] if v["name"] == "api-keys")["secret"]
    assert secret["secretName"].endswith("-api-keys")
    assert found["HorizontalPodAutoscaler"]["apiVersion"] == "autoscaling/v2"
    rules = found["PrometheusRule"]["spec"]["groups"][0]["rules"]
    assert {"InputDriftWarning", "InputDriftCritical"} <= {r["alert"] for r in rules}
    rendered = list(yaml.safe_load_all(kustomize(deployment.layout.k8s)))
    assert {d["metadata"]["namespace"] for d in rendered} == {"ml-serving"}


@pytest.mark.parametrize(("path", "typo"), [
    ("deployment.yaml", ("readinessProbe:", "readynessProbe:")),
    ("servicemonitor.yaml", ("scrapeTimeout:", "scrapeTimout:")),
    ("prometheusrule.yaml", ("expr:", "expression:")),
    ("hpa.yaml", ("minReplicas: ", "minReplicas: x")),
    ("inferenceservice.yaml", ("livenessProbe:", "livenesProbe:")),
    ("inferenceservice.yaml", ("minReplicas: ", "minReplicas: x")),
    ("inferenceservice.yaml", ("kind: InferenceService", "kind: InferenceServices")),
])
def test_a_typo_fails_validation(deployments: dict[str, Deployment], tmp_path: Path,
                                 path: str, typo: tuple[str, str]) -> None:
    deployment = deployments["churn"]
    write(deployment.layout)
    for source in deployment.layout.k8s.iterdir():
        (tmp_path / source.name).write_text(source.read_text())
    broken = tmp_path / path
    assert typo[0] in broken.read_text()
    broken.write_text(broken.read_text().replace(typo[0], typo[1], 1))
    with pytest.raises(BuildError, match="is invalid"):
        validate_documents(tmp_path)


def test_the_inference_service_runs_the_same_image_on_the_protocols_probes(
        deployments: dict[str, Deployment]) -> None:
    """A KServe custom predictor: the Deployment's image, settings, limits and hardening,
    probed on the Open Inference Protocol's health routes; kept out of the kustomize base
    (it replaces the Deployment there)."""
    deployment = deployments["churn"]
    write(deployment.layout)
    found = objects(deployment.layout.k8s)
    service = found["InferenceService"]
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    predictor = service["spec"]["predictor"]
    container = predictor["containers"][0]
    pod = found["Deployment"]["spec"]["template"]["spec"]
    original = pod["containers"][0]
    assert container["name"] == "kserve-container"
    for key in ("image", "envFrom", "resources", "securityContext", "volumeMounts"):
        assert container[key] == original[key], key
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert predictor["securityContext"] == pod["securityContext"]
    assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == \
        "RawDeployment"
    kustomization = yaml.safe_load((deployment.layout.k8s / "kustomization.yaml").read_text())
    assert "inferenceservice.yaml" not in kustomization["resources"]
