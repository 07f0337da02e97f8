"""Run a generated service as a real server process on 127.0.0.1 (smoke checks, tests, bench)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx

from ..package.bento import bentoml_env
from .environment import isolated


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(base_url: str, path: str, status: int = 200, timeout: float = 60.0,
               check: Callable[[], None] | None = None,
               verify: ssl.SSLContext | bool = True) -> float:
    """Poll ``base_url + path`` until it answers ``status``; return the seconds it took.

    ``check`` runs before every attempt and may raise (e.g. when the server died);
    ``verify`` is the SSL context for an HTTPS server with a private CA.
    """
    started = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=2.0, verify=verify) as client:
        while time.perf_counter() - started < timeout:
            if check is not None:
                check()
            try:
                if client.get(path).status_code == status:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    raise TimeoutError(f"{base_url}{path} did not answer {status} within {timeout} s")


class ServiceProcess:
    """A server subprocess in its own process group; use as a context manager."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], port: int) -> None:
        self.command = command
        self.cwd = cwd
        self.env = env
        self.port = port
        scheme = "https" if env.get("TLS_CERTFILE") else "http"
        self.base_url = f"{scheme}://127.0.0.1:{port}"
        # A TLS server's private CA, as in the client environment variable SSL_CERT_FILE.
        ca = env.get("SSL_CERT_FILE")
        self.verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca else True
        # Kept open for the object's life: output() is read after the server stopped.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @classmethod
    def bento(cls, tag: str, home: Path, workers: int = 1,
              env: dict[str, str] | None = None) -> ServiceProcess:
        """``bentoml serve TAG`` from the bento store, as in production."""
        port = free_port()
        return cls(
            [sys.executable, "-m", "bentoml", "serve", tag, "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=home, env={**bentoml_env(home), "WORKERS": str(workers), **(env or {})},
            port=port,
        )

    @classmethod
    def uvicorn(cls, deployment: Path, env: dict[str, str] | None = None) -> ServiceProcess:
        """The generated FastAPI app under a single uvicorn process."""
        port = free_port()
        return cls(
            [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=deployment, env={**os.environ, **(env or {})}, port=port,
        )

    @classmethod
    def entrypoint(cls, service_root: Path, home: Path, env: dict[str, str] | None = None,
                   python: Path | None = None) -> ServiceProcess:
        """``python -m api.serve`` in ``service_root`` (a deployment, or a bento's ``src/``):
        the container's entrypoint, with all its settings (TLS, graceful shutdown). With
        ``python`` (a virtualenv's), nothing of this process's environment leaks in."""
        port = free_port()
        base = bentoml_env(home)
        return cls(
            [str(python or sys.executable), "-m", "api.serve"], cwd=service_root,
            env={**(isolated(base) if python else base), "HOST": "127.0.0.1",
                 "PORT": str(port), **(env or {})},
            port=port,
        )

    def __enter__(self) -> ServiceProcess:
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            self.command, cwd=self.cwd, env=self.env, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def output(self) -> str:
        """Everything the server printed so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def wait_for(self, path: str, timeout: float = 60.0, status: int = 200,
                 check: Callable[[], None] | None = None) -> float:
        """Poll ``path`` until it answers ``status``; return seconds since start. ``check``
        runs before every attempt too, and may raise."""

        def alive() -> None:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.output()[-4000:]}"
                )
            if check is not None:
                check()

        try:
            wait_until(self.base_url, path, status, timeout, alive, self.verify)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}:\n{self.output()[-4000:]}") from None
        return time.perf_counter() - self.started_at

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM the process group, then SIGKILL after ``grace`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()
