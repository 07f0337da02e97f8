"""Build benchmarks: cold, no-op and incremental doit runs, and our images.

A scratch project (the examples, the config, a copy of the templates) is built with the
repository's dodo.py, as a developer would; then the churn example is generated in every
runtime (serving bentoml/uvicorn x model onnx/native), and, with Docker, the images are
built offline and started with their default settings.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from deployment_agent import run_deployment_agent
from deployment_agent.package import image as package_image
from deployment_agent.package.base_image import ensure_base_image
from deployment_agent.package.bento import build as build_bento
from deployment_agent.package.wheelhouse import build_for as build_wheelhouse
from deployment_agent.plan.layout import Layout, layout_for
from deployment_agent.resources import TEMPLATES_ENV, runbook_dir, templates_dir
from deployment_agent.verify.server import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
NOOP_RUNS = 21
RUNTIMES = {"bentoml-onnx": {"runtime": "bentoml", "model_runtime": "onnx"},
            "bentoml-native": {"runtime": "bentoml", "model_runtime": "native"},
            "uvicorn-onnx": {"runtime": "uvicorn", "model_runtime": "onnx"},
            "uvicorn-native": {"runtime": "uvicorn", "model_runtime": "native"}}


FLOOR_DODO = '''"""One task that is always up to date: what doit costs before any of our work."""


def task_nothing():
    return {"actions": [], "uptodate": [True]}
'''


def user_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment as a user's shell has it: Python writes its bytecode cache (this
    machine sets PYTHONDONTWRITEBYTECODE, which recompiles dodo.py and our modules on
    every run)."""
    env = {**os.environ, **(extra or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def doit(project: Path, env: dict[str, str], *args: str, dodo: Path = ROOT / "dodo.py"
         ) -> tuple[float, list[str]]:
    """Seconds of one ``doit`` run in ``project``, and the tasks it executed."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "doit", "-f", str(dodo), "-d",
                             str(project), *args], env=user_env(env),
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"doit {args} failed:\n{result.stdout}{result.stderr}")
    return seconds, [line[3:].strip() for line in result.stdout.splitlines()
                     if line.startswith(".  ")]


def doit_benchmarks(project: Path) -> dict[str, Any]:
    """Cold build, no-op (median of many), one template edited, one setting changed."""
    shutil.copytree(ROOT / "examples", project / "examples",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "config", project / "config")
    templates = project / "templates"
    shutil.copytree(templates_dir(), templates)
    shutil.copytree(runbook_dir(), templates / "runbook")
    env = {TEMPLATES_ENV: str(templates), "REGISTRY": "bench",
           "PYTHONPATH": os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")])}
    doit(project, env, "train_example")
    out: dict[str, Any] = {}
    out["cold_s"], out["cold_ran"] = doit(project, env, "bento")
    doit(project, env)  # the rest of the default tasks (smoke)
    # The floor: doit itself, in this environment, with a dodo.py of one up-to-date task,
    # run alternately with ours so that both see the same machine.
    floor = project / "floor"
    floor.mkdir()
    (floor / "dodo.py").write_text(FLOOR_DODO)
    noops, floors = [], []
    for _ in range(NOOP_RUNS):
        noops.append(doit(project, env))
        floors.append(doit(floor, env, dodo=floor / "dodo.py")[0])
    out["noop_s"] = statistics.median(seconds for seconds, _ in noops)
    out["floor_s"] = statistics.median(floors)
    out["noop_ran"] = sorted({task for _, ran in noops for task in ran})
    out["noop_runs"] = NOOP_RUNS
    # generate forgotten, then run twice: the first run generates, the second does nothing.
    doit(project, env, "forget", "generate")
    out["generate_twice_ran"] = [doit(project, env, "generate")[1] for _ in range(2)]
    section = templates / "runbook" / "07_contacts.md.j2"
    section.write_text(section.read_text() + "- Escalation: the head of data science\n")
    out["template_s"], out["template_ran"] = doit(project, env)
    out["api_version_s"], out["api_version_ran"] = doit(project, {**env, "API_VERSION": "1.1.0"})
    return out


def cli_noop(project: Path) -> float:
    """Median seconds of a second ``deployment-agent deploy`` (nothing to do)."""
    manifest = project / "artifacts" / "modeling" / "experiment_manifest.json"
    command = [sys.executable, "-m", "deployment_agent", "deploy", str(manifest),
               "--build-dir", str(project / "cli-build"), "--output", str(project / "cli")]
    subprocess.run(command, check=True, capture_output=True, cwd=project, env=user_env())
    runs = []
    for _ in range(NOOP_RUNS):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=project, env=user_env())
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def deployments(manifest: Path, scratch: Path) -> dict[str, Layout]:
    """The churn example generated and bundled in every runtime."""
    layouts = {}
    for name, options in RUNTIMES.items():
        out, _ = run_deployment_agent(manifest, output_dir=scratch / name,
                                      registry="bench", api_version=name, **options)
        layout = layout_for(manifest, out)
        build_bento(layout)
        layouts[name] = layout
    return layouts


def image_benchmarks(layouts: dict[str, Layout]) -> dict[str, Any]:
    """Each runtime's image built offline; its size and start-to-ready (median of 3)."""
    out: dict[str, Any] = {}
    for name, layout in layouts.items():
        context = json.loads(layout.context_file.read_text())
        ensure_base_image(context["image"]["base_image"])
        build_wheelhouse(layout)
        record = package_image.build(layout)
        starts = []
        for _ in range(3):
            port = free_port()
            started = time.perf_counter()
            cid = subprocess.run(["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8000",
                                  record.image], capture_output=True, text=True,
                                 check=True).stdout.strip()
            wait_until(f"http://127.0.0.1:{port}", "/health/ready", timeout=60)
            starts.append(time.perf_counter() - started)
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
        out[name] = {"image": record.image, "size_mb": record.size_bytes / 1e6,
                     "build_s": record.build_seconds,
                     "ready_s": statistics.median(starts), "ready_runs": starts}
        print(f"  image {name}: {out[name]['size_mb']:.0f} MB, ready in "
              f"{out[name]['ready_s']:.2f} s", flush=True)
    return out
