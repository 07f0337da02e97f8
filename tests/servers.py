"""Real third-party servers for the tests: Debian's Prometheus, Docker registry and
PostgreSQL, a CloudEvents receiver built on the ``cloudevents`` SDK, and a two-node Ray
cluster on loopback.

Each runs as a subprocess on a free 127.0.0.1 port in a temporary folder, and is stopped
when the context ends. A missing binary fails the test with the package to install:
.ci/run installs them (scripts/with-docker.sh).
"""

from __future__ import annotations

import glob
import http.server
import os
import pwd
import shutil
import socket
import subprocess
import threading
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
               interval: str = "1s", http_sd: str | None = None) -> Iterator[str]:
    """Prometheus scraping ``target`` (host:port) as ``job``, or the targets the URL
    ``http_sd`` lists (its HTTP service discovery), and evaluating ``rules``; yields its
    base URL."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(folder / "rules.yml")],
        "scrape_configs": [{"job_name": job, **(
            {"http_sd_configs": [{"url": http_sd, "refresh_interval": interval}]} if http_sd
            else {"static_configs": [{"targets": [target]}]})}],
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


def postgres_binary(name: str) -> str:
    """A PostgreSQL server program (Debian keeps them outside the PATH)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or \
        ([shutil.which(name)] if shutil.which(name) else [])
    assert found, f"{name} is not installed: apt-get install postgresql"
    return found[-1]


@contextmanager
def postgres() -> Iterator[str]:
    """A PostgreSQL server of its own (initdb in a fresh folder the ``postgres`` user can
    reach, trust on 127.0.0.1, run as that user: it refuses root); yields a SQLAlchemy URL
    of its ``postgres`` database, and removes the folder at the end."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="deployment-agent-pg-"))
    folder.chmod(0o755)
    data = folder / "data"
    user = pwd.getpwnam("postgres")
    os.chown(folder, user.pw_uid, user.pw_gid)

    def as_postgres() -> None:
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    subprocess.run([postgres_binary("initdb"), "-D", str(data), "-A", "trust", "-U",
                    "postgres"], check=True, capture_output=True, preexec_fn=as_postgres)
    port = free_port()
    server = subprocess.Popen(
        [postgres_binary("postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
         "-k", str(folder), "-c", "fsync=off"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, preexec_fn=as_postgres)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([postgres_binary("pg_isready"), "-h", "127.0.0.1", "-p",
                              str(port)], capture_output=True).returncode != 0:
            assert server.poll() is None and time.monotonic() < deadline, "postgres died"
            time.sleep(0.2)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


class Receiver:
    """The CloudEvents each POST brought (parsed by the SDK), and how long to answer."""

    def __init__(self, delay: float = 0.0) -> None:
        self.events: list[Any] = []
        self.delay = delay
        self.lock = threading.Lock()


@contextmanager
def cloudevents_receiver(delay: float = 0.0) -> Iterator[tuple[str, Receiver]]:
    """An HTTP server on 127.0.0.1 that parses every POST as a CloudEvent with the
    ``cloudevents`` SDK, as a consumer of KServe's logger does; yields its URL and what it
    received. ``delay`` makes it answer slowly."""
    from cloudevents.v1.http import from_http

    received = Receiver(delay)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            event = from_http(dict(self.headers.items()), body)
            with received.lock:
                received.events.append(event)
            time.sleep(received.delay)
            self.send_response(202)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", received
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
