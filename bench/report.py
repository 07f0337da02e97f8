"""RESULTS.md from one run's figures: targets first, then every table they come from."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .targets import FLOOR, SHARES

LIBRARIES = ("bentoml", "fastapi", "uvicorn", "pydantic", "msgspec", "scikit-learn",
             "onnxruntime", "numpy", "doit")


def machine_info() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "libraries": {name: version(name) for name in LIBRARIES},
            "wrk": (wrk.stdout or wrk.stderr).split("\n")[0].strip()}


def _targets(results: dict[str, Any]) -> list[str]:
    lines = ["## Targets", "", "| Target | Value | Goal | Met |", "|---|---|---|---|"]
    for t in results["targets"]:
        lines.append(f"| {t['target']} | {t['value']} {t['unit']} | {t['goal']} {t['unit']} | "
                     f"{t['verdict']} |")
    return lines


def _serving(results: dict[str, Any]) -> list[str]:
    floors = results["floors"]
    lines = ["", "## Serving: POST /predict (1 record)", ""]
    for name, f in floors.items():
        label = {"sklearn": "scikit-learn", "onnx": "ONNX Runtime"}[name]
        lines.append(f"- In-process {label} (no HTTP, no validation): 1 row p50 "
                     f"{f['p50_ms']:.3f} ms, p99 {f['p99_ms']:.3f} ms; 1,000 rows "
                     f"{f['records_per_s_1000']:.0f} records/s.")
    lines += ["", "| Server | c=1 req/s | c=1 p50 ms | c=8 req/s | c=8 p50 / p99 ms | "
              "c=32 req/s | c=32 p99 ms | errors |", "|---|---|---|---|---|---|---|---|"]
    for name, r in results["serving"].items():
        c1, c8, c32 = r["predict_c1"], r["predict_c8"], r["predict_c32"]
        errors = sum(v.get("errors", 0) + v.get("socket_errors", 0) for v in r.values()
                     if isinstance(v, dict))
        lines.append(f"| {name} | {c1['rps']:.0f} | {c1['p50_ms']:.2f} | {c8['rps']:.0f} | "
                     f"{c8['p50_ms']:.2f} / {c8['p99_ms']:.2f} | {c32['rps']:.0f} | "
                     f"{c32['p99_ms']:.2f} | {errors:.0f} |")
    sklearn = floors["sklearn"]["records_per_s_1000"]
    lines += ["", "## Serving: POST /predict/batch (concurrency 8)", "",
              "| Server | 10 records: records/s | 100 | 1000 | 1000 vs in-process scikit-learn |",
              "|---|---|---|---|---|"]
    for name, r in results["serving"].items():
        if "batch10_c8" in r:
            per_s = [r[f"batch{n}_c8"]["records_per_s"] for n in (10, 100, 1000)]
            lines.append(f"| {name} | {per_s[0]:.0f} | {per_s[1]:.0f} | {per_s[2]:.0f} | "
                         f"{per_s[2] / sklearn:.2f}x |")
    for name, r in results["serving"].items():
        for key, probe in (("health", "/health"), ("ready", "/health/ready")):
            if f"{key}_under_load" in r:
                h = r[f"{key}_under_load"]
                lines.append(f"\n{name}: `{probe}` under /predict load at c=8: p50 "
                             f"{h['p50_ms']:.2f} ms, p99 {h['p99_ms']:.2f} ms.")
    if "drift_cost" in results:
        cost = results["drift_cost"]
        rounds = ", ".join(f"{on:.0f}/{off:.0f}" for on, off in
                           zip(cost.get("on_samples", []), cost.get("off_samples", []),
                               strict=True))
        lines.append(f"\nDrift monitoring (BentoML runtime, ONNX, c=8, both servers up, "
                     f"loaded in turn, medians): {cost['on_rps']:.0f} req/s on, "
                     f"{cost['off_rps']:.0f} req/s off (rounds on/off: {rounds}).")
    if "inference_log" in results:
        log = results["inference_log"]
        single, batch = log["single"], log["batch"]
        lines += ["", "## The inference log and feedback (BentoML runtime, ONNX, c=8)", "",
                  f"Three servers of one build, loaded in turn ({len(single['off']['samples'])}"
                  f" rounds; measured {log.get('measured_at', 'with the run')} UTC): the log "
                  "off, on (JSON Lines, every record), and on beside a dead CloudEvents sink.",
                  "", "| Server | /predict req/s (median) | share of off | /predict/batch "
                  "of 1,000 records/s | share of off |", "|---|---|---|---|---|"]
        ratios = {"off": (1.0, 1.0), "on": (log["ratios"]["single_on"],
                                            log["ratios"]["batch_on"]),
                  "dead_sink": (log["ratios"]["single_dead_sink"],
                                log["ratios"]["batch_dead_sink"])}
        lines += [f"| {name} | {single[name]['rps']:.0f} | {ratios[name][0]:.1%} | "
                  f"{batch[name]['records_per_s']:.0f} | {ratios[name][1]:.1%} |"
                  for name in single]
        lines.append(f"\n`/feedback` of 1,000 outcomes: {log['feedback']['outcomes_per_s']:.0f}"
                     f" outcomes/s (median of {len(log['feedback']['call_ms'])} calls; each "
                     f"call in ms: {', '.join(map(str, log['feedback']['call_ms']))}).")
    if "access_log_cost" in results:
        cost = results["access_log_cost"]
        lines.append(f"\nAccess log (uvicorn runtime, ONNX, c=8, alternated as above): "
                     f"{cost['on_rps']:.0f} req/s with LOG_LEVEL=info (the default: one JSON "
                     f"line per request), {cost['off_rps']:.0f} req/s with LOG_LEVEL=warning.")
    for name, routes in results.get("protocol", {}).items():
        infer, batch = routes["infer"], routes["predict_batch"]
        lines.append(f"\n{name}: Open Inference Protocol `/v2/models/.../infer` of 1,000 "
                     f"records (one input per feature) {infer['records_per_s']:.0f} records/s, "
                     f"`/predict/batch` of the same records {batch['records_per_s']:.0f} "
                     "records/s (c=8, same server, loaded in turn, medians).")
    return lines


def _figure(point: dict[str, float], key: str, digits: int) -> str:
    """A figure of a load point, or a dash where it was not measured."""
    return f"{point[key]:.{digits}f}" if key in point else "—"


def _cpu(results: dict[str, Any]) -> list[str]:
    """Server CPU per request at c=8, and what each ratio target leaves per request."""
    serving = results["serving"]
    metered = {name: r for name, r in serving.items()
               if "server_cpu_us" in r["predict_c8"]}
    if not metered:
        return []
    lines = ["", "## Server CPU per request (c=8)", "",
             "CPU seconds of the server's processes (supervisor and workers) during the load "
             "point, divided by the requests answered (by the records, for batches); cores: "
             "that CPU time over the point's wall time (the rest of the 2 cores is wrk's and "
             "the kernel's).", "",
             "| Server | /predict µs per request | cores | /health alone µs per request | "
             "batch of 1000: µs per record | cores |", "|---|---|---|---|---|---|"]
    for name, r in metered.items():
        c8, health = r["predict_c8"], r.get("health_c8", {})
        batch = r.get("batch1000_c8", {})
        cells = [_figure(c8, "server_cpu_us", 1), _figure(c8, "server_cores", 2),
                 _figure(health, "server_cpu_us", 1), _figure(batch, "server_cpu_us", 2),
                 _figure(batch, "server_cores", 2)]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    floor = serving.get(FLOOR, {}).get("predict_c8", {})
    sklearn = results["floors"]["sklearn"]["records_per_s_1000"]
    for ours, (in_process, on_floor) in SHARES.items():
        r = metered.get(ours)
        if r is None or "server_cpu_us" not in floor:
            continue
        c8, batch = r["predict_c8"], r["batch1000_c8"]
        budget = c8["server_cores"] / (on_floor * floor["rps"]) * 1e6
        per_record = batch["server_cores"] / (in_process * sklearn) * 1e6
        lines.append(
            f"\n{ours}: {on_floor:.0%} of the floor ({on_floor * floor['rps']:.0f} req/s) on "
            f"the {c8['server_cores']:.2f} cores it gets leaves {budget:.1f} µs of CPU per "
            f"request; it spends {c8['server_cpu_us']:.1f} µs, of which "
            f"{r['health_c8']['server_cpu_us']:.1f} µs is `/health` alone (HTTP, middleware, "
            f"no prediction), against the floor's {floor['server_cpu_us']:.1f} µs. A batch "
            f"of 1,000 at {in_process:.0%} of in-process scikit-learn on "
            f"{batch['server_cores']:.2f} cores leaves {per_record:.2f} µs per record; it "
            f"spends {batch['server_cpu_us']:.2f} µs (in-process scikit-learn: "
            f"{1e6 / sklearn:.2f} µs per record, one core).")
    return lines


def _in_turn(results: dict[str, Any]) -> list[str]:
    """The floor-ratio targets' rounds: each of ours loaded in turn with its baselines."""
    found = results.get("against_floors")
    if not found:
        return []
    lines = ["", "## Floor ratios, loaded in turn", "",
             "Each of ours runs alone beside the constant floor. Every round loads the floor "
             "at c=8, times in-process scikit-learn on 1,000 rows (median of 50 calls), then "
             "loads ours with single records and with batches of 1,000 at c=8; a target's "
             "ratio is the median of its rounds' ratios, so that a slow moment of the machine "
             "falls on both sides of it.", "",
             "| Server | Round | floor req/s | in-process records/s | single req/s | "
             "batch records/s | single / floor | batch / in-process |",
             "|---|---|---|---|---|---|---|---|"]
    for name, samples in found["samples"].items():
        for i, floor in enumerate(samples["floor"]):
            single, batch = samples["single"][i], samples["batch"][i]
            in_process = samples["in_process"][i]
            lines.append(f"| {name} | {i + 1} | {floor:.0f} | {in_process:.0f} | "
                         f"{single:.0f} | {batch:.0f} | {single / floor:.1%} | "
                         f"{batch / in_process:.1%} |")
    for name, ratio in found["ratios"].items():
        lines.append(f"\n{name}: single records {ratio['single_of_floor']:.1%} of the floor, "
                     f"batches of 1,000 {ratio['batch_of_in_process']:.1%} of in-process "
                     "scikit-learn (medians of the rounds' ratios).")
    return lines


