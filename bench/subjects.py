"""The servers under load: ours in every runtime, the peers, and the floors.

Peers are the same churn model served the ways their documentation shows: BentoML's own
``@bentoml.api`` service, a hand-written FastAPI app, vetiver and MLflow (each in its own
virtualenv: they are not dependencies of this project). The floors are a constant ASGI
app (the cost of HTTP alone) and the model called in-process (:mod:`bench.floors`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployment_agent.verify.server import ServiceProcess, free_port, wait_until

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / "peers"
VENVS = BENCH / ".venvs"
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
# Peer frameworks live in their own virtualenvs, pinned.
PEER_PACKAGES = {
    "vetiver": ["vetiver==0.2.6", "uvicorn[standard]==0.54.0"],
    "mlflow": ["mlflow==3.17.2"],
}
MODEL_PINS = ["scikit-learn==1.9.1", "numpy==2.4.6", "pandas==3.1.1", "joblib==1.6.0"]
OURS_ENV = {"WORKERS": str(WORKERS), "LOG_LEVEL": "warning"}

Starter = Callable[[], AbstractContextManager[str]]


def single(record: dict[str, Any]) -> Any:
    return record


def records(batch: list[dict[str, Any]]) -> Any:
    return {"records": batch}


@dataclass
class Subject:
    """One server under load: how to start it and what its requests look like."""

    name: str
    kind: str  # "ours", "peer" or "floor"
    start: Starter
    predict_path: str = "/predict"
    predict_body: Callable[[dict[str, Any]], Any] = single
    batch_path: str | None = "/predict/batch"
    batch_body: Callable[[list[dict[str, Any]]], Any] | None = records
    notes: str = ""
    results: dict[str, Any] = field(default_factory=dict)


@contextmanager
def running(server: ServiceProcess, ready_path: str) -> Iterator[str]:
    """A server process, ready; yields its base URL."""
    with server:
        server.wait_for(ready_path, timeout=180)
        yield server.base_url


def ours(name: str, service_root: Path, store: Path, env: dict[str, str] | None = None
         ) -> Subject:
    """One of our builds, started by its image's entrypoint (``python -m api.serve``)."""
    return Subject(name, "ours", lambda: running(ServiceProcess.entrypoint(
        service_root, store, {**OURS_ENV, **(env or {})}), "/health/ready"))


@contextmanager
def container(image: str, env: dict[str, str]) -> Iterator[str]:
    """Our image under Docker, its port published on 127.0.0.1."""
    port = free_port()
    cid = subprocess.run(
        ["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8000",
         *[a for k, v in env.items() for a in ("-e", f"{k}={v}")], image],
        capture_output=True, text=True, check=True).stdout.strip()
    try:
        wait_until(f"http://127.0.0.1:{port}", "/health/ready", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


def uvicorn_app(python: Path | str, app: str, cwd: Path, env: dict[str, str] | None = None,
                ready_path: str = "/docs") -> AbstractContextManager[str]:
    """An ASGI app under uvicorn with WORKERS processes and no access log."""
    port = free_port()
    command = [str(python), "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(WORKERS), "--no-access-log"]
    return running(ServiceProcess(command, cwd, {**os.environ, **(env or {})}, port),
                   ready_path)


def peer_python(name: str) -> Path:
    """The python of a peer's virtualenv, created (pinned) on first use."""
    python = VENVS / name / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENVS / name)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES[name],
                        *MODEL_PINS], check=True)
    return python


def bentoml_default(model_path: Path, home: Path) -> AbstractContextManager[str]:
    """The model as BentoML's documentation serves it: bentoml.sklearn + @bentoml.api."""
    env = {"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True", "WORKERS": str(WORKERS)}
    subprocess.run([sys.executable, "-c", "import sys, joblib, bentoml; bentoml.sklearn."
                    "save_model('churn_default', joblib.load(sys.argv[1]))", str(model_path)],
                   env={**os.environ, **env}, check=True, capture_output=True)
    port = free_port()
    command = [sys.executable, "-m", "bentoml", "serve", "service:ChurnDefault", "--host",
               "127.0.0.1", "--port", str(port)]
    return running(ServiceProcess(command, PEERS / "bentoml_default", {**os.environ, **env},
                                  port), "/readyz")


def mlflow(model_path: Path) -> AbstractContextManager[str]:
    """``mlflow models serve`` of the model, saved with mlflow.sklearn."""
    python = peer_python("mlflow")
    target = Path(tempfile.mkdtemp(prefix="bench-mlflow-")) / "model"
    subprocess.run([str(python), str(PEERS / "mlflow_save.py"), str(model_path), str(target)],
                   check=True, capture_output=True)
    port = free_port()
    command = [str(python), "-m", "mlflow", "models", "serve", "-m", str(target),
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(WORKERS)]
    env = {**os.environ, "PATH": f"{python.parent}:{os.environ['PATH']}"}
    return running(ServiceProcess(command, BENCH, env, port), "/ping")


def peers(model_path: Path, scratch: Path) -> list[Subject]:
    """The other ways to serve the same model, and the constant floor."""
    env_model = {"MODEL_PATH": str(model_path)}
    return [
        Subject("floor: constant ASGI app (uvicorn)", "floor",
                lambda: uvicorn_app(sys.executable, "constant_app:app", PEERS, ready_path="/")),
        Subject("BentoML default service (@bentoml.api)", "peer",
                lambda: bentoml_default(model_path, scratch / "bentoml_default_home"),
                batch_path=None, batch_body=None,
                notes="single records only, as in BentoML's docs"),
        Subject("hand-written FastAPI + uvicorn", "peer",
                lambda: uvicorn_app(sys.executable, "handwritten:app", PEERS, env_model)),
        Subject("vetiver (VetiverAPI)", "peer",
                lambda: uvicorn_app(peer_python("vetiver"), "vetiver_app:app", PEERS, env_model),
                predict_body=lambda r: [r], batch_path="/predict", batch_body=lambda rs: rs),
        Subject("MLflow (mlflow models serve --env-manager local)", "peer",
                lambda: mlflow(model_path), predict_path="/invocations",
                predict_body=lambda r: {"dataframe_records": [r]},
                batch_path="/invocations", batch_body=lambda rs: {"dataframe_records": rs}),
    ]
