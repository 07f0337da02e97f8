"""The servers under load: ours in every runtime, the peers, and the floors.

Peers are the same churn model served the ways their documentation shows: BentoML's own
``@bentoml.api`` service, a hand-written FastAPI app, vetiver and MLflow (each in its own
virtualenv: they are not dependencies of this project). The floors are a constant ASGI
app (the cost of HTTP alone) and the model called in-process (:mod:`bench.floors`).
"""

from __future__ import annotations

import json
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
# Peer frameworks live in their own virtualenvs, pinned. MLServer 1.7.1's workers fail on
# uvloop 0.22 and newer ("There is no current event loop"); KServe 0.21 wants pandas < 3.
PEER_PACKAGES = {
    "vetiver": ["vetiver==0.2.6", "uvicorn[standard]==0.54.0"],
    "mlflow": ["mlflow==3.17.2"],
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0"],
    "kserve": ["kserve==0.21.0", "pandas==2.3.3"],
    "litserve": ["litserve==0.2.19"],
}
MODEL_PINS = ["scikit-learn==1.9.1", "numpy==2.4.6", "pandas==3.1.1", "joblib==1.6.0"]
OURS_ENV = {"WORKERS": str(WORKERS)}  # default settings otherwise: access log on

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
        packages = PEER_PACKAGES[name]
        named = {p.split("==")[0].split("[")[0] for p in packages}
        pins = [p for p in MODEL_PINS if p.split("==")[0] not in named]
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages, *pins],
                       check=True)
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


def mlserver(model_path: Path, scratch: Path) -> AbstractContextManager[str]:
    """``mlserver start`` on a folder holding the model's ``model-settings.json``
    (mlserver-sklearn's runtime) and the server's ``settings.json`` (WORKERS inference
    workers), as MLServer's documentation sets up a scikit-learn model."""
    python = peer_python("mlserver")
    folder = scratch / "mlserver"
    (folder / "churn").mkdir(parents=True, exist_ok=True)
    (folder / "churn" / "model-settings.json").write_text(json.dumps({
        "name": "churn", "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(model_path.resolve())}}))
    port = free_port()
    (folder / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
        "metrics_port": free_port(), "parallel_workers": WORKERS}))
    command = [str(python.parent / "mlserver"), "start", str(folder)]
    return running(ServiceProcess(command, folder, dict(os.environ), port), "/v2/health/ready")


def kserve(model_path: Path) -> AbstractContextManager[str]:
    """KServe's model server with a scikit-learn ``kserve.Model`` (``peers/kserve_app.py``)."""
    python = peer_python("kserve")
    port = free_port()
    command = [str(python), "kserve_app.py", "--http_port", str(port), "--grpc_port",
               str(free_port()), "--workers", str(WORKERS)]
    return running(ServiceProcess(command, PEERS, {**os.environ, "MODEL_PATH": str(model_path)},
                                  port), "/v2/health/ready")


def litserve(model_path: Path) -> AbstractContextManager[str]:
    """LitServe with a scikit-learn ``LitAPI`` (``peers/litserve_app.py``)."""
    python = peer_python("litserve")
    port = free_port()
    command = [str(python), "litserve_app.py", str(port), str(WORKERS)]
    return running(ServiceProcess(command, PEERS, {**os.environ, "MODEL_PATH": str(model_path)},
                                  port), "/health")


def tensor(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The records as one Open Inference Protocol (v2) FP64 tensor, asking for the
    probabilities (what our /predict answers)."""
    data = [float(v) for r in records for v in r.values()]
    return {"inputs": [{"name": "X", "shape": [len(records), len(records[0])],
                        "datatype": "FP64", "data": data}],
            "outputs": [{"name": "predict_proba"}]}


# The protocol's datatype of each feature type, as our service declares them.
PROTOCOL_DATATYPES = {"int": "INT64", "float": "FP64", "bool": "BOOL", "str": "BYTES"}


def protocol_tensors(features: list[dict[str, Any]], records: list[dict[str, Any]]
                     ) -> dict[str, Any]:
    """The records as our Open Inference Protocol request: one input per feature."""
    return {"inputs": [{"name": f["name"], "datatype": PROTOCOL_DATATYPES[f["type"]],
                        "shape": [len(records)], "data": [r[f["name"]] for r in records]}
                       for f in features]}


def instances(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The records as KServe's V1 protocol's instances (rows in feature order)."""
    return {"instances": [[float(v) for v in r.values()] for r in records]}


def floor() -> Subject:
    """The constant ASGI app under uvicorn: the cost of HTTP alone."""
    return Subject("floor: constant ASGI app (uvicorn)", "floor",
                   lambda: uvicorn_app(sys.executable, "constant_app:app", PEERS, ready_path="/"))


def peers(model_path: Path, scratch: Path) -> list[Subject]:
    """The other ways to serve the same model, and the constant floor."""
    env_model = {"MODEL_PATH": str(model_path)}
    return [
        floor(),
        Subject("BentoML default service (@bentoml.api)", "peer",
                lambda: bentoml_default(model_path, scratch / "bentoml_default_home"),
                batch_path=None, batch_body=None,
                notes="single records only, as in BentoML's docs"),
        Subject("hand-written FastAPI + uvicorn", "peer",
                lambda: uvicorn_app(sys.executable, "handwritten:app", PEERS, env_model)),
        Subject("vetiver (VetiverAPI)", "peer",
                lambda: uvicorn_app(peer_python("vetiver"), "vetiver_app:app", PEERS, env_model),
                predict_body=lambda r: [r], batch_path="/predict", batch_body=lambda rs: rs),
        Subject("MLServer 1.7.1 (mlserver-sklearn, REST v2)", "peer",
                lambda: mlserver(model_path, scratch), predict_path="/v2/models/churn/infer",
                predict_body=lambda r: tensor([r]), batch_path="/v2/models/churn/infer",
                batch_body=tensor),
        Subject("KServe 0.21 model server (scikit-learn kserve.Model, REST v1)", "peer",
                lambda: kserve(model_path), predict_path="/v1/models/churn:predict",
                predict_body=lambda r: instances([r]), batch_path="/v1/models/churn:predict",
                batch_body=instances),
        Subject("LitServe 0.2.19 (LitAPI)", "peer", lambda: litserve(model_path),
                predict_body=lambda r: {"input": r}, batch_path="/predict",
                batch_body=lambda rs: {"records": rs}),
        Subject("MLflow (mlflow models serve --env-manager local)", "peer",
                lambda: mlflow(model_path), predict_path="/invocations",
                predict_body=lambda r: {"dataframe_records": [r]},
                batch_path="/invocations", batch_body=lambda rs: {"dataframe_records": rs}),
    ]