def _build(results: dict[str, Any]) -> list[str]:
    b = results["build"]
    lines = ["", "## Build", "", "| Step | Seconds | Tasks run |", "|---|---|---|",
             f"| cold `doit bento` (train, validate, compile, generate, bento) | "
             f"{b['cold_s']:.2f} | {', '.join(b['cold_ran'])} |",
             f"| no-op `doit` (median of {b['noop_runs']}) | {b['noop_s']:.3f} | "
             f"{', '.join(b['noop_ran']) or 'none'} |",
             f"| floor: no-op `doit` with a one-task dodo.py, same runs (median) | "
             f"{b.get('floor_s', float('nan')):.3f} | none |",
             f"| no-op `deployment-agent deploy` (median of {b['noop_runs']}) | "
             f"{b['cli_noop_s']:.3f} | none |",
             f"| `doit` after editing one runbook section | {b['template_s']:.2f} | "
             f"{', '.join(b['template_ran'])} |",
             f"| `doit` after changing only API_VERSION | {b['api_version_s']:.2f} | "
             f"{', '.join(b['api_version_ran'])} |"]
    images = results.get("images")
    if images:
        lines += ["", "| Image (churn) | Size MB | Offline build s | Start to ready s (median "
                  "of 3) |", "|---|---|---|---|"]
        lines += [f"| {name} | {i['size_mb']:.0f} | {i['build_s']:.1f} | {i['ready_s']:.2f} |"
                  for name, i in images.items()]
    return lines


