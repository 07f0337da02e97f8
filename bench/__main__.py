"""``python -m bench`` (``doit bench``): run every benchmark, write results.json and RESULTS.md."""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import (
    build,
    families,
    floors,
    inference_log,
    load,
    profile,
    ray_serve,
    report,
    subjects,
    targets,
)

BENCH = Path(__file__).resolve().parent
LABELS = {"bentoml-onnx": targets.BENTO, "bentoml-native": "ours: BentoML runtime, scikit-learn",
          "uvicorn-onnx": targets.UVICORN, "uvicorn-native": "ours: uvicorn runtime, scikit-learn"}


def service_root(name: str, layout: Any) -> Path:
    """Where the entrypoint runs, as in the image: the bento's src/ or the deployment."""
    if name.startswith("bentoml"):
        return Path(json.loads(layout.bento_record.read_text())["path"]) / "src"
    return layout.deployment.resolve()


def churn_records(example: dict[str, Any], n: int = 1000) -> list[dict[str, Any]]:
    """Valid churn records around the example (ages vary, so nothing is cached)."""
    rng = np.random.default_rng(0)
    return [{**example, "age": int(rng.integers(18, 80))} for _ in range(n)]


def protocol_comparison(roots: dict[str, Path], layouts: dict[str, Any],
                        context: dict[str, Any], records: list[dict[str, Any]],
                        seconds: int) -> dict[str, Any]:
    """The Open Inference Protocol's infer against /predict/batch, 1,000 records each, on
    the same server, interleaved: records/s of both, per runtime."""
    infer = f"/v2/models/{context['model']['name']}/infer"
    routes = {"predict_batch": ("/predict/batch", subjects.records(records)),
              "infer": (infer, subjects.protocol_tensors(context["features"], records))}
    found = {}
    for name in ("bentoml-onnx", "uvicorn-onnx"):
        subject = subjects.ours(LABELS[name], roots[name], layouts[name].bento_store)
        compared = load.alternating_routes(subject, routes, seconds)
        found[LABELS[name]] = {route: {"records_per_s": figures["rps"] * len(records),
                                       "samples_rps": figures["samples"]}
                               for route, figures in compared.items()}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="duration of a load point")
    parser.add_argument("--skip-peers", action="store_true", help="ours and the floors only")
    args = parser.parse_args()
    docker = subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": report.machine_info(), "seconds": args.seconds,
        "workers": subjects.WORKERS, "notes": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        print("build benchmarks", flush=True)
        project = scratch / "project"
        results["build"] = build.doit_benchmarks(project)
        results["build"]["cli_noop_s"] = build.cli_noop(project)
        manifest = project / "artifacts" / "modeling" / "experiment_manifest.json"
        layouts = build.deployments(manifest, scratch / "runtimes")
        if docker:
            results["images"] = build.image_benchmarks(layouts)
        else:
            results["notes"].append("No Docker daemon: image figures were not measured.")
        context = json.loads(layouts["bentoml-onnx"].context_file.read_text())
        example = context["example_input"]
        records = churn_records(example)
        row = [float(example[f["name"]]) for f in context["features"]]
        gate = json.loads(layouts["bentoml-onnx"].gate_report.read_text())
        trained = Path(context["model_source"])
        results["floors"] = {
            "sklearn": floors.sklearn_floor(trained, row),
            "onnx": floors.onnx_floor(layouts["bentoml-onnx"].compiled_model, row,
                                      gate["gate"]["input_dtype"]),
        }
        roots = {name: service_root(name, layout) for name, layout in layouts.items()}
        ours = [subjects.ours(LABELS[name], roots[name], layout.bento_store)
                for name, layout in layouts.items()]
        # BentoML's own endpoints on the same build: one record per call, directly and
        # through BentoML's adaptive batching (which merges concurrent calls).
        store = layouts["bentoml-onnx"].bento_store
        for route, body in (("/bento/predict", subjects.single),
                            ("/bento/predict_adaptive", lambda r: {"records": [r]})):
            subject = subjects.ours(f"{targets.BENTO}, BentoML API {route}",
                                    roots["bentoml-onnx"], store)
            subject.predict_path, subject.predict_body = route, body
            subject.batch_path = subject.batch_body = None
            ours.append(subject)
        if docker:
            image = results["images"]["bentoml-onnx"]["image"]
            ours.append(subjects.Subject("ours: container (BentoML runtime, ONNX)", "ours",
                                         lambda: subjects.container(image, subjects.OURS_ENV)))
        others = [] if args.skip_peers else subjects.peers(trained, scratch)
        print("serving benchmarks", flush=True)
        for subject in [*ours, *others]:
            load.measure(subject, records, args.seconds)
        print("floor ratios, in turn", flush=True)
        results["against_floors"] = load.against_floors(
            {targets.BENTO: subjects.ours(targets.BENTO, roots["bentoml-onnx"], store),
             targets.UVICORN: subjects.ours(targets.UVICORN, roots["uvicorn-onnx"],
                                            layouts["uvicorn-onnx"].bento_store)},
            subjects.floor(), example, subjects.records(records),
            floors.sklearn_batch_rate(trained, row), args.seconds)
        print("drift cost", flush=True)
        on = subjects.ours("drift on", roots["bentoml-onnx"], store)
        off = subjects.ours("drift off", roots["bentoml-onnx"], store,
                            {"ENABLE_DRIFT_DETECTION": "false"})
        compared = load.alternating_rps({"on": on, "off": off}, example, args.seconds)
        results["drift_cost"] = {"on_rps": compared["on"]["rps"],
                                 "off_rps": compared["off"]["rps"],
                                 "on_samples": compared["on"]["samples"],
                                 "off_samples": compared["off"]["samples"]}
        print("inference log cost", flush=True)
        results["inference_log"] = inference_log.measure(
            roots["bentoml-onnx"], store, example, args.seconds, scratch / "inference-log")
        print("access log cost", flush=True)
        uvicorn_store = layouts["uvicorn-onnx"].bento_store
        on = subjects.ours("access log on", roots["uvicorn-onnx"], uvicorn_store)
        off = subjects.ours("access log off", roots["uvicorn-onnx"], uvicorn_store,
                            {"LOG_LEVEL": "warning"})
        compared = load.alternating_rps({"on": on, "off": off}, example, args.seconds)
        results["access_log_cost"] = {"on_rps": compared["on"]["rps"],
                                      "off_rps": compared["off"]["rps"]}
        print("open inference protocol", flush=True)
        results["protocol"] = protocol_comparison(roots, layouts, context, records,
                                                  args.seconds)
        print("ray serve", flush=True)
        results["ray_serve"] = ray_serve.measure(manifest, args.seconds, scratch / "ray")
        if docker:
            print("model families", flush=True)
            results["families"] = families.family_benchmarks(scratch / "families", args.seconds)
        print("profile", flush=True)
        results["profile"] = profile.profile(roots["bentoml-onnx"], store, example,
                                             args.seconds)
    results["serving"] = {s.name: {"kind": s.kind, **s.results} for s in [*ours, *others]}
    results["targets"] = targets.targets(results)
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (BENCH / "RESULTS.md").write_text(report.markdown(results))
    print(report.markdown(results))


if __name__ == "__main__":
    main()
