"""Real third-party servers for the tests: Debian's Prometheus and Docker registry.

Each runs as a subprocess on a free 127.0.0.1 port in a temporary folder, and is stopped
when the context ends. A missing binary fails the test with the package to install:
.ci/run installs them (scripts/with-docker.sh).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from deployment_agent.verify.server import ServiceProcess, free_port


def binary(name: str, package: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: apt-get install {package}"
    return path


@contextmanager
def prometheus(folder: Path, job: str, target: str, rules: dict[str, Any],
               interval: str = "1s") -> Iterator[str]:
    """Prometheus scraping ``target`` (host:port) as ``job`` and evaluating ``rules``; yields
    its base URL."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(folder / "rules.yml")],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    command = [binary("prometheus", "prometheus"), f"--config.file={folder / 'prometheus.yml'}",
               f"--storage.tsdb.path={folder / 'data'}",
               f"--web.listen-address=127.0.0.1:{port}"]
    with ServiceProcess(command, folder, {}, port) as server:
        server.wait_for("/-/ready", timeout=60)
        yield server.base_url


def firing(prometheus_url: str) -> dict[str, dict[str, Any]]:
    """The alerts Prometheus reports as firing, by name."""
    alerts = httpx.get(prometheus_url + "/api/v1/alerts").json()["data"]["alerts"]
    return {a["labels"]["alertname"]: a for a in alerts if a["state"] == "firing"}


def wait_for_alert(prometheus_url: str, name: str, timeout: float) -> float:
    """Seconds until alert ``name`` fires (fails after ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if name in firing(prometheus_url):
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"{name} did not fire within {timeout} s: {firing(prometheus_url)}")


@contextmanager
def registry(folder: Path) -> Iterator[str]:
    """The CNCF distribution registry (Debian's docker-registry); yields host:port."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {"version": 0.1, "storage": {"filesystem": {"rootdirectory": str(folder / "data")},
                                          "delete": {"enabled": True}},
              "http": {"addr": f"127.0.0.1:{port}"}, "log": {"level": "warn"}}
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    command = [binary("docker-registry", "docker-registry"), "serve", str(folder / "config.yml")]
    with ServiceProcess(command, folder, {}, port) as server:
        server.wait_for("/v2/", timeout=60)
        yield f"127.0.0.1:{port}"