def _families(results: dict[str, Any]) -> list[str]:
    families = results.get("families")
    if not families:
        return []
    lines = ["", "## Model families: each one's image (BentoML runtime, defaults)", "",
             "| Family | Served by | Image MB | Start to ready s | Memory MB | /predict c=8 "
             "req/s | p50 ms | Measured (UTC) |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {name.rsplit(' ', 1)[0]} | {f['runtime']} | {f['image_mb']:.0f} | "
              f"{f['ready_s']:.2f} | {f['memory_mb']:.0f} | {f['predict_c8_rps']:.0f} | "
              f"{f['p50_ms']:.2f} | {f.get('measured_at', 'with the run')} |"
              for name, f in families.items()]
    return lines


def _profile(results: dict[str, Any]) -> list[str]:
    profile = results.get("profile")
    if not profile:
        return []
    lines = ["", "## Profile: where a /predict request's time goes (BentoML runtime, ONNX, "
             "1 worker, c=8)", "", "py-spy samples of the worker under load (idle samples "
             "excluded): inclusive share of selected layers, then the functions that use the "
             "CPU themselves.", "", "| Inclusive | Frame |", "|---|---|"]
    lines += [f"| {share:.1f}% | `{frame}` |" for frame, share in profile["layers"]]
    lines += ["", "| Self | Function |", "|---|---|"]
    lines += [f"| {share:.1f}% | `{frame}` |" for frame, share in profile["self"]]
    return lines


