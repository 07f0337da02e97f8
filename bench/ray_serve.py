"""Ray Serve against our own uvicorn runtime, on the same cores, in one run.

The churn service (uvicorn runtime, ONNX) gets its Ray target twice, once per proxy mode
(setting ``ray.proxy``: ``haproxy``, the generated default, and ``ray``, Ray's own Python
proxy). Every node runs in a virtualenv made from the generated ``requirements.txt`` alone,
and each mode gets its own two-node cluster on loopback, started with its generated
``cluster.env`` (Ray reads the proxy mode when a node starts). In each cluster the service
is deployed by the deploy command with 2 replicas, and ``/predict`` at c=8 is loaded in
turn with our uvicorn runtime (2 workers) started beside it, ``ROUNDS`` times: each ratio
to uvicorn is the median of the rounds' ratios. In the default mode's cluster the service
is then scaled between 1 and 2 replicas, round after round, for the ratio of 2 replicas
to 1. The nodes' resident memory is read with the service deployed.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

from deployment_agent import run_deployment_agent
from deployment_agent.plan.layout import Layout, layout_for
from deployment_agent.plan.planner import read_context
from deployment_agent.release import ray, ray_deploy
from deployment_agent.verify import loadgen
from deployment_agent.verify.ray_cluster import RayCluster, node_environment, ray_cluster
from deployment_agent.verify.server import free_port

from . import load, subjects

ROUNDS = 5
PROXIES = ("haproxy", "ray")  # the generated default first


def ray_target(manifest: Path, folder: Path, proxy: str, port: int) -> Layout:
    """The churn deployment generated into ``folder`` with its Ray target in ``proxy``
    mode, its Serve port ``port``."""
    with mock.patch.dict(os.environ, {"DEPLOY_RAY_PROXY": proxy,
                                     "DEPLOY_RAY_HTTP_PORT": str(port)}):
        out, _ = run_deployment_agent(manifest, output_dir=folder, registry="bench",
                                      runtime="uvicorn", model_runtime="onnx", smoke=False)
    layout = layout_for(manifest, out)
    ray.write(layout)
    return layout


def resident_mib(cluster: RayCluster) -> float:
    """The resident memory of every process of both nodes, in MiB."""
    import psutil

    total = 0
    for pid in {*cluster.head.pids(), *cluster.second.pids()}:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total / 2**20


def replica_rates(layout: Layout, cluster: RayCluster, url: str, record: dict[str, Any],
                  seconds: float) -> dict[str, list[float]]:
    """``/predict`` at c=8 with 1 then 2 replicas, ``ROUNDS`` times (scaled by the deploy
    command between loads); the service is left at 2."""
    found: dict[str, list[float]] = {"1": [], "2": []}
    for _ in range(ROUNDS):
        for replicas in ("1", "2"):
            ray_deploy.scale(layout, int(replicas), cluster.dashboard, timeout=300)
            loadgen.run(url, 8, min(seconds, 2), record)  # warm-up: a new replica
            found[replicas].append(loadgen.run(url, 8, seconds, record)["rps"])
    return found


def measure(manifest: Path, seconds: float, scratch: Path) -> dict[str, Any]:
    """Every figure of the Ray section: requests/s per proxy mode against uvicorn, 2
    replicas against 1, start and deploy times, and the nodes' memory."""
    layouts = {proxy: ray_target(manifest, scratch / f"{proxy}" / "deployment", proxy,
                                 free_port()) for proxy in PROXIES}
    default = layouts[PROXIES[0]]
    record = read_context(default).example_input
    started = time.monotonic()
    python = node_environment(default.ray / "requirements.txt", scratch / "node-venv")
    figures: dict[str, Any] = {"node_environment_s": time.monotonic() - started,
                               "modes": {}}
    uvicorn = subjects.ours("ours: uvicorn runtime", default.deployment.resolve(),
                            default.bento_store)
    for proxy, layout in layouts.items():
        env = ray.cluster_env((layout.ray / "cluster.env").read_text())
        with contextlib.ExitStack() as stack:
            # a short path: Ray's sockets live in it
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="ray-", dir="/tmp", ignore_cleanup_errors=True)))
            started = time.monotonic()
            cluster = stack.enter_context(ray_cluster(python, env, folder))
            up = time.monotonic() - started
            ours = stack.enter_context(uvicorn.start())
            idle = resident_mib(cluster)
            started = time.monotonic()
            ray_deploy.deploy(layout, cluster.dashboard, timeout=300)
            deployed = time.monotonic() - started
            port = ray_deploy.generated_config(layout)["http_options"]["port"]
            url = f"http://127.0.0.1:{port}/predict"
            compared = load.interleaved({"ray": (url, record),
                                         "uvicorn": (ours + "/predict", record)},
                                        seconds, ROUNDS)
            mode = {"cluster_start_s": up, "deploy_s": deployed, "idle_rss_mib": idle,
                    "rss_mib_2_replicas": resident_mib(cluster),
                    "rps": compared["ray"]["rps"], "samples": compared["ray"]["samples"],
                    "uvicorn_rps": compared["uvicorn"]["rps"],
                    "uvicorn_samples": compared["uvicorn"]["samples"],
                    "of_uvicorn": statistics.median(
                        a / b for a, b in zip(compared["ray"]["samples"],
                                              compared["uvicorn"]["samples"], strict=True))}
            if proxy == PROXIES[0]:
                rates = replica_rates(layout, cluster, url, record, seconds)
                mode["replicas"] = {"samples": rates, "two_of_one": statistics.median(
                    b / a for a, b in zip(rates["1"], rates["2"], strict=True))}
        figures["modes"][proxy] = mode
        print(f"  ray ({proxy} proxy): {mode['rps']:.0f} req/s at c=8, "
              f"{mode['of_uvicorn']:.1%} of uvicorn's {mode['uvicorn_rps']:.0f}", flush=True)
    figures["default_proxy"] = PROXIES[0]
    figures["haproxy_of_ray_proxy"] = (figures["modes"]["haproxy"]["of_uvicorn"]
                                       / figures["modes"]["ray"]["of_uvicorn"])
    return figures


def main() -> None:
    """Measure the Ray section alone on a fresh churn build, and write its figures into
    results.json (the other sections keep the run they came from) and RESULTS.md."""
    import argparse

    from . import alone

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as folder:
        scratch = Path(folder)
        figures = measure(alone.trained_churn(scratch), args.seconds, scratch)
    figures["measured_at"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    alone.merge("ray_serve", figures)


if __name__ == "__main__":
    main()
