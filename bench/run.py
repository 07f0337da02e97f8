"""`doit bench`: serving and build benchmarks, each figure set against baselines of the same run.

Everything runs on this machine, against servers on 127.0.0.1 started by the bench itself,
with the same worker count (WORKERS, default 2 = the cores here) for every HTTP server.
Writes bench/results.json and bench/RESULTS.md. These are measurements, not tests: nothing
here fails because a figure is slow; each target is marked met or missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from deployment_agent import loadgen as load
from deployment_agent.server import ServiceProcess, free_port, wait_until

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = BENCH / "peers"
VENVS = BENCH / ".venvs"
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
# Peer frameworks live in their own virtualenvs: they are not project dependencies.
PEER_PACKAGES = {
    "vetiver": ["vetiver==0.2.6", "uvicorn[standard]==0.54.0"],
    "mlflow": ["mlflow==3.17.2"],
}
MODEL_PINS = ["scikit-learn==1.9.1", "numpy==2.4.6", "pandas==3.1.1", "joblib==1.6.0"]


@dataclass
class Subject:
    """One server under load: how to start it and what its requests look like."""

    name: str
    start: Callable[[], Any]  # a context manager yielding the base URL
    predict_path: str
    predict_body: Callable[[dict[str, Any]], Any]
    batch_path: str | None = None
    batch_body: Callable[[list[dict[str, Any]]], Any] | None = None
    notes: str = ""
    results: dict[str, Any] = field(default_factory=dict)


def machine_info() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    libs = {
        name: version(name)
        for name in ("bentoml", "fastapi", "uvicorn", "pydantic", "scikit-learn", "numpy", "doit")
    }
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "libraries": libs,
        "wrk": (wrk.stdout or wrk.stderr).split("\n")[0].strip(),
    }


def peer_python(name: str) -> Path:
    """The python of a peer's virtualenv, created (pinned) on first use."""
    python = VENVS / name / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENVS / name)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES[name], *MODEL_PINS],
            check=True,
        )
    return python


@contextmanager
def serving(
    command: list[str], cwd: Path, env: dict[str, str], port: int, ready_path: str = "/health"
) -> Iterator[str]:
    with ServiceProcess(command, cwd, {**os.environ, **env}, port) as server:
        server.wait_for(ready_path, timeout=120)
        yield server.base_url


def uvicorn(
    python: Path | str,
    app: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    ready_path: str = "/docs",
) -> Any:
    port = free_port()
    return serving(
        [
            str(python),
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
            "--no-access-log",
        ],
        cwd,
        env or {},
        port,
        ready_path,
    )


# --- floors --------------------------------------------------------------------------


def in_process_floor(model: Any, record: list[float], calls: int = 2000) -> dict[str, float]:
    """The model's own predict + predict_proba on one row, and on 1000 rows, in-process."""
    row = np.array([record], dtype=float)
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        model.predict(row)
        model.predict_proba(row)
        timings.append((time.perf_counter() - started) * 1000)
    rows = np.repeat(row, 1000, axis=0)
    started, loops = time.perf_counter(), 50
    for _ in range(loops):
        model.predict(rows)
        model.predict_proba(rows)
    per_batch = (time.perf_counter() - started) / loops
    return {
        "p50_ms": statistics.median(timings),
        "p99_ms": statistics.quantiles(timings, n=100)[98],
        "records_per_s_1000": 1000 / per_batch,
    }


# --- the serving grid ----------------------------------------------------------------