def _ray(results: dict[str, Any]) -> list[str]:
    """Ray Serve's section: each proxy mode against our uvicorn runtime, replicas, memory."""
    if "ray_serve" not in results:
        return []
    ray = results["ray_serve"]
    lines = ["", "## Ray Serve (uvicorn runtime's app, ONNX, a two-node cluster on loopback)",
             "", f"Measured {ray.get('measured_at', 'with the run')} UTC. Each proxy mode got "
             "its own two-node cluster started with its generated cluster.env; the service "
             "was deployed with 2 replicas by the deploy command and loaded at c=8 in turn "
             "with our uvicorn runtime (2 workers) started beside it; each share is the "
             "median of the rounds' ratios. Every node's environment was made from the "
             f"generated requirements.txt in {ray['node_environment_s']:.0f} s.", "",
             "| Proxy mode | /predict req/s (median) | uvicorn req/s | share of uvicorn | "
             "cluster start | deploy | nodes' RSS idle | with 2 replicas |",
             "|---|---|---|---|---|---|---|---|"]
    for proxy, mode in ray["modes"].items():
        default = " (the generated default)" if proxy == ray["default_proxy"] else ""
        lines.append(f"| {proxy}{default} | {mode['rps']:.0f} | {mode['uvicorn_rps']:.0f} | "
                     f"{mode['of_uvicorn']:.1%} | {mode['cluster_start_s']:.1f} s | "
                     f"{mode['deploy_s']:.1f} s | {mode['idle_rss_mib']:.0f} MiB | "
                     f"{mode['rss_mib_2_replicas']:.0f} MiB |")
    replicas = ray["modes"][ray["default_proxy"]]["replicas"]
    rounds = ", ".join(f"{one:.0f}/{two:.0f}" for one, two in
                       zip(replicas["samples"]["1"], replicas["samples"]["2"], strict=True))
    lines.append(f"\n2 replicas against 1 ({ray['default_proxy']} proxy): "
                 f"{replicas['two_of_one']:.2f}x (rounds, req/s with 1/2: {rounds}).")
    return lines


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = ["# Benchmark results", "",
             f"Run {results['date']} on {m['cpu']}, {m['cores']} cores, Python {m['python']}; "
             f"{', '.join(f'{k} {v}' for k, v in m['libraries'].items())}; load by {m['wrk']} "
             f"(closed loop, {results['seconds']} s a point, {results['workers']} workers per "
             "server, client and server on the same machine).", "",
             *_targets(results), *_in_turn(results), *_serving(results), *_cpu(results),
             *_build(results), *_ray(results),
             *_families(results), *_profile(results)]
    for note in results.get("notes", []):
        lines += ["", note]
    return "\n".join(lines) + "\n"
