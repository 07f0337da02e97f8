"""The inference log, the feedback and the quality gauges on real servers.

Each test serves the churn deployment with its entrypoint (``python -m api.serve``, two
workers) and the inference log on, and stops it as an orchestrator does (SIGTERM) before
counting what was logged: a real CloudEvents receiver built on the ``cloudevents`` SDK, a
dead and a slow one, a volume that cannot be written, a load cut by SIGTERM, and two
servers sharing one real PostgreSQL store.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Deployment, report
from helpers import assert_drained, counter, drain_summary, drain_under_load, generate
from servers import closed_port, cloudevents_receiver, postgres

from deployment_agent.generate.escape import url_segment
from deployment_agent.service.monitoring.inference_log import records
from deployment_agent.service.monitoring.sinks import REQUEST_TYPE, RESPONSE_TYPE, read_entries
from deployment_agent.verify.server import ServiceProcess

pytestmark = pytest.mark.server


def serve(deployment: Deployment, folder: Path, root: Path | None = None,
          **env: str) -> ServiceProcess:
    """The churn service (its deployment folder, or ``root``) with the inference log on in
    ``folder``."""
    return ServiceProcess.entrypoint(root or deployment.layout.deployment,
                                     deployment.bento_store, {
        "WORKERS": "2", "LOG_LEVEL": "warning", "GRACEFUL_SHUTDOWN_SECONDS": "10",
        "INFERENCE_LOG_ENABLED": "true", "INFERENCE_LOG_DIR": str(folder), **env})


def sigterm(server: ServiceProcess) -> int:
    """Stop the server as `docker stop` does; its exit code."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGTERM)
    return server.process.wait(60)


def logged(folder: Path) -> list[dict[str, Any]]:
    """Every record of the JSON Lines files in ``folder`` (an entry per request)."""
    return [record for entry in read_entries(folder) for record in records(entry)]


def predict_some(url: str, example: dict[str, Any], model: str = "") -> list[str]:
    """20 single records, 3 batches of 4 and (given the model's name) an Open Inference
    Protocol infer of 2, with known request ids; their prediction ids."""
    ids = []
    with httpx.Client(base_url=url, timeout=30) as client:
        if model:
            inputs = [{"name": n, "datatype": "FP64" if isinstance(v, float) else
                       "BOOL" if isinstance(v, bool) else "INT64", "shape": [2],
                       "data": [v, v]} for n, v in example.items()]
            assert client.post(f"/v2/models/{url_segment(model)}/infer", json={
                "inputs": inputs}, headers={"X-Request-ID": "v"}).status_code == 200
            ids += ["v-0", "v-1"]
        for i in range(20):
            assert client.post("/predict", json=example,
                               headers={"X-Request-ID": f"p{i}"}).status_code == 200
            ids.append(f"p{i}")
        for j in range(3):
            assert client.post("/predict/batch", json={"records": [example] * 4},
                               headers={"X-Request-ID": f"b{j}"}).status_code == 200
            ids += [f"b{j}-{i}" for i in range(4)]
    return ids


def requests_of(ids: list[str]) -> list[str]:
    """The request ids of prediction ids made by :func:`predict_some`."""
    return sorted({i if i.startswith("p") else i.rsplit("-", 1)[0] for i in ids})


