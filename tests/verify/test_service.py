"""The generated service, served for real by `bentoml serve` from the built bento.

Each test runs against every example (the `served` fixture is parametrized over them).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import Deployment, load_model
from helpers import generate, invalid_requests, post, reference_input, sample_records

from deployment_agent.verify.server import ServiceProcess

pytestmark = pytest.mark.server


def test_liveness_and_readiness(served: tuple[ServiceProcess, Deployment]) -> None:
    server, deployment = served
    assert httpx.get(server.base_url + "/health").json() == {"status": "alive"}
    ready = httpx.get(server.base_url + "/health/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["model_version"] == deployment.context.model.version
    assert body["load_seconds"] > 0
    assert httpx.get(server.base_url + "/readyz").status_code == 200


def test_predictions_equal_the_models_own(served: tuple[ServiceProcess, Deployment]) -> None:
    server, deployment = served
    context = deployment.context
    records = sample_records(context, 25)
    model = load_model(deployment)
    expected = model.predict(reference_input(context, records)).tolist()
    singles = [post(server, "/predict", r).json() for r in records]
    assert [s["prediction"] for s in singles] == pytest.approx(expected)
    batch = post(server, "/predict/batch", {"records": records}).json()
    assert batch["count"] == len(records)
    assert [p["prediction"] for p in batch["predictions"]] == pytest.approx(expected)
    if context.model.has_proba:
        proba = model.predict_proba(reference_input(context, records))
        labels = [str(c) for c in model.classes_]
        got = np.array([[s["probabilities"][label] for label in labels] for s in singles])
        gate = deployment.manifest["gate"]
        if gate:  # served by ONNX Runtime: within the tolerance the gate verified
            np.testing.assert_allclose(got, proba, rtol=0, atol=gate["tolerance"])
        else:
            np.testing.assert_allclose(got, proba, rtol=1e-9)
    assert singles[0]["model_version"] == context.model.version
    assert len({s["request_id"] for s in singles}) == len(singles)


def test_invalid_input_is_a_422_naming_the_field(
        served: tuple[ServiceProcess, Deployment]) -> None:
    server, deployment = served
    cases = invalid_requests(deployment.context)
    assert len({kind for kind, _, _ in cases}) >= 5
    for kind, body, field in cases:
        response = post(server, "/predict", body)
        assert response.status_code == 422, (kind, response.text)
        assert field in response.json()["message"], (kind, response.text)
        assert response.json()["request_id"] == response.headers["x-request-id"]


def test_bad_bodies_are_422_not_500(served: tuple[ServiceProcess, Deployment]) -> None:
    server, deployment = served
    example = deployment.context.example_input
    float_feature = next((f.name for f in deployment.context.features
                          if f.type == "float"), None)
    url = server.base_url + "/predict"
    malformed = httpx.post(url, content=b'{"a": ', headers={"content-type": "application/json"})
    assert malformed.status_code == 422
    assert "malformed JSON" in malformed.json()["message"]
    not_json = httpx.post(url, content=b"age=35", headers={"content-type": "text/plain"})
    assert not_json.status_code == 422
    assert "Content-Type: application/json" in not_json.json()["message"]
    if float_feature:
        nan = json.dumps(example).replace(json.dumps(float_feature) + ": " +
                                          json.dumps(example[float_feature]),
                                          json.dumps(float_feature) + ": NaN")
        response = httpx.post(url, content=nan, headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert "finite number" in response.text
        whole = {**example, float_feature: int(example[float_feature] or 0)}
        assert post(server, "/predict", whole).status_code == 200  # 720 for a float is fine
    assert post(server, "/predict/batch", {"records": []}).status_code == 422
    too_many = post(server, "/predict/batch", {"records": [example] * 1001})
    assert too_many.status_code == 422
    assert "at most 1000" in too_many.json()["message"]


def test_openapi_and_offline_docs(served: tuple[ServiceProcess, Deployment]) -> None:
    server, deployment = served
    spec = httpx.get(server.base_url + "/openapi.json").json()
    assert spec["info"]["title"] == deployment.manifest["api"]["title"]
    assert spec["info"]["version"] == deployment.manifest["api"]["version"]
    for path in ("/health", "/health/ready", "/predict", "/predict/batch", "/metrics"):
        assert path in spec["paths"]
    request_schema = spec["components"]["schemas"]["PredictionRequest"]
    assert set(request_schema["properties"]) == {f.name for f in
                                                 deployment.context.features}
    assert request_schema["examples"] == [deployment.context.example_input]
    docs = httpx.get(server.base_url + "/docs").text
    assert "cdn" not in docs and "/static/swagger-ui-bundle.js" in docs
    asset = httpx.get(server.base_url + "/static/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000


def test_metrics_count_requests_and_predictions(
        served: tuple[ServiceProcess, Deployment]) -> None:
    server, deployment = served

    def value(text: str, line_start: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(line_start))

    before = httpx.get(server.base_url + "/metrics").text
    post(server, "/predict/batch", {"records": [deployment.context.example_input] * 4})
    after = httpx.get(server.base_url + "/metrics").text
    assert value(after, 'predictions_total{endpoint="/predict/batch"}') - value(
        before, 'predictions_total{endpoint="/predict/batch"}') == 4
    assert 'http_request_duration_seconds_bucket{endpoint="/predict/batch"' in after
    assert value(after, "model_ready") == 1
    assert value(after, "model_load_seconds") > 0


def test_request_id_is_propagated(served: tuple[ServiceProcess, Deployment]) -> None:
    server, deployment = served
    response = httpx.post(server.base_url + "/predict", json=deployment.context.example_input,
                          headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["request_id"] == "trace-42"


def test_readiness_is_503_until_the_model_arrives(deployments: dict[str, Deployment],
                                                  bentos: dict[str, str],
                                                  tmp_path: Path) -> None:
    """Start with the model file absent: alive, not ready (with the reason), no predictions;
    put the file in place: ready without a restart."""
    deployment = deployments["churn"]
    model_path = tmp_path / Path(deployment.manifest["model"]["file"]).name
    env = {"MODEL_PATH": str(model_path), "MODEL_LOAD_RETRY_SECONDS": "0.3"}
    with ServiceProcess.bento(bentos["churn"], deployment.bento_store, env=env) as server:
        server.wait_for("/health", timeout=90)
        ready = httpx.get(server.base_url + "/health/ready")
        assert ready.status_code == 503
        assert "not found" in ready.json()["reason"]
        refused = post(server, "/predict", deployment.context.example_input)
        assert refused.status_code == 503
        shutil.copyfile(deployment.layout.deployment / deployment.manifest["model"]["file"],
                        model_path)
        started = time.monotonic()
        server.wait_for("/health/ready", timeout=30)
        assert time.monotonic() - started < 30
        assert post(server, "/predict", deployment.context.example_input).status_code == 200


def test_model_failure_is_a_safe_500_and_serving_continues(
        experiments: dict[str, Path], tmp_path: Path) -> None:
    """A manifest that allows null for a feature the model cannot impute: the model raises
    on null, the client gets a safe 500 with a request id, the next request is served."""

    folder = tmp_path / "modeling"
    shutil.copytree(experiments["churn"].parent, folder)
    manifest = json.loads((folder / "experiment_manifest.json").read_text())
    manifest["input_schema"]["credit_score"]["nullable"] = True
    (folder / "experiment_manifest.json").write_text(json.dumps(manifest))
    out, _ = generate(folder / "experiment_manifest.json")
    example = manifest["example_input"]
    with ServiceProcess.uvicorn(out) as server:
        server.wait_for("/health/ready", timeout=60)
        failed = post(server, "/predict", {**example, "credit_score": None})
        assert failed.status_code == 500
        body = failed.json()
        assert body["message"].startswith("the model failed to score this input")
        assert "NaN" not in body["message"]  # the exception text stays in the log
        assert post(server, "/predict", example).status_code == 200
        log = server.output()
    assert "prediction failed" in log and body["request_id"] in log and "Traceback" in log


def test_the_documented_requests_work(served: tuple[ServiceProcess, Deployment]) -> None:
    """Every curl body in the runbook (and, for churn, the README) is a valid request to
    the path its curl names."""
    server, deployment = served
    texts = [(deployment.layout.deployment / "runbook.md").read_text()]
    if deployment.name == "churn":
        texts.append((Path(__file__).parents[2] / "README.md").read_text())
    requests = [(path, json.loads(body)) for text in texts for path, body in re.findall(
        r"https?://localhost:\d+(/[^\s'\"]*)(?:(?!curl).)*?-d '(\{.*?\})'", text,
        flags=re.DOTALL)]
    assert len(requests) >= 3 and any(path.startswith("/v2/") for path, _ in requests)
    # /feedback needs the inference log on, and the prediction made before it: the
    # runbook's feedback commands are run as they are in test_inference_log.py.
    for path, body in [(p, b) for p, b in requests if p != "/feedback"]:
        response = post(server, path, body)
        assert response.status_code == 200, (path, body, response.text)


def test_cors_is_off_by_default_and_an_allow_list_when_enabled(
        deployments: dict[str, Deployment]) -> None:
    out = deployments["churn"].layout.deployment
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
    with ServiceProcess.uvicorn(out) as server:
        server.wait_for("/health")
        response = httpx.options(server.base_url + "/predict", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
    with ServiceProcess.uvicorn(out, env={"CORS_ENABLED": "true",
                                          "CORS_ORIGINS": "https://app.example.com"}) as server:
        server.wait_for("/health")
        allowed = httpx.options(server.base_url + "/predict", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        denied = httpx.options(server.base_url + "/predict",
                               headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in denied.headers


def test_bentoml_clients_get_the_same_predictions(
        served: tuple[ServiceProcess, Deployment]) -> None:
    """BentoML's own endpoints (its SyncHTTPClient finds them) score with the same model and
    the same strict schemas as the seed's routes; adaptive batching merges concurrent
    single-record calls and answers each with its own record's prediction."""
    from concurrent.futures import ThreadPoolExecutor

    import bentoml

    server, deployment = served
    records = sample_records(deployment.context, 16, seed=5)
    expected = [post(server, "/predict", r).json()["prediction"] for r in records]
    with bentoml.SyncHTTPClient(server.base_url) as client:
        assert [client.predict(**r)["prediction"] for r in records] == expected
        batch = client.predict_batch(records=records)
        assert [p["prediction"] for p in batch["predictions"]] == expected
        with ThreadPoolExecutor(8) as pool:
            merged = list(pool.map(lambda r: client.predict_adaptive(records=[r]), records))
        assert [m[0]["prediction"] for m in merged] == expected
    first = deployment.context.features[0].name
    wrong = httpx.post(server.base_url + "/bento/predict",
                       json={**deployment.context.example_input, first: [1]})
    assert wrong.status_code == 400 and first in wrong.text