def measure(subject: Subject, records: list[dict[str, Any]], seconds: float) -> None:
    with subject.start() as base_url:
        load.run(
            base_url + subject.predict_path, 8, min(seconds, 2), subject.predict_body(records[0])
        )  # warm-up
        for concurrency in (1, 8, 32):
            subject.results[f"predict_c{concurrency}"] = load.run(
                base_url + subject.predict_path,
                concurrency,
                seconds,
                subject.predict_body(records[0]),
            )
        if subject.batch_path and subject.batch_body:
            for size in (10, 100, 1000):
                result = load.run(
                    base_url + subject.batch_path, 8, seconds, subject.batch_body(records[:size])
                )
                result["records_per_s"] = result["rps"] * size
                subject.results[f"batch{size}_c8"] = result
        if subject.name.startswith("ours"):
            # /health latency while /predict runs at concurrency 8
            background = load.start(base_url + "/health", 1, seconds)
            subject.results["predict_c8_with_health"] = load.run(
                base_url + subject.predict_path, 8, seconds, subject.predict_body(records[0])
            )
            subject.results["health_under_load"] = load.parse(background.communicate()[0])
    print(
        f"  {subject.name}: predict c8 {subject.results['predict_c8']['rps']:.0f} req/s, "
        f"p50 {subject.results['predict_c8']['p50_ms']:.2f} ms",
        flush=True,
    )


def subjects(
    deployment: Path, bento_tag: str, model_path: Path, image: str | None, bentoml_home: Path
) -> list[Subject]:
    records_body = lambda rs: {"records": rs}  # noqa: E731
    env_model = {"MODEL_PATH": str(model_path)}
    ours_env = {"WORKERS": str(WORKERS), "LOG_LEVEL": "warning"}
    result = [
        Subject(
            "floor: constant ASGI app (uvicorn)",
            lambda: uvicorn(sys.executable, "constant_app:app", PEERS, ready_path="/"),
            "/predict",
            lambda r: r,
            "/predict/batch",
            records_body,
        ),
        Subject(
            "ours: bentoml serve (bento)",
            lambda: _bento(bento_tag, ours_env),
            "/predict",
            lambda r: r,
            "/predict/batch",
            records_body,
        ),
        Subject(
            "ours: FastAPI app under uvicorn (uvicorn runtime)",
            lambda: uvicorn(sys.executable, "api.main:app", deployment, ours_env, "/health/ready"),
            "/predict",
            lambda r: r,
            "/predict/batch",
            records_body,
        ),
        Subject(
            "BentoML default service (@bentoml.api)",
            lambda: _bentoml_default(model_path, bentoml_home),
            "/predict",
            lambda r: r,
            notes="single records only, as in BentoML's docs",
        ),
        Subject(
            "hand-written FastAPI + uvicorn",
            lambda: uvicorn(sys.executable, "handwritten:app", PEERS, env_model),
            "/predict",
            lambda r: r,
            "/predict/batch",
            records_body,
        ),
        Subject(
            "vetiver (VetiverAPI)",
            lambda: uvicorn(peer_python("vetiver"), "vetiver_app:app", PEERS, env_model),
            "/predict",
            lambda r: [r],
            "/predict",
            lambda rs: rs,
        ),
        Subject(
            "MLflow (mlflow models serve --env-manager local)",
            lambda: _mlflow(model_path),
            "/invocations",
            lambda r: {"dataframe_records": [r]},
            "/invocations",
            lambda rs: {"dataframe_records": rs},
        ),
    ]
    if image:
        result.insert(
            3,
            Subject(
                "ours: container",
                lambda: _container(image, ours_env),
                "/predict",
                lambda r: r,
                "/predict/batch",
                records_body,
            ),
        )
    return result


def _bento(tag: str, env: dict[str, str]) -> Any:
    server = ServiceProcess.bento(tag, workers=WORKERS, env=env)
    return serving(server.command, server.cwd, server.env, server.port, "/health/ready")


