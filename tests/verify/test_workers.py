"""A worker that dies is replaced: on both runtimes, SIGKILL one of two workers under load
from 8 clients and count what happens."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest
from conftest import Deployment, report
from helpers import CLIENTS, Load, generate

from deployment_agent.verify.server import ServiceProcess

pytestmark = pytest.mark.server

WINDOW_S = 3.0  # the window over which throughput after the kill is measured
RECOVERY_S = 30.0  # throughput must be back within this many seconds of the kill


def worker_pids(server: ServiceProcess) -> list[int]:
    """The live (not zombie) worker processes under the server's supervisor."""
    assert server.process is not None
    found = []
    for child in psutil.Process(server.process.pid).children(recursive=True):
        try:
            command = " ".join(child.cmdline())
            if child.status() != psutil.STATUS_ZOMBIE and (
                    "_bentoml_impl.worker" in command or "spawn_main" in command):
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("runtime", ["bentoml", "uvicorn"])
def test_a_killed_worker_is_replaced_and_counted(runtime: str,
                                                 deployments: dict[str, Deployment],
                                                 bentos: dict[str, str],
                                                 experiments: dict[str, Path],
                                                 tmp_path: Path) -> None:
    deployment = deployments["churn"]
    if runtime == "bentoml":
        name, version = bentos["churn"].split(":")
        root = deployment.bento_store / "bentos" / name / version / "src"
    else:
        root, _ = generate(experiments["churn"], output_dir=tmp_path / "uvicorn",
                                       runtime="uvicorn")
    env = {"WORKERS": "2", "LOG_LEVEL": "warning"}
    with ServiceProcess.entrypoint(root, deployment.bento_store, env) as server:
        server.wait_for("/health/ready", timeout=90)
        before = worker_pids(server)
        assert len(before) == 2, before
        with Load(server.base_url + "/predict", deployment.context.example_input) as load:
            time.sleep(5)
            killed_at = time.monotonic()
            os.kill(before[0], signal.SIGKILL)
            while True:
                now = worker_pids(server)
                if len(now) == 2 and before[0] not in now:
                    break
                assert time.monotonic() - killed_at < 10, f"not replaced: {now}"
                time.sleep(0.05)
            replaced = time.monotonic() - killed_at
            rate_before = load.rate(killed_at - 5, killed_at)
            # Throughput comes back: within RECOVERY_S, some WINDOW_S is at 70% of before
            # (a window, not one instant, so that a busy moment of the machine is not taken
            # for a lost worker).
            while True:
                time.sleep(WINDOW_S)
                ended = time.monotonic()
                rate_after = load.rate(ended - WINDOW_S, ended)
                if rate_after > 0.7 * rate_before or ended - killed_at > RECOVERY_S:
                    break
        metrics = httpx.get(server.base_url + "/metrics").text
        log = server.output()
    assert re.search(r'^worker_restarts_total\{reason="SIGKILL"\} 1\.0', metrics,
                     re.MULTILINE), metrics[-2000:]
    assert '"reason": "SIGKILL"' in log and "worker died" in log
    lost = sum(load.failures.values())
    assert lost <= CLIENTS, load.failures  # at most the requests in flight
    assert rate_after > 0.7 * rate_before, (rate_before, rate_after)
    report(f"{runtime}: SIGKILL of 1 of 2 workers under 8 clients: replaced in "
           f"{replaced:.2f} s, {lost} requests lost ({dict(load.failures)}), "
           f"{rate_before:.0f} req/s before, {rate_after:.0f} in the {WINDOW_S:.0f} s to "
           f"{ended - killed_at:.1f} s after; counted and logged")
