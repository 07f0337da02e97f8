"""A real Ray cluster on one machine, for the tests and the bench: a head and a second
node on loopback (``ray start``), every port chosen free so that nothing clashes, bounded
CPUs and object store, stopped with everything it started. Its nodes run in a virtualenv
made from the Ray target's generated ``requirements.txt`` alone (:func:`node_environment`),
as a user's nodes would. Needs the package's ``ray`` extra (psutil finds a node's
processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .server import free_port


def node_environment(requirements: Path, venv: Path) -> Path:
    """I make a virtualenv at ``venv`` from ``requirements`` alone (the generated pins and
    Ray's) and return its python; pip's own error, when it fails."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # --no-compile: a module is compiled when first imported, not every module of every
    # wheel at install (Ray's alone: 72 s -> 50 s to make this environment, measured).
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                                "--disable-pip-version-check", "--no-compile", "-r",
                                str(requirements)],
                               capture_output=True, text=True)
    if installed.returncode != 0:
        raise RuntimeError(f"pip install -r {requirements} failed: {installed.stderr[-3000:]}")
    return python


class RayNode:
    """One node of a Ray cluster this process started: its raylet's node-manager port
    (which finds its processes) and the port range of its workers."""

    def __init__(self, python: Path, head: bool, gcs: str | None, env: dict[str, str],
                 temp_dir: Path, cpus: int, index: int) -> None:
        self.python, self.env, self.cpus = python, env, cpus
        self.node_manager_port = free_port()
        ports = {name: free_port() for name in (
            "object-manager-port", "metrics-export-port", "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port", "runtime-env-agent-port")}
        self.gcs = gcs or f"127.0.0.1:{free_port()}"
        self.dashboard = f"http://127.0.0.1:{free_port()}" if head else ""
        # Workers' ports below Linux's ephemeral range (32768 and up), where free_port()
        # finds the others: one thousand per node.
        base = 20000 + 1000 * index
        command = [str(python.parent / "ray"), "start", "--disable-usage-stats",
                   f"--num-cpus={cpus}", "--object-store-memory=200000000",
                   f"--node-manager-port={self.node_manager_port}",
                   f"--min-worker-port={base}", f"--max-worker-port={base + 999}",
                   *(f"--{name}={port}" for name, port in ports.items())]
        if head:
            host, port = self.gcs.split(":")
            command += ["--head", f"--port={port}", "--dashboard-host=127.0.0.1",
                        f"--dashboard-port={self.dashboard.rsplit(':', 1)[1]}",
                        f"--ray-client-server-port={free_port()}", f"--temp-dir={temp_dir}"]
        else:
            command += [f"--address={self.gcs}"]
        started = subprocess.run(command, env=env, capture_output=True, text=True,
                                 timeout=180)
        if started.returncode != 0:
            raise RuntimeError(f"ray start failed: {started.stdout[-3000:]}"
                               f"{started.stderr[-3000:]}")

    def pids(self) -> list[int]:
        """Every process of this node: its raylet and what the raylet started."""
        import psutil

        raylets = [p for p in psutil.process_iter(["cmdline"]) if
                   f"--node_manager_port={self.node_manager_port}" in " ".join(
                       p.info["cmdline"] or [])]
        return [p.pid for raylet in raylets for p in [raylet, *raylet.children(True)]]


class RayCluster:
    """A head and a second node on loopback, each with its own ports and bounded CPUs and
    object store; stopped (every process of the nodes, HAProxy included) at the end."""

    def __init__(self, python: Path, env: dict[str, str], folder: Path, cpus: int = 2
                 ) -> None:
        self.python, self.folder = python, folder
        self.env = {**os.environ, **env, "RAY_USAGE_STATS_ENABLED": "0"}
        self.env.pop("RAY_ADDRESS", None)
        self.nodes = 0
        self.head = RayNode(python, True, None, self.env, folder, cpus, self.nodes)
        self.dashboard = self.head.dashboard
        try:
            self.second = self.add_node(cpus)
        except BaseException:  # a second node that cannot start leaves no head running
            self.stop()
            raise

    def add_node(self, cpus: int = 2) -> RayNode:
        """I start one more node, joined to the head, with its own HAProxy ports (two
        nodes on one host cannot share them; its Serve port is taken by the head's proxy,
        so on loopback the head's proxy is the entry point)."""
        env = {**self.env, "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
               "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port())}
        self.nodes += 1
        return RayNode(self.python, False, self.head.gcs, env, self.folder, cpus, self.nodes)

    def stop(self) -> None:
        """I stop both nodes and whatever they started (HAProxy outlives `ray stop`).
        `ray stop --force` stops every Ray process of this machine, not only this
        cluster's: I am for a machine that runs one cluster at a time (tests, bench)."""
        import psutil

        subprocess.run([str(self.python.parent / "ray"), "stop", "--force"], env=self.env,
                       capture_output=True, timeout=120)
        haproxy = str(self.python.parent.parent)
        for process in psutil.process_iter(["exe", "cmdline"]):
            if haproxy in " ".join(process.info["cmdline"] or []):
                process.kill()


@contextmanager
def ray_cluster(python: Path, env: dict[str, str], folder: Path) -> Iterator[RayCluster]:
    """A real two-node Ray cluster of ``python``'s environment, started with ``env`` (the
    generated cluster.env) in ``folder``; stopped at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    cluster = RayCluster(python, env, folder)
    try:
        yield cluster
    finally:
        cluster.stop()