def _bentoml_default(model_path: Path, home: Path) -> Any:
    env = {"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True", "WORKERS": str(WORKERS)}
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, joblib, bentoml; bentoml.sklearn."
            "save_model('churn_default', joblib.load(sys.argv[1]))",
            str(model_path),
        ],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    port = free_port()
    return serving(
        [
            sys.executable,
            "-m",
            "bentoml",
            "serve",
            "service:ChurnDefault",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        PEERS / "bentoml_default",
        env,
        port,
        "/readyz",
    )


def _mlflow(model_path: Path) -> Any:
    python = peer_python("mlflow")
    target = Path(tempfile.mkdtemp(prefix="bench-mlflow-")) / "model"
    subprocess.run(
        [str(python), str(PEERS / "mlflow_save.py"), str(model_path), str(target)],
        check=True,
        capture_output=True,
    )
    port = free_port()
    return serving(
        [
            str(python),
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            str(target),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            str(WORKERS),
        ],
        BENCH,
        {"PATH": f"{python.parent}:{os.environ['PATH']}"},
        port,
        "/ping",
    )


@contextmanager
def _container(image: str, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    cid = subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--rm",
            "-p",
            f"127.0.0.1:{port}:8000",
            *[a for k, v in env.items() for a in ("-e", f"{k}={v}")],
            image,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        wait_until(f"http://127.0.0.1:{port}", "/health/ready", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


def profile_ours(bento_tag: str, body: dict[str, Any], seconds: int) -> dict[str, Any]:
    """py-spy samples of one bento worker under /predict load at c=8: the frames with the
    largest inclusive share of the worker's busy (non-idle) samples."""
    if shutil.which("py-spy") is None:
        return {}
    server = ServiceProcess.bento(bento_tag, workers=1, env={"LOG_LEVEL": "warning"})
    with server, tempfile.TemporaryDirectory() as scratch:
        server.wait_for("/health/ready", timeout=120)
        worker = subprocess.run(
            ["pgrep", "-f", "-n", "_bentoml_impl.worker.service"], capture_output=True, text=True
        ).stdout.split()[0]
        background = threading.Thread(
            target=load.run, args=(server.base_url + "/predict", 8, seconds + 2, body)
        )
        background.start()
        time.sleep(1)
        raw = Path(scratch) / "profile.txt"
        subprocess.run(
            [
                "py-spy",
                "record",
                "--pid",
                worker,
                "--duration",
                str(seconds),
                "--format",
                "raw",
                "--output",
                str(raw),
                "--nonblocking",
            ],
            capture_output=True,
        )
        background.join()
        inclusive: dict[str, int] = {}
        own: dict[str, int] = {}
        total = 0
        for line in raw.read_text().splitlines():
            stack, count = line.rsplit(" ", 1)  # py-spy leaves idle samples out
            frames = stack.split(";")
            total += int(count)
            own[frames[-1]] = own.get(frames[-1], 0) + int(count)
            for frame in set(frames):
                inclusive[frame] = inclusive.get(frame, 0) + int(count)
    layers = (
        "api/main.py",
        "api/model_loader.py",
        "api/middleware.py",
        "sklearn/pipeline",
        "opentelemetry",
        "_bentoml_impl/server/app",
        "fastapi/routing.py:3",
        "fastapi/dependencies",
        "httptools_impl",
        "starlette/responses",
        "json/",
    )
    return {
        "layers": sorted(
            ((f, n / total * 100) for f, n in inclusive.items() if any(k in f for k in layers)),
            key=lambda x: -x[1],
        )[:12],
        "self": sorted(((f, n / total * 100) for f, n in own.items()), key=lambda x: -x[1])[:12],
    }


# --- build benchmarks ----------------------------------------------------------------


def _doit(project: Path, env: dict[str, str], *args: str) -> tuple[float, list[str]]:
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "doit",
            "-f",
            str(ROOT / "dodo.py"),
            "-d",
            str(project),
            "--db-file",
            str(project / ".doit.db"),
            *args,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"doit {args} failed:\n{result.stdout}{result.stderr}")
    return seconds, [
        line[3:].strip() for line in result.stdout.splitlines() if line.startswith(".  ")
    ]


def _containerize(project: Path, *opts: str) -> float:
    """Seconds for `bentoml containerize` of the scratch project's bento (offline)."""
    state = project / "artifacts" / "deployment-build"
    record = json.loads((state / "bento.json").read_text())
    (state / "tmp").mkdir(exist_ok=True)
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bentoml",
            "containerize",
            record["tag"],
            "--backend",
            "docker",
            "--image-tag",
            record["image"],
            "--opt",
            "network=none",
            *[a for o in opts for a in ("--opt", o)],
        ],
        cwd=state,
        env={
            **os.environ,
            "BENTOML_HOME": str(project / "bentos"),
            "DOCKER_BUILDKIT": "0",
            "TMPDIR": str(state / "tmp"),
        },
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def build_benchmarks(project: Path, docker: bool) -> dict[str, Any]:
    """Cold, no-op and incremental doit runs in a scratch project; image build and start."""
    shutil.copytree(
        ROOT / "examples", project / "examples", ignore=shutil.ignore_patterns("__pycache__")
    )
    home = project / "agent_home"
    for folder in ("templates", "runbook"):
        shutil.copytree(ROOT / folder, home / folder)
    env = {
        "DEPLOYMENT_AGENT_HOME": str(home),
        "DEPLOYMENT_AGENT_BENTOS": str(project / "bentos"),
        "REGISTRY": "bench",
    }
    _doit(project, env, "train_example")
    out: dict[str, Any] = {}
    out["cold_s"], out["cold_ran"] = _doit(project, env, "bento")
    _doit(project, env)  # the rest of the default tasks (smoke)
    out["noop_s"], out["noop_ran"] = _doit(project, env)
    section = home / "runbook" / "07_contacts.md.j2"
    section.write_text(section.read_text() + "- Escalation: the head of data science\n")
    out["template_s"], out["template_ran"] = _doit(project, env)
    out["api_version_s"], out["api_version_ran"] = _doit(project, {**env, "API_VERSION": "1.1.0"})
    if docker:
        _doit(project, env, "base_image", "wheelhouse")
        out["image_cold_s"] = _containerize(project, "no-cache")
        out["image_warm_s"] = _containerize(project)
        _doit(project, env, "containerize")  # records the image (id, size)
        image = json.loads((project / "artifacts/deployment-build/image.json").read_text())
        out["image"] = image["image"]
        out["image_size_mb"] = image["size_bytes"] / 1e6
        starts = []
        for _ in range(3):
            port = free_port()
            started = time.perf_counter()
            cid = subprocess.run(
                ["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8000", image["image"]],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            wait_until(f"http://127.0.0.1:{port}", "/health/ready", timeout=60)
            starts.append(time.perf_counter() - started)
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
        out["container_ready_s"] = statistics.median(starts)
    return out


# --- report --------------------------------------------------------------------------


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the benchmark issue, met or missed, from this run's figures."""
    serving, floor, build = results["serving"], results["floor_in_process"], results["build"]
    constant = serving["floor: constant ASGI app (uvicorn)"]
    rps = {name: r["predict_c8"]["rps"] for name, r in serving.items()}

    def target(what: str, value: float, goal: float, higher: bool, unit: str) -> dict[str, Any]:
        return {
            "target": what,
            "value": round(value, 3),
            "goal": round(goal, 3),
            "unit": unit,
            "met": value >= goal if higher else value <= goal,
        }

    result = []
    for ours in (
        "ours: bentoml serve (bento)",
        "ours: FastAPI app under uvicorn (uvicorn runtime)",
    ):
        r, short = serving[ours], ours.split(": ", 1)[1]
        result += [
            target(
                f"{short}: /predict p50 at c=8 <= 1.5x the constant app's",
                r["predict_c8"]["p50_ms"],
                1.5 * constant["predict_c8"]["p50_ms"],
                False,
                "ms",
            ),
            target(
                f"{short}: >= 2x the default BentoML service (req/s, c=8)",
                rps[ours],
                2 * rps["BentoML default service (@bentoml.api)"],
                True,
                "req/s",
            ),
            target(
                f"{short}: >= 1.2x the hand-written FastAPI app (req/s, c=8)",
                rps[ours],
                1.2 * rps["hand-written FastAPI + uvicorn"],
                True,
                "req/s",
            ),
            target(
                f"{short}: ahead of vetiver (req/s, c=8)",
                rps[ours],
                rps["vetiver (VetiverAPI)"],
                True,
                "req/s",
            ),
            target(
                f"{short}: ahead of MLflow (req/s, c=8)",
                rps[ours],
                rps["MLflow (mlflow models serve --env-manager local)"],
                True,
                "req/s",
            ),
            target(
                f"{short}: /predict/batch 1000 >= 80% of in-process records/s",
                r["batch1000_c8"]["records_per_s"],
                0.8 * floor["records_per_s_1000"],
                True,
                "records/s",
            ),
            target(
                f"{short}: /health p99 <= 5 ms under /predict load (c=8)",
                r["health_under_load"]["p99_ms"],
                5.0,
                False,
                "ms",
            ),
        ]
    result += [
        target("no-op doit <= 0.5 s", build["noop_s"], 0.5, False, "s"),
        target(
            "one template touched: only its dependents rerun (tasks run)",
            float(len(build["template_ran"])),
            1.0,
            False,
            "tasks",
        ),
    ]
    if "container_ready_s" in build:
        result.append(target("container ready <= 5 s", build["container_ready_s"], 5.0, False, "s"))
    return result


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Run {results['date']} on {m['cpu']}, {m['cores']} cores, Python {m['python']}; "
        f"{', '.join(f'{k} {v}' for k, v in m['libraries'].items())}; load by {m['wrk']} "
        f"(closed loop, {results['seconds']} s a point, {results['workers']} workers per "
        "server, client and server on the same machine).",
        "",
        "## Targets",
        "",
        "| Target | Value | Goal | Met |",
        "|---|---|---|---|",
    ]
    for t in results["targets"]:
        lines.append(
            f"| {t['target']} | {t['value']} {t['unit']} | {t['goal']} {t['unit']} | "
            f"{'met' if t['met'] else 'MISSED'} |"
        )
    floor = results["floor_in_process"]
    lines += [
        "",
        "## Serving: POST /predict (1 record)",
        "",
        f"In-process floor (predict + predict_proba, 1 row): p50 {floor['p50_ms']:.3f} ms, "
        f"p99 {floor['p99_ms']:.3f} ms; 1000 rows: {floor['records_per_s_1000']:.0f} "
        "records/s.",
        "",
        "| Server | c=1 req/s | c=1 p50 ms | c=8 req/s | c=8 p50 / p99 ms | c=32 req/s | "
        "c=32 p99 ms | vs constant (c=8) | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    constant = results["serving"]["floor: constant ASGI app (uvicorn)"]["predict_c8"]["rps"]
    for name, r in results["serving"].items():
        c1, c8, c32 = r["predict_c1"], r["predict_c8"], r["predict_c32"]
        errors = sum(
            v.get("errors", 0) + v.get("socket_errors", 0)
            for v in r.values()
            if isinstance(v, dict)
        )
        lines.append(
            f"| {name} | {c1['rps']:.0f} | {c1['p50_ms']:.2f} | {c8['rps']:.0f} | "
            f"{c8['p50_ms']:.2f} / {c8['p99_ms']:.2f} | {c32['rps']:.0f} | "
            f"{c32['p99_ms']:.2f} | {c8['rps'] / constant:.2f}x | {errors:.0f} |"
        )
    lines += [
        "",
        "## Serving: POST /predict/batch (concurrency 8)",
        "",
        "| Server | 10 records: records/s | 100 | 1000 | 1000 vs in-process |",
        "|---|---|---|---|---|",
    ]
    for name, r in results["serving"].items():
        if "batch10_c8" in r:
            per_s = [r[f"batch{n}_c8"]["records_per_s"] for n in (10, 100, 1000)]
            lines.append(
                f"| {name} | {per_s[0]:.0f} | {per_s[1]:.0f} | {per_s[2]:.0f} | "
                f"{per_s[2] / floor['records_per_s_1000']:.2f}x |"
            )
    for name, r in results["serving"].items():
        if "health_under_load" in r:
            h = r["health_under_load"]
            lines.append(
                f"\n{name}: `/health` under /predict load at c=8: p50 {h['p50_ms']:.2f} "
                f"ms, p99 {h['p99_ms']:.2f} ms."
            )
    b = results["build"]
    lines += [
        "",
        "## Build",
        "",
        "| Step | Seconds | Tasks run |",
        "|---|---|---|",
        f"| cold `doit bento` (validate, generate, bento) | {b['cold_s']:.2f} | "
        f"{', '.join(b['cold_ran'])} |",
        f"| no-op `doit` | {b['noop_s']:.2f} | {', '.join(b['noop_ran']) or 'none'} |",
        f"| `doit` after editing one runbook section | {b['template_s']:.2f} | "
        f"{', '.join(b['template_ran'])} |",
        f"| `doit` after changing only API_VERSION | {b['api_version_s']:.2f} | "
        f"{', '.join(b['api_version_ran'])} |",
    ]
    if "image_cold_s" in b:
        lines += [
            f"| image build, no cache (offline) | {b['image_cold_s']:.1f} | |",
            f"| image build, warm cache | {b['image_warm_s']:.1f} | |",
            "",
            f"Image `{b['image']}`: {b['image_size_mb']:.0f} MB; container start to "
            f"ready (median of 3): {b['container_ready_s']:.2f} s.",
        ]
    if results.get("profile"):
        lines += [
            "",
            "## Profile: where a /predict request's time goes (bento, 1 worker, c=8)",
            "",
            "py-spy samples of the worker under load (idle samples excluded). "
            "Inclusive share of selected layers, then the functions that use the CPU "
            "themselves.",
            "",
            "| Inclusive | Frame |",
            "|---|---|",
        ]
        lines += [f"| {share:.1f}% | `{frame}` |" for frame, share in results["profile"]["layers"]]
        lines += ["", "| Self | Function |", "|---|---|"]
        lines += [f"| {share:.1f}% | `{frame}` |" for frame, share in results["profile"]["self"]]
    for note in results.get("notes", []):
        lines += ["", note]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="duration of a load point")
    parser.add_argument(
        "--skip-build",
        action="store_true",
        help="serving only (the build section keeps its previous figures)",
    )
    args = parser.parse_args()
    deployment = ROOT / "artifacts" / "deployment"
    bento = json.loads((ROOT / "artifacts/deployment-build/bento.json").read_text())
    model_path = next((deployment / "model").iterdir())
    context = json.loads((ROOT / "artifacts/deployment-build/context.json").read_text())
    docker = subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_info(),
        "seconds": args.seconds,
        "workers": WORKERS,
        "notes": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        if args.skip_build:
            results["build"] = json.loads((BENCH / "results.json").read_text())["build"]
        else:
            print("build benchmarks", flush=True)
            results["build"] = build_benchmarks(Path(scratch) / "project", docker)
        image = results["build"].get("image")
        if not docker:
            results["notes"].append("No Docker daemon: container figures were not measured.")
        rng = np.random.default_rng(0)
        example = context["example_input"]
        records = [{**example, "age": int(rng.integers(18, 80))} for _ in range(1000)]
        names = [f["name"] for f in context["features"]]
        results["floor_in_process"] = in_process_floor(
            joblib.load(model_path), [float(example[n]) for n in names]
        )
        print("serving benchmarks", flush=True)
        all_subjects = subjects(
            deployment, bento["tag"], model_path, image, Path(scratch) / "bentoml_default_home"
        )
        for subject in all_subjects:
            measure(subject, records, args.seconds)
        print("profile", flush=True)
        results["profile"] = profile_ours(bento["tag"], example, args.seconds)
    results["serving"] = {s.name: s.results for s in all_subjects}
    results["targets"] = targets(results)
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (BENCH / "RESULTS.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
