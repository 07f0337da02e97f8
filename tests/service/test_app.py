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


def test_concurrent_single_records_share_model_calls_and_keep_their_answers(
        generated: Generated) -> None:
    """Requests to /predict waiting together are scored in one model call (coalescing.py):
    each still gets the answer it gets alone, and every record is counted once."""
    import asyncio

    import httpx

    _, _, schemas = generated
    name = next(n for n, v in schemas.EXAMPLE_INPUT.items() if type(v) is int)
    records = [{**schemas.EXAMPLE_INPUT, name: schemas.EXAMPLE_INPUT[name] + i % 3}
               for i in range(24)]
    app = build(generated)

    def counted(metrics: str, name: str) -> float:
        """A sample's value in the exposition text (0 before the first count)."""
        return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith(f"{name} "))

    names = ('predictions_total{endpoint="/predict"}', "drift_records_total")
    with TestClient(app) as client:
        before = client.get("/metrics").text
        alone = [client.post("/predict", json=r).json() for r in records]

        async def together() -> list[dict[str, Any]]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
                replies = await asyncio.gather(*(api.post("/predict", json=r)
                                                 for r in records))
            return [reply.json() for reply in replies]

        answers = client.portal.call(together)
        for one, shared in zip(alone, answers, strict=True):
            assert shared["prediction"] == one["prediction"]
            assert shared["probabilities"] == pytest.approx(one["probabilities"], abs=1e-6)
            assert shared["request_id"] != one["request_id"]
        after = client.get("/metrics").text
        for name in names:
            assert counted(after, name) - counted(before, name) == 2 * len(records), name