def test_a_cloudevents_receiver_gets_one_request_and_one_response_event_per_request(
        deployments: dict[str, Deployment], tmp_path: Path) -> None:
    """As KServe's logger sends them: per request, ce-id its request id, the request's
    records and its answers as data."""
    deployment = deployments["churn"]
    example = deployment.context.example_input
    with cloudevents_receiver() as (url, received), \
            serve(deployment, tmp_path / "log", INFERENCE_LOG_URL=url) as server:
        server.wait_for("/health/ready", timeout=90)
        ids = predict_some(server.base_url, example, deployment.context.model.name)
        assert sigterm(server) == 0
    events = received.events
    kinds: dict[str, list[str]] = {}
    for event in events:
        kinds.setdefault(event["id"], []).append(event["type"])
    assert sorted(kinds) == requests_of(ids)
    assert all(sorted(k) == [REQUEST_TYPE, RESPONSE_TYPE] for k in kinds.values()), kinds
    one = {e["type"]: e for e in events if e["id"] == "p0"}
    assert one[REQUEST_TYPE].data == example and one[REQUEST_TYPE]["inferenceservicename"]
    assert "prediction" in one[RESPONSE_TYPE].data
    batch = {e["type"]: e for e in events if e["id"] == "b0"}
    assert batch[REQUEST_TYPE].data == {"records": [example] * 4}
    assert len(batch[RESPONSE_TYPE].data["predictions"]) == 4
    records = logged(tmp_path / "log")  # the files too, every record once
    assert sorted(r["prediction_id"] for r in records) == sorted(ids)
    report(f"inference log: {len(ids)} records in {len(kinds)} requests, {len(events)} "
           f"CloudEvents received, {len(records)} records in the files")


@pytest.mark.parametrize("sink", ["dead", "slow"])
def test_a_dead_or_slow_receiver_never_fails_a_prediction(
        sink: str, deployments: dict[str, Deployment], tmp_path: Path) -> None:
    """Predictions stay 200; a dead receiver's records are dropped and counted in /metrics,
    a slow one's are posted in its own time; the files get every record either way."""
    deployment = deployments["churn"]
    with cloudevents_receiver(delay=0.5) as (slow_url, received):
        url = closed_port() if sink == "dead" else slow_url
        with serve(deployment, tmp_path / "log", INFERENCE_LOG_URL=url,
                   GRACEFUL_SHUTDOWN_SECONDS="4") as server:
            server.wait_for("/health/ready", timeout=90)
            started = time.perf_counter()
            ids = predict_some(server.base_url, deployment.context.example_input)
            seconds = time.perf_counter() - started
            time.sleep(1.0)
            metrics = httpx.get(server.base_url + "/metrics").text
            assert sigterm(server) == 0
    dropped = counter(metrics, "inference_log_dropped_total", sink="cloudevents")
    if sink == "dead":
        assert dropped > 0, metrics
    assert len(received.events) <= 2 * len(requests_of(ids))
    assert sorted(r["prediction_id"] for r in logged(tmp_path / "log")) == sorted(ids)
    report(f"inference log, {sink} receiver: {len(ids)} records answered in {seconds:.2f} s, "
           f"{dropped:.0f} dropped and counted, {len(received.events)} events received")


def test_a_volume_that_cannot_be_written_fails_no_prediction(
        deployments: dict[str, Deployment]) -> None:
    """A log folder that cannot be created (under /proc, even for root): predictions go on,
    the files' failure is counted in /metrics, and /feedback says why it is unavailable."""
    deployment = deployments["churn"]
    with serve(deployment, Path("/proc/inference-log")) as server:
        server.wait_for("/health/ready", timeout=90)
        predict_some(server.base_url, deployment.context.example_input)
        time.sleep(1.0)
        metrics = httpx.get(server.base_url + "/metrics").text
        feedback = httpx.post(server.base_url + "/feedback", json={"outcomes": [
            {"prediction_id": "p0", "outcome": 1}]})
    assert counter(metrics, "inference_log_dropped_total", sink="jsonl") >= 1, metrics
    assert feedback.status_code == 503 and "store" in feedback.json()["message"]


