"""Hardening of the generated service, against real server processes on 127.0.0.1.

Fuzzing (schemathesis), hostile bodies, broken model files, SIGTERM under load, API keys,
rate limits, TLS and security headers. The container-level checks (read-only root
filesystem, secrets in image layers, load on the container) are in test_container.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from conftest import Deployment, report
from helpers import assert_drained, drain_summary, drain_under_load, generate, post

from deployment_agent.verify.server import ServiceProcess
from examples import EXAMPLES

pytestmark = pytest.mark.server
TESTS = Path(__file__).resolve().parents[1]
FUZZ_CASES = 1000
FUZZ_SEED = 20261127


def assert_clear_refusal(response: httpx.Response, status: int, words: str) -> None:
    """The status, our JSON error shape, and a message that says what went wrong."""
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert words in body["message"], body["message"]
    assert body["request_id"] == response.headers["x-request-id"]


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def app_server(request: pytest.FixtureRequest, deployments: dict[str, Deployment],
               tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[ServiceProcess, Deployment]]:
    """Each example's API in one uvicorn process: the app the images serve, quick to start,
    with the inference log on (so that /feedback takes outcomes)."""
    deployment = deployments[request.param]
    log = tmp_path_factory.mktemp(f"log-{request.param}")
    with ServiceProcess.uvicorn(deployment.layout.deployment, env={
            "LOG_LEVEL": "warning", "INFERENCE_LOG_ENABLED": "true",
            "INFERENCE_LOG_DIR": str(log)}) as server:
        server.wait_for("/health/ready", timeout=60)
        yield server, deployment


def schemathesis_runs(server: ServiceProcess, scratch: Path,
                      selections: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
                      ) -> dict[str, dict[str, Any]]:
    """Seeded schemathesis runs with all their checks and ours, one process each, all at
    once (each waits on the server in turn with the other, so run alone they left a core
    idle); each run's JSON report, by name. ``selections``: name -> (the CLI's selection
    options, the checks left out)."""
    runs = {}
    for name, (selection, exclude) in selections.items():
        report_path = scratch / f"schemathesis-{uuid.uuid4().hex}.json"
        process = subprocess.Popen(
            [sys.executable, "-m", "schemathesis.cli", "run",
             server.base_url + "/openapi.json", "--checks", "all", "--max-examples",
             str(FUZZ_CASES), "--seed", str(FUZZ_SEED), "--request-timeout", "10",
             "--no-color", "--output-truncate", "true", "--report", "json",
             "--report-json-path", str(report_path), *selection,
             *(f"--exclude-checks={check}" for check in exclude)],
            env={**os.environ, "SCHEMATHESIS_HOOKS": "fuzz_checks",
                 "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
            cwd=scratch, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        runs[name] = (process, report_path)
    outcomes = {}
    for name, (process, report_path) in runs.items():
        output = process.communicate(timeout=900)[0]
        assert report_path.is_file(), f"{name}: {output[-6000:]}"
        outcome = json.loads(report_path.read_text())
        assert process.returncode == 0 and not outcome["failures"] and \
            not outcome["errors"], f"{name}: {output[-6000:]}"
        outcomes[name] = outcome
    return outcomes


def test_schemathesis_finds_no_failure(app_server: tuple[ServiceProcess, Deployment],
                                       tmp_path: Path) -> None:
    """>= 1,000 generated cases per input-taking endpoint, every check passing: no 5xx,
    every schema-valid request accepted, every invalid one a 4xx that names the problem."""
    server, deployment = app_server
    posts = ("/predict", "/predict/batch", "/feedback")
    # A schema-valid outcome for an id never served is refused by the server's state, not
    # by its schema (a 422 naming the id): /feedback keeps every check but that one. The
    # protocol's model routes take a model name: any but the served one is a 404 (the
    # in-process tests cover them); its infer requests are drawn by tests/service.
    outcomes = schemathesis_runs(server, tmp_path, {
        **{path: (("--include-path", path), ("positive_data_acceptance",)
                  if path == "/feedback" else ()) for path in posts},
        "GET": (("--include-method", "GET", "--exclude-path-regex", "^/v2/models/"), ())})
    for path in posts:
        cases = outcomes[path]["test_cases"]["generated"]
        assert cases >= FUZZ_CASES, outcomes[path]["test_cases"]
        report(f"schemathesis {deployment.name} POST {path}: {cases} cases, 0 failures")
    report(f"schemathesis {deployment.name} GET endpoints (no inputs to vary): "
           f"{outcomes['GET']['test_cases']['generated']} cases, 0 failures")


def test_hostile_bodies_get_a_clear_4xx(app_server: tuple[ServiceProcess, Deployment]) -> None:
    server, deployment = app_server
    url = server.base_url + "/predict"
    example = deployment.context.request_example  # a recommender's nests the features
    values = deployment.context.example_input
    as_json = {"content-type": "application/json"}

    def send(content: bytes | Iterator[bytes], headers: dict[str, str] = as_json
             ) -> httpx.Response:
        started = time.perf_counter()
        response = httpx.post(url, content=content, headers=headers, timeout=10)
        assert time.perf_counter() - started < 5  # never a hang
        return response

    assert_clear_refusal(send(b"x" * 10_000_000), 413, "larger than")

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted while read
        for _ in range(100):
            yield b" " * 100_000

    assert_clear_refusal(send(chunked()), 413, "larger than")
    assert_clear_refusal(send(b"[" * 100_000 + b"]" * 100_000), 400, "could not be parsed")
    assert_clear_refusal(send(b'{"x": ' + b"9" * 5000 + b"}"), 400, "could not be parsed")
    assert_clear_refusal(send(b"\xff<"), 400, "could not be parsed")  # not UTF-8
    assert_clear_refusal(send(b""), 422, "body is empty")
    assert_clear_refusal(send(b'{"a": '), 422, "malformed JSON")
    assert_clear_refusal(send(json.dumps(example).encode(), {"content-type": "text/plain"}),
                         422, "Content-Type: application/json")
    assert_clear_refusal(send(b"[1, 2, 3]"), 422, "invalid input")
    numbers = [f for f in deployment.context.features if f.type in ("int", "float")]
    for feature in numbers:
        name = json.dumps(feature.name)
        for literal in ("NaN", "Infinity", "-Infinity", "1e400", str(10**30)):
            body = json.dumps(example).replace(f"{name}: {json.dumps(values[feature.name])}",
                                               f"{name}: {literal}")
            if literal == str(10**30) and feature.type == "float" and \
                    feature.maximum is None:
                assert send(body.encode()).status_code == 200  # a finite, allowed float
            else:
                assert_clear_refusal(send(body.encode()), 422, feature.name)
    unicode_key = {**example, "âge 👤": 1}
    assert_clear_refusal(post(server, "/predict", unicode_key), 422, "âge 👤")
    strings = [f for f in deployment.context.features if f.type == "str" and f.enum]
    for feature in strings:
        record = {**values, feature.name: "zürich 🏔"}
        body = {"query": record} if "query" in example else record
        assert_clear_refusal(post(server, "/predict", body), 422, feature.name)
    assert post(server, "/predict", example).status_code == 200  # and it still serves


def test_body_limit_is_configurable(deployments: dict[str, Deployment]) -> None:
    deployment = deployments["churn"]
    example = deployment.context.example_input
    with ServiceProcess.uvicorn(deployment.layout.deployment,
                                env={"MAX_BODY_BYTES": "4096"}) as server:
        server.wait_for("/health/ready")
        assert post(server, "/predict/batch", {"records": [example] * 10}).status_code == 200
        big = post(server, "/predict/batch", {"records": [example] * 100})
        assert_clear_refusal(big, 413, "larger than 4096 bytes")


def corrupt(model: Path, how: str, scratch: Path) -> dict[str, str]:
    """Write a broken copy of the model file; the environment that points the service at it."""
    target = scratch / model.name
    data = model.read_bytes()
    env = {"MODEL_PATH": str(target), "MODEL_LOAD_RETRY_SECONDS": "60"}
    if how == "truncated":
        target.write_bytes(data[: len(data) // 2])
    elif how == "truncated, hash updated":  # passes the hash check, fails to deserialize
        target.write_bytes(data[: len(data) // 2])
        env["MODEL_SHA256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    elif how == "altered byte":
        target.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    return env


@pytest.mark.parametrize(("how", "reason"), [
    ("missing", "not found"),
    ("truncated", "refusing to load"),
    ("altered byte", "refusing to load"),
    ("truncated, hash updated", "cannot load"),
])
def test_broken_model_file_keeps_liveness_and_serves_nothing(
        deployments: dict[str, Deployment], tmp_path: Path, how: str, reason: str) -> None:
    deployment = deployments["churn"]
    model = deployment.layout.deployment / deployment.manifest["model"]["file"]
    env = corrupt(model, how, tmp_path)
    with ServiceProcess.uvicorn(deployment.layout.deployment, env=env) as server:
        server.wait_for("/health")
        ready = httpx.get(server.base_url + "/health/ready")
        assert ready.status_code == 503
        assert reason in ready.json()["reason"], ready.json()
        refused = post(server, "/predict", deployment.context.example_input)
        assert_clear_refusal(refused, 503, "model not ready")
        log = server.output()
    assert "model not loaded" in log and reason in log


@pytest.mark.parametrize("runtime", ["bentoml", "uvicorn"])
def test_sigterm_under_load_loses_no_request(
        runtime: str, deployments: dict[str, Deployment], bentos: dict[str, str],
        experiments: dict[str, Path], tmp_path: Path) -> None:
    """In-flight requests finish, new connections are refused, the process exits 0 within
    the grace period, and no request is lost (each one is counted)."""
    deployment = deployments["churn"]
    if runtime == "bentoml":
        name, version = bentos["churn"].split(":")
        root = deployment.bento_store / "bentos" / name / version / "src"  # as in the image
    else:

        root, _ = generate(experiments["churn"], output_dir=tmp_path / "uvicorn",
                                       runtime="uvicorn")
    body = {"records": [deployment.context.example_input] * 200}
    env = {"WORKERS": "2", "LOG_LEVEL": "warning", "GRACEFUL_SHUTDOWN_SECONDS": "10"}
    with ServiceProcess.entrypoint(root, deployment.bento_store, env) as server:
        server.wait_for("/health/ready", timeout=90)

        def sigterm() -> int:  # the main process only, as `docker stop` does
            assert server.process is not None
            os.kill(server.process.pid, signal.SIGTERM)
            return server.process.wait(60)

        outcomes, code, seconds = drain_under_load(server.base_url, body, sigterm)
    report(f"SIGTERM under load ({runtime}, 16 clients): "
           f"{drain_summary(outcomes, code, seconds)}")
    assert_drained(outcomes, code, seconds, grace=10)


def keys_file(folder: Path, *keys: str) -> Path:
    path = folder / "api_keys"
    path.write_text("# one key per line\n" + "\n".join(keys) + "\n")
    return path


def test_api_keys_guard_predictions_but_not_health(deployments: dict[str, Deployment],
                                                    tmp_path: Path) -> None:
    deployment = deployments["churn"]
    example = deployment.context.example_input
    path = keys_file(tmp_path, "k-alpha-0123456789", "k-beta-9876543210")
    with ServiceProcess.uvicorn(deployment.layout.deployment,
                                env={"API_KEYS_FILE": str(path)}) as server:
        server.wait_for("/health/ready")
        assert_clear_refusal(post(server, "/predict", example), 401, "missing X-API-Key")
        assert_clear_refusal(post(server, "/predict", example, **{"X-API-Key": "k-alpha"}),
                             403, "invalid API key")
        assert_clear_refusal(httpx.get(server.base_url + "/metrics"), 401, "X-API-Key")
        for key in ("k-alpha-0123456789", "k-beta-9876543210"):
            assert post(server, "/predict", example, **{"X-API-Key": key}).status_code == 200
        for open_path in ("/health", "/health/ready", "/docs", "/openapi.json"):
            assert httpx.get(server.base_url + open_path).status_code == 200, open_path
        spec = httpx.get(server.base_url + "/openapi.json").json()
        assert spec["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
        assert spec["paths"]["/predict"]["post"]["security"] == [{"ApiKey": []}]
        assert "security" not in spec["paths"]["/health"]["get"]


def test_api_keys_from_a_secret_volume_directory(deployments: dict[str, Deployment],
                                                  tmp_path: Path) -> None:
    """A Kubernetes secret volume: one file per key."""
    deployment = deployments["churn"]
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "team-a").write_text("key-of-team-a\n")
    (tmp_path / "keys" / "team-b").write_text("key-of-team-b")
    with ServiceProcess.uvicorn(deployment.layout.deployment,
                                env={"API_KEYS_FILE": str(tmp_path / "keys")}) as server:
        server.wait_for("/health/ready")
        example = deployment.context.example_input
        assert post(server, "/predict", example, **{"X-API-Key": "key-of-team-b"}
                    ).status_code == 200
        assert post(server, "/predict", example).status_code == 401


@pytest.mark.parametrize(("contents", "words"), [
    (None, "does not exist"), ("# no keys here\n\n", "holds no key"),
])
def test_auth_misconfiguration_stops_the_service(deployments: dict[str, Deployment],
                                                 tmp_path: Path, contents: str | None,
                                                 words: str) -> None:
    """API_KEYS_FILE set but unusable: refuse to start rather than serve unauthenticated."""
    path = tmp_path / "api_keys"
    if contents is not None:
        path.write_text(contents)
    with ServiceProcess.uvicorn(deployments["churn"].layout.deployment,
                                env={"API_KEYS_FILE": str(path)}) as server:
        assert server.process is not None
        assert server.process.wait(60) != 0
        assert words in server.output()


def test_rate_limit_is_429_with_retry_after(deployments: dict[str, Deployment],
                                            tmp_path: Path) -> None:
    deployment = deployments["churn"]
    example = deployment.context.example_input
    path = keys_file(tmp_path, "key-one-0000000000", "key-two-0000000000")
    env = {"RATE_LIMIT": "5/minute", "API_KEYS_FILE": str(path)}
    with ServiceProcess.uvicorn(deployment.layout.deployment, env=env) as server:
        server.wait_for("/health/ready")
        one = {"X-API-Key": "key-one-0000000000"}
        statuses = [post(server, "/predict", example, **one).status_code for _ in range(5)]
        assert statuses == [200] * 5
        limited = post(server, "/predict", example, **one)
        assert_clear_refusal(limited, 429, "rate limit of 5 per 1 minute")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # Another client has its own budget; probes are never limited.
        assert post(server, "/predict", example,
                    **{"X-API-Key": "key-two-0000000000"}).status_code == 200
        assert all(httpx.get(server.base_url + "/health").status_code == 200
                   for _ in range(10))
        # Guessing keys from one address is limited too.
        guesses = [post(server, "/predict", example, **{"X-API-Key": f"guess-{i}"}).status_code
                   for i in range(6)]
        assert guesses == [403] * 5 + [429]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A private CA and a certificate for 127.0.0.1 it signed (PEM files)."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    return files


def test_tls_is_served_by_the_server_itself(deployments: dict[str, Deployment],
                                            tls_files: dict[str, Path]) -> None:
    deployment = deployments["churn"]
    env = {"TLS_CERTFILE": str(tls_files["cert"]), "TLS_KEYFILE": str(tls_files["key"]),
           "SSL_CERT_FILE": str(tls_files["ca"])}
    with ServiceProcess.entrypoint(deployment.layout.deployment, deployment.bento_store,
                                   env) as server:
        assert server.base_url.startswith("https://")
        server.wait_for("/health/ready", timeout=90)
        response = post(server, "/predict", deployment.context.example_input)
        assert response.status_code == 200
        assert response.headers["strict-transport-security"].startswith("max-age=")
        with pytest.raises(httpx.HTTPError):  # plain HTTP is not spoken on the TLS port
            httpx.get(server.base_url.replace("https://", "http://") + "/health", timeout=5)


def test_tls_needs_both_files(deployments: dict[str, Deployment],
                              tls_files: dict[str, Path]) -> None:
    with ServiceProcess.uvicorn(deployments["churn"].layout.deployment,
                                env={"TLS_CERTFILE": str(tls_files["cert"])}) as server:
        assert server.process is not None
        assert server.process.wait(60) != 0
        assert "set both TLS_CERTFILE and TLS_KEYFILE" in server.output()


def test_security_headers_and_closed_cors(app_server: tuple[ServiceProcess, Deployment]
                                          ) -> None:
    server, deployment = app_server
    response = httpx.post(server.base_url + "/predict", json=deployment.context.example_input,
                          headers={"Origin": "https://evil.example"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "access-control-allow-origin" not in response.headers
    assert "strict-transport-security" not in response.headers  # plain HTTP: no HSTS
    docs = httpx.get(server.base_url + "/docs")
    assert "script-src 'self'" in docs.headers["content-security-policy"]
    invalid = httpx.post(server.base_url + "/predict", json={})
    assert invalid.status_code == 422 and invalid.headers["x-frame-options"] == "DENY"


def test_integral_numbers_are_integers_but_fractions_are_not(
        app_server: tuple[ServiceProcess, Deployment]) -> None:
    """JSON Schema's "integer" includes 35.0; 35.5 and "35" stay 422."""
    server, deployment = app_server
    example = deployment.context.example_input
    ints = [f for f in deployment.context.features if f.type == "int" and not f.enum]
    for feature in ints:
        name = feature.name
        value = example[name]
        assert post(server, "/predict", {**example, name: float(value)}).status_code == 200
        assert post(server, "/predict", {**example, name: value + 0.5}).status_code == 422
        assert post(server, "/predict", {**example, name: str(value)}).status_code == 422

