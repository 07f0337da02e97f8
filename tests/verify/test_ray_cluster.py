"""The Ray Serve target on a real two-node Ray cluster (a head and a second node on
loopback, `ray start`, bounded CPUs and object store), from the generated files only.

The nodes run in a virtualenv made from the generated ``requirements.txt`` (the service's
pins and Ray's), started with the generated ``cluster.env``; the deployment goes through
the deploy command's own code (``release/ray_deploy.py``, Serve's REST API). Checked:

- every endpoint answers as on one machine, predictions equal;
- every replica's counters reach a real Prometheus through the generated service
  discovery, and summed over the replicas they equal the requests sent;
- a code rollout under load at c=8 fails no request;
- a version that cannot become ready fails no request, the previous version is back on
  every replica within 60 s, and the deploy fails with the reason;
- kill -9 a replica, then the second node, under load: failed requests at most those in
  flight (8), and full capacity again within 30 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from conftest import Deployment, report
from fastapi.testclient import TestClient
from helpers import (
    CLIENTS,
    Load,
    assert_same,
    counter,
    generate,
    generated_api,
    sample_records,
    service_app,
)
from servers import prometheus

from deployment_agent.plan.layout import Layout, layout_for
from deployment_agent.plan.planner import read_context
from deployment_agent.release import ray_deploy
from deployment_agent.release.ray import cluster_env, write
from deployment_agent.verify.ray_cluster import RayCluster, node_environment, ray_cluster
from deployment_agent.verify.server import free_port

pytestmark = pytest.mark.cluster
RECOVERY_SECONDS = 30
ROLLBACK_SECONDS = 60


def build(manifest: Path, folder: Path, version: str, port: int) -> Layout:
    """The churn deployment at ``version``, generated into ``folder`` with the Ray target
    (its Serve port ``port``), as a user would build it: settings from the environment."""
    with mock.patch.dict(os.environ, {"DEPLOY_RAY_HTTP_PORT": str(port),
                                      "DEPLOY_RAY_CPUS_PER_REPLICA": "1"}):
        generate(manifest, output_dir=folder, api_version=version)
    layout = layout_for(manifest, folder)
    write(layout)
    return layout


@pytest.fixture(scope="module")
def target(experiments: dict[str, Path]) -> tuple[Path, int]:
    """The churn manifest and the Serve port of the cluster's deployments."""
    return experiments["churn"], free_port()


@pytest.fixture(scope="module")
def built(target: tuple[Path, int], tmp_path_factory: pytest.TempPathFactory) -> Layout:
    """Version 1.0.0 of the churn deployment, with its Ray target."""
    manifest, port = target
    return build(manifest, tmp_path_factory.mktemp("ray-deploy") / "deployment", "1.0.0",
                 port)


@pytest.fixture(scope="module")
def node_python(built: Layout, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every node's environment, made from the generated requirements.txt alone."""
    return node_environment(built.ray / "requirements.txt",
                            tmp_path_factory.mktemp("ray-node") / "venv")


@pytest.fixture(scope="module")
def cluster(node_python: Path, built: Layout) -> Iterator[RayCluster]:
    """Two nodes started with the generated cluster.env (short paths: Ray's sockets)."""
    folder = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    started = time.monotonic()
    with ray_cluster(node_python, cluster_env((built.ray / "cluster.env").read_text()),
                     folder) as found:
        report(f"ray: a two-node cluster on loopback started in "
               f"{time.monotonic() - started:.1f} s")
        yield found


@pytest.fixture(scope="module")
def deployed(cluster: RayCluster, built: Layout, target: tuple[Path, int]
             ) -> tuple[Layout, str]:
    """Version 1.0.0 deployed by the deploy command; its layout and Serve URL."""
    said = ray_deploy.deploy(built, cluster.dashboard, timeout=180)
    report(f"ray: deployed: {said}")
    return built, f"http://127.0.0.1:{target[1]}"


def replicas(cluster: RayCluster, layout: Layout) -> list[dict[str, Any]]:
    """The application's replicas as Serve reports them."""
    details = ray_deploy.Cluster(cluster.dashboard).details()
    app = details["applications"][read_context(layout).api.slug]
    return [r for d in app["deployments"].values() for r in d["replicas"]]


def full_capacity(cluster: RayCluster, layout: Layout, timeout: float,
                  gone: frozenset[int] = frozenset()) -> float:
    """Seconds until Serve reports the application healthy with every replica running,
    none of them one of the processes ``gone`` (killed: Serve has replaced them)."""
    started = time.monotonic()
    app = ray_deploy.generated_config(layout)["applications"][0]
    deadline = started + timeout
    while time.monotonic() < deadline:
        details = ray_deploy.Cluster(cluster.dashboard).details()
        running = details["applications"].get(app["name"], {})
        states = ray_deploy.replica_states(running) if running else {}
        pids = {r.get("pid") for d in running.get("deployments", {}).values()
                for r in d.get("replicas", [])}
        if running.get("status") == "RUNNING" and set(states) == {"RUNNING"} and \
                states["RUNNING"] == 2 and not pids & gone:
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"not at full capacity within {timeout} s")


