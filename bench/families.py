"""Every model family served from its real image: size, start to ready, memory, throughput.

Each family of :mod:`examples.families` is deployed twice where it can be, as ONNX (the
verified conversion) and natively (its own library), with the BentoML runtime and its
defaults; each image is built offline and run; the figures are the image's size, the
seconds from ``docker run`` to ``/health/ready`` answering 200, the container's memory
(its cgroup's, after the load) and ``/predict`` requests per second at concurrency 8.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from deployment_agent import run_deployment_agent
from deployment_agent.package import image as package_image
from deployment_agent.package.base_image import ensure_base_image
from deployment_agent.package.bento import build as build_bento
from deployment_agent.package.wheelhouse import build_for as build_wheelhouse
from deployment_agent.plan.layout import layout_for
from deployment_agent.verify import loadgen
from deployment_agent.verify.server import free_port, wait_until
from examples.families import train

# family -> the model runtimes it is measured with
FAMILIES = {"xgboost-json": ("onnx", "native"), "lightgbm-text": ("onnx", "native"),
            "catboost-cbm": ("onnx", "native"), "xgboost-pickle": ("onnx", "native"),
            "onnx-file": ("onnx",), "isolation-forest": ("onnx", "native"),
            "neighbours": ("native",), "hist-gradient-boosting": ("onnx", "native"),
            "lightgbm-multiclass": ("onnx", "native")}


def memory_mb(container: str) -> float:
    """The container's memory use (MB), as its cgroup counts it."""
    stats = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{json .}}",
                            container], capture_output=True, text=True, check=True).stdout
    used = json.loads(stats)["MemUsage"].split("/")[0].strip()
    value, unit = float(used[:-3]), used[-3:]
    return value * {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0}[unit]


def measure(name: str, runtime: str, scratch: Path, seconds: float) -> dict[str, Any]:
    case = train(name, scratch / f"{name}-{runtime}" / "modeling")
    _, record = run_deployment_agent(case.manifest, registry="bench-families",
                                     model_runtime=runtime, api_version=f"{runtime}-1")
    layout = layout_for(case.manifest)
    context = json.loads(layout.context_file.read_text())
    ensure_base_image(context["image"]["base_image"])
    build_bento(layout)
    build_wheelhouse(layout)
    image = package_image.build(layout)
    port = free_port()
    started = time.perf_counter()
    container = subprocess.run(["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8000",
                                image.image], capture_output=True, text=True,
                               check=True).stdout.strip()
    try:
        url = f"http://127.0.0.1:{port}"
        ready = wait_until(url, "/health/ready", timeout=120)
        ready_s = time.perf_counter() - started
        body = {"query": context["example_input"]} if case.task == "recommendation" \
            else context["example_input"]
        loadgen.run(url + "/predict", 8, 2, body)  # warm-up
        load = loadgen.run(url + "/predict", 8, seconds, body)
        rss = memory_mb(container)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
    assert ready >= 0 and load["errors"] == 0, load
    result = {"runtime": record["runtimes"]["model"], "image_mb": image.size_bytes / 1e6,
              "ready_s": ready_s, "memory_mb": rss, "predict_c8_rps": load["rps"],
              "p50_ms": load["p50_ms"], "requirements": len(record["model"]["requirements"]),
              "measured_at": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    print(f"  {name} ({result['runtime']}): {result['image_mb']:.0f} MB, ready in "
          f"{ready_s:.1f} s, {rss:.0f} MB, {load['rps']:.0f} req/s", flush=True)
    return result


def family_benchmarks(scratch: Path, seconds: float) -> dict[str, Any]:
    """Every family's images, measured in turn."""
    return {f"{name} {runtime}": measure(name, runtime, scratch, seconds)
            for name, runtimes in FAMILIES.items() for runtime in runtimes}


def main() -> None:
    """Measure every family (or ``--only`` some) and write ``families.json``; with
    ``--only``, the rows measured also replace theirs in ``results.json`` and RESULTS.md
    is written again from it (the other rows keep the run they came from)."""
    import argparse
    import tempfile

    from . import report

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--only", nargs="*", choices=sorted(FAMILIES), default=None)
    args = parser.parse_args()
    chosen = {n: r for n, r in FAMILIES.items() if args.only is None or n in args.only}
    with tempfile.TemporaryDirectory(prefix="bench-families-") as folder:
        figures = {f"{name} {runtime}": measure(name, runtime, Path(folder), args.seconds)
                   for name, runtimes in chosen.items() for runtime in runtimes}
    bench = Path(__file__).resolve().parent
    if args.only is not None:
        results = json.loads((bench / "results.json").read_text())
        results["families"] = {**results.get("families", {}), **figures}
        (bench / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (bench / "RESULTS.md").write_text(report.markdown(results))
        figures = results["families"]
    out = bench / "families.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