def test_bentoml_hands_every_protocol_path_to_the_api(experiments: dict[str, Path],
                                                       tmp_path: Path) -> None:
    """BentoML forwards a request to the mounted API only when a declared route matches,
    and its mount pattern stops at a line break: a model named with a '/' (answered by the
    fast lane) and a path with a newline got BentoML's plain-text 404. Both reach the API
    now (found by the property test, whose drawn model names hold any character)."""
    from deployment_agent.generate.escape import url_segment

    manifest = tmp_path / "modeling" / "experiment_manifest.json"
    shutil.copytree(experiments["churn"].parent, manifest.parent)
    name = "a/b\\c"
    body = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**body, "model_name": name}))
    root, _ = generate(manifest)
    with ServiceProcess.entrypoint(root, tmp_path / "bentoml", {"WORKERS": "1"}) as server:
        server.wait_for("/health/ready", timeout=90)
        named = httpx.get(f"{server.base_url}/v2/models/{url_segment(name)}")
        broken = httpx.get(f"{server.base_url}/v2/models/x%0A/versions/y")
        bento = httpx.get(f"{server.base_url}/readyz")
    assert named.status_code == 200 and named.json()["name"] == name
    assert broken.status_code == 404 and broken.headers["content-type"] == "application/json"
    assert bento.status_code == 200  # BentoML's own routes are still BentoML's