def example(layout: Layout) -> dict[str, Any]:
    """The deployment's example input."""
    return read_context(layout).example_input


def test_every_endpoint_answers_as_on_one_machine(deployed: tuple[Layout, str],
                                                  deployments: dict[str, Deployment]) -> None:
    layout, url = deployed
    context = read_context(layout)
    records = sample_records(context, 50, seed=3)
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/health/ready").json()["status"] == "ready"
        served = client.post("/predict/batch", json={"records": records}).json()
        refused = client.post("/predict", json={**records[0], "age": "35"})
        assert refused.status_code == 422 and "age" in refused.text
        assert client.get("/docs").status_code == 200
        assert client.get("/v2/health/ready").status_code == 200
        infer = client.post(f"/v2/models/{context.model.name}/infer", json={"inputs": [
            {"name": name, "shape": [1], "datatype": "FP64" if isinstance(value, float) else
             "BOOL" if isinstance(value, bool) else "INT64", "data": [value]}
            for name, value in records[0].items()]})
        assert infer.status_code == 200, infer.text
        targets = client.get("/metrics/targets").json()
    assert len(targets[0]["targets"]) == 2  # every replica's metrics address
    with generated_api(layout.deployment) as generated, TestClient(
            service_app(generated)) as one_machine:
        expected = one_machine.post("/predict/batch", json={"records": records}).json()
    for found, wanted in zip(served["predictions"], expected["predictions"], strict=True):
        assert_same(found, wanted, onnx=True)
        assert found == wanted  # the same model file, library and pins: the same answer
    report(f"ray: every endpoint answered as on one machine; {len(records)} predictions "
           "equal")


def test_every_replicas_counters_reach_prometheus_and_sum_to_the_requests_sent(
        deployed: tuple[Layout, str], tmp_path: Path) -> None:
    layout, url = deployed
    body = example(layout)
    with prometheus(tmp_path / "prometheus", "ray-replicas", "", {"groups": []},
                    http_sd=f"{url}/metrics/targets") as prom:
        def total() -> float:
            result = httpx.get(f"{prom}/api/v1/query", params={
                "query": 'sum(predictions_total{endpoint="/predict"})'}).json()
            series = result["data"]["result"]
            return float(series[0]["value"][1]) if series else 0.0  # none served yet

        def scraped_replicas() -> int:
            result = httpx.get(f"{prom}/api/v1/targets").json()
            return sum(t["health"] == "up" for t in result["data"]["activeTargets"])

        deadline = time.monotonic() + 60
        while scraped_replicas() < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert scraped_replicas() == 2
        before = total()
        sent = 200
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(sent):
                assert client.post("/predict", json=body).status_code == 200
        by_replica = [counter(httpx.get(f"http://{address}/metrics").text,
                              "predictions_total", endpoint="/predict")
                      for address in httpx.get(f"{url}/metrics/targets").json()[0]["targets"]]
        deadline = time.monotonic() + 30
        while total() - before < sent and time.monotonic() < deadline:
            time.sleep(0.5)
        assert total() - before == sent
    assert all(count > 0 for count in by_replica)  # both replicas served
    report(f"ray: {sent} requests sent; Prometheus (HTTP service discovery of the replicas) "
           f"sums {sent} over 2 replicas ({[int(c) for c in by_replica]} in all, each)")


def test_a_code_rollout_under_load_fails_no_request(
        deployed: tuple[Layout, str], cluster: RayCluster, target: tuple[Path, int]) -> None:
    layout, url = deployed
    manifest, port = target
    newer = build(manifest, layout.deployment, "1.0.1", port)  # a new version, same folder
    with Load(f"{url}/predict", example(layout)) as load:
        time.sleep(2)
        said = ray_deploy.deploy(newer, cluster.dashboard, timeout=180)
        time.sleep(2)
    assert not load.failures, load.failures
    assert httpx.get(f"{url}/health/ready").json()["status"] == "ready"
    history = ray_deploy.read_history(newer)
    assert [h["outcome"] for h in history][-2:] == ["healthy", "healthy"]
    assert history[-1]["version"] != history[-2]["version"]
    report(f"ray: code rollout 1.0.0 -> 1.0.1 under {CLIENTS} clients: "
           f"{len(load.answered)} answered, 0 failed; {said}")


