"""The service's app, built by its factory in this process: the tool's own ``service``
modules, with a generated deployment's settings, schemas, spec and drift references, and
the real model it serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Deployment
from fastapi import FastAPI
from fastapi.testclient import TestClient
from helpers import Generated, generated_api, service_app


@pytest.fixture(scope="module")
def generated(deployments: dict[str, Deployment]) -> Iterator[Generated]:
    """The churn deployment's generated ``settings`` and ``schemas`` modules."""
    with generated_api(deployments["churn"].layout.deployment) as found:
        yield found


def build(generated: Generated, **settings: Any) -> FastAPI:
    return service_app(generated, **settings)


def test_the_factory_builds_a_service_that_predicts_like_the_model(
        generated: Generated, deployments: dict[str, Deployment]
) -> None:
    _, _, schemas = generated
    example = schemas.EXAMPLE_INPUT
    with TestClient(build(generated)) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        one = client.post("/predict", json=example)
        assert one.status_code == 200, one.text
        batch = client.post("/predict/batch", json={"records": [example] * 3}).json()
        assert batch["count"] == 3
        assert batch["predictions"][0]["prediction"] == one.json()["prediction"]
        assert one.json()["model_version"] == deployments["churn"].context.model.version
        metrics = client.get("/metrics").text
        assert 'predictions_total{endpoint="/predict/batch"} 3.0' in metrics
        assert 'http_requests_total{endpoint="/predict",method="POST",status="200"}' in metrics
        assert "drift_records_total 4.0" in metrics
        assert client.get("/docs").status_code == 200
        assert "/predict" in client.get("/openapi.json").json()["paths"]


def test_validation_is_strict_and_names_the_field(
        generated: Generated) -> None:
    _, _, schemas = generated
    name = next(n for n, v in schemas.EXAMPLE_INPUT.items() if type(v) is int)
    with TestClient(build(generated)) as client:
        wrong = client.post("/predict", json={**schemas.EXAMPLE_INPUT, name: str(
            schemas.EXAMPLE_INPUT[name])})
        assert wrong.status_code == 422
        assert f"body.{name}" in wrong.json()["message"]
        assert client.post("/predict", content=b"{", headers={
            "content-type": "application/json"}).status_code == 422
        assert client.get("/nowhere").json()["message"] == "Not Found"


def test_settings_shape_the_app_and_two_apps_live_in_one_process(
        generated: Generated) -> None:
    """Nothing is built at import: each app has its own settings, handle and routes."""
    with TestClient(build(generated, monitoring_enabled=False,
                          enable_drift_detection=False)) as quiet, \
            TestClient(build(generated)) as loud:
        assert quiet.get("/metrics").status_code == 404
        assert loud.get("/metrics").status_code == 200
        assert quiet.app.state.model is not loud.app.state.model  # type: ignore[attr-defined]


def test_a_model_that_fails_its_check_is_never_ready(
        generated: Generated, tmp_path: Path) -> None:
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"not a model")
    from deployment_agent.hashing import sha256_file

    app = build(generated, model_path=broken, model_sha256=sha256_file(broken),
                model_load_wait_seconds=5)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert client.post("/predict", json=generated[2].EXAMPLE_INPUT).status_code == 503