@pytest.mark.parametrize("runtime", ["bentoml", "uvicorn"])
def test_sigterm_under_load_loses_no_logged_record(
        runtime: str, deployments: dict[str, Deployment], experiments: dict[str, Path],
        tmp_path: Path) -> None:
    """Each serving runtime's workers write what is queued before they exit."""
    deployment = deployments["churn"]
    body = {"records": [deployment.context.example_input] * 50}
    root = None
    if runtime == "uvicorn":
        root, _ = generate(experiments["churn"], output_dir=tmp_path / "uvicorn",
                           runtime="uvicorn")
    with serve(deployment, tmp_path / "log", root=root) as server:
        server.wait_for("/health/ready", timeout=90)
        outcomes, code, seconds = drain_under_load(server.base_url, body,
                                                   lambda: sigterm(server))
    assert_drained(outcomes, code, seconds, grace=10)
    records = logged(tmp_path / "log")
    assert len(records) == outcomes["answered 200"] * 50
    assert len({r["prediction_id"] for r in records}) == len(records)
    report(f"inference log under SIGTERM ({runtime}): {drain_summary(outcomes, code, seconds)}; "
           f"{len(records)} records logged for {outcomes['answered 200'] * 50} answered")


def test_two_servers_share_one_postgres_store(deployments: dict[str, Deployment],
                                              tmp_path: Path) -> None:
    """Feedback sent to the server that did not predict joins the prediction (through a
    real PostgreSQL), twice-sent and concurrent feedback is counted once, and both servers'
    quality gauges agree with the share computed by hand."""
    from concurrent.futures import ThreadPoolExecutor

    deployment = deployments["churn"]
    example = deployment.context.example_input
    with postgres() as url, \
            serve(deployment, tmp_path / "a", FEEDBACK_DATABASE_URL=url) as first, \
            serve(deployment, tmp_path / "b", FEEDBACK_DATABASE_URL=url) as second:
        first.wait_for("/health/ready", timeout=90)
        second.wait_for("/health/ready", timeout=90)
        ids = predict_some(first.base_url, example)
        answer = httpx.post(first.base_url + "/predict", json=example).json()["prediction"]
        other = 1 - answer if isinstance(answer, int) else answer
        truth = [answer if i % 4 else other for i in range(len(ids))]  # a quarter wrong
        time.sleep(1.0)  # the first server's writer has flushed its predictions
        outcomes = [{"prediction_id": i, "outcome": t} for i, t in zip(ids, truth,
                                                                       strict=True)]
        with ThreadPoolExecutor(8) as pool:  # each outcome sent twice, concurrently
            answers = list(pool.map(lambda o: httpx.post(
                second.base_url + "/feedback", json={"outcomes": [o]}, timeout=30),
                outcomes * 2))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers
                                                             if a.status_code != 200][:3]
        unknown = httpx.post(second.base_url + "/feedback", json={"outcomes": [
            {"prediction_id": "never-served", "outcome": answer}]})
        gauges = [httpx.get(s.base_url + "/metrics").text for s in (first, second)]
    assert unknown.status_code == 422 and "never-served" in unknown.json()["message"]
    expected = sum(t == answer for t in truth) / len(truth)
    for metrics in gauges:
        assert counter(metrics, "model_quality", metric="accuracy") == pytest.approx(expected)
        assert counter(metrics, "model_quality_labels") == len(ids)
    report(f"feedback across two servers on PostgreSQL: {len(ids)} outcomes sent twice "
           f"concurrently to the server that did not predict, accuracy {expected:.3f} on both")


def test_the_runbooks_feedback_commands_work_as_written(deployments: dict[str, Deployment],
                                                        tmp_path: Path) -> None:
    """The runbook's feedback block (a prediction under an id of the caller's, then its
    outcome), run by bash and curl against a server with the log on, for every example."""
    import subprocess

    for name, deployment in deployments.items():
        runbook = (deployment.layout.deployment / "runbook.md").read_text()
        block = re.search(r"#### Feedback.*?```bash\n(.*?)```", runbook, re.S)
        assert block, name
        with serve(deployment, tmp_path / name, WORKERS="1") as server:
            server.wait_for("/health/ready", timeout=90)
            port = server.base_url.rsplit(":", 1)[1]
            script = re.sub(r"localhost:\d+", f"127.0.0.1:{port}", block.group(1))
            ran = subprocess.run(["bash", "-euo", "pipefail", "-c", script],
                                 capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0 and '"accepted":1' in ran.stdout, (name, ran.stdout,
                                                                       ran.stderr)
