"""The bench's CPU meter finds a real server's whole process tree and meters its CPU."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench import cpu
from deployment_agent.verify.server import free_port, wait_until

pytestmark = pytest.mark.server

# A supervisor that binds the socket and hands it to a worker process, as uvicorn's and
# BentoML's supervisors do: the worker answers, the supervisor only waits.
SUPERVISOR = """
import socket, subprocess, sys
sock = socket.create_server(("127.0.0.1", int(sys.argv[1])))
worker = subprocess.Popen([sys.executable, "-c", sys.argv[2], str(sock.fileno())],
                          pass_fds=[sock.fileno()])
worker.wait()
"""
WORKER = """
import socket, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Busy(BaseHTTPRequestHandler):
    def do_GET(self):
        sum(i * i for i in range(100000))  # some CPU per request, to be metered
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args): pass
server = HTTPServer(("127.0.0.1", 0), Busy, bind_and_activate=False)
server.socket = socket.socket(fileno=int(sys.argv[1]))
server.serve_forever()
"""


@contextmanager
def supervised() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    # In a session of their own, so that both go with one signal to the group, whatever
    # the meter under test finds.
    process = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(port), WORKER],
                               start_new_session=True)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until(base_url, "/", timeout=30)
        yield base_url, process
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_the_meter_climbs_from_the_worker_to_the_supervisor_and_takes_both() -> None:
    with supervised() as (base_url, supervisor):
        processes = cpu.server_processes(base_url)
        assert processes[0].pid == supervisor.pid
        assert len(processes) == 2  # the supervisor and its worker


def test_the_meter_counts_the_workers_cpu_per_request() -> None:
    with supervised() as (base_url, _):
        with cpu.metered(base_url) as spent:
            started = time.perf_counter()
            for _ in range(50):
                urllib.request.urlopen(base_url + "/").read()
            elapsed = time.perf_counter() - started
        result = {"requests": 50.0}
        cpu.per_unit(result, spent, 1)
        # The worker's CPU is counted (at least a millisecond per request of busy work), and
        # the server cannot have used more than the machine's cores during the block.
        assert result["server_cpu_us"] > 1000
        assert spent["cpu_s"] <= elapsed * 2 + 0.05


def test_a_port_nobody_listens_on_has_no_processes() -> None:
    assert cpu.server_processes(f"http://127.0.0.1:{free_port()}") == []