def test_a_version_that_cannot_become_ready_is_rolled_back_and_fails_no_request(
        deployed: tuple[Layout, str], cluster: RayCluster) -> None:
    layout, url = deployed
    before = ray_deploy.read_history(layout)[-1]["version"]
    with Load(f"{url}/predict", example(layout)) as load:
        time.sleep(2)
        started = time.monotonic()
        with pytest.raises(ray_deploy.RolloutFailed) as failed:
            ray_deploy.deploy(layout, cluster.dashboard, timeout=ROLLBACK_SECONDS,
                              env={"API_KEYS_FILE": "/nowhere/api_keys.txt"})
        seconds = time.monotonic() - started
        back = full_capacity(cluster, layout, ROLLBACK_SECONDS)
        time.sleep(2)
    assert not load.failures, load.failures
    assert "API_KEYS_FILE" in str(failed.value) and "restored on every replica" in \
        str(failed.value), failed.value
    history = ray_deploy.read_history(layout)
    assert [h["outcome"] for h in history][-2:] == ["failed", "restored"]
    assert history[-1]["version"] == before
    report(f"ray: a version that cannot become ready (API_KEYS_FILE missing) under "
           f"{CLIENTS} clients: {len(load.answered)} answered, 0 failed; deploy failed after "
           f"{seconds:.1f} s with the reason, {before} on every replica "
           f"(+{back:.1f} s)")


def test_the_runbooks_status_scale_and_rollback_commands(
        deployed: tuple[Layout, str], cluster: RayCluster, target: tuple[Path, int]) -> None:
    """As section 10 of the runbook runs them: the command line, against the cluster."""
    layout, url = deployed
    manifest, port = target
    healthy = [h["version"] for h in ray_deploy.read_history(layout)
               if h["outcome"] in ("healthy", "restored")]
    env = {**os.environ, "DEPLOY_RAY_HTTP_PORT": str(port), "DEPLOY_RAY_CPUS_PER_REPLICA": "1"}

    def ray(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "deployment_agent", "ray", *args, str(manifest),
             "--output", str(layout.deployment), "--version", read_context(layout).api.version,
             "--address", cluster.dashboard], env=env, capture_output=True, text=True,
            timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    scaled = ray("scale", "--replicas", "1")
    assert "1 replicas running" in scaled, scaled
    assert "1 replicas wanted; 1 RUNNING" in ray("status")
    rolled = ray("rollback")
    back = full_capacity(cluster, layout, ROLLBACK_SECONDS)
    history = ray_deploy.read_history(layout)
    assert history[-1]["outcome"] == "healthy" and history[-1]["version"] != healthy[-1]
    assert history[-1]["version"] in healthy  # an earlier healthy version, as it ran
    assert httpx.get(f"{url}/health/ready").json()["status"] == "ready"
    report(f"ray: the runbook's commands: scale to 1 ({scaled.strip()}); rollback to "
           f"{history[-1]['version']} ({rolled.strip()}), 2 replicas at +{back:.1f} s")


def test_kill_a_replica_then_the_second_node_under_load(
        deployed: tuple[Layout, str], cluster: RayCluster) -> None:
    layout, url = deployed
    figures = []
    for victim in ("a replica", "the second node"):
        with Load(f"{url}/predict", example(layout)) as load:
            time.sleep(3)
            before = load.rate(time.monotonic() - 3, time.monotonic())
            if victim == "a replica":
                gone = frozenset([replicas(cluster, layout)[0]["pid"]])
            else:
                gone = frozenset(cluster.second.pids())
            lost = sum(r["pid"] in gone for r in replicas(cluster, layout))
            assert lost >= 1  # Serve spreads replicas: the second node held one
            for pid in gone:
                os.kill(pid, signal.SIGKILL)
            back = full_capacity(cluster, layout, RECOVERY_SECONDS, gone)
            time.sleep(3)
            after = load.rate(time.monotonic() - 3, time.monotonic())
        failed = sum(load.failures.values())
        assert failed <= CLIENTS, load.failures
        assert back <= RECOVERY_SECONDS
        figures.append(f"kill -9 {victim} ({lost} replica(s) lost): {failed} of "
                       f"{len(load.answered) + failed} requests failed "
                       f"({dict(load.failures)}), 2 replicas running again at +{back:.1f} s; "
                       f"{before:.0f} req/s before, {after:.0f} after")
    report("ray: " + "; ".join(figures))
