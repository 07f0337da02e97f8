"""Every benchmark target of the issues, met or missed, from one run's figures."""

from __future__ import annotations

from typing import Any

BENTO = "ours: BentoML runtime, ONNX"
UVICORN = "ours: uvicorn runtime, ONNX"
DEFAULT = "BentoML default service (@bentoml.api)"
HANDWRITTEN = "hand-written FastAPI + uvicorn"


def target(what: str, value: float, goal: float, higher: bool, unit: str,
           verdicts: tuple[str, str] = ("met", "MISSED")) -> dict[str, Any]:
    """One target: met when ``value`` is on the right side of ``goal``. A comparison the
    issues ask to report either way names its own verdicts."""
    met = value >= goal if higher else value <= goal
    return {"target": what, "value": round(value, 3), "goal": round(goal, 3), "unit": unit,
            "met": met, "verdict": verdicts[0] if met else verdicts[1]}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    serving, build = results["serving"], results["build"]
    rps = {name: r["predict_c8"]["rps"] for name, r in serving.items()}
    floor = results["floors"]["sklearn"]["records_per_s_1000"]
    peers = [name for name, r in serving.items()
             if r["kind"] == "peer" and "batch1000_c8" in r]
    found = [
        target("no-op `doit` <= 0.3 s (median)", build["noop_s"], 0.3, False, "s"),
        target("`doit generate` twice: the second run does nothing (tasks it ran; the "
               f"first ran {', '.join(build['generate_twice_ran'][0]) or 'nothing'})",
               float(len(build["generate_twice_ran"][1])), 0.0, False, "tasks"),
        target("bento /predict >= 2.5x BentoML's default service (c=8)", rps[BENTO],
               2.5 * rps[DEFAULT], True, "req/s"),
        target("bento /predict >= 1.5x the hand-written FastAPI app (c=8)", rps[BENTO],
               1.5 * rps[HANDWRITTEN], True, "req/s"),
        target("uvicorn runtime /predict >= 3x the hand-written FastAPI app (c=8)",
               rps[UVICORN], 3 * rps[HANDWRITTEN], True, "req/s"),
    ]
    for ours in (BENTO, UVICORN):
        batch = serving[ours]["batch1000_c8"]["records_per_s"]
        found += [
            target(f"{ours}: /predict/batch 1000 >= 80% of in-process scikit-learn records/s",
                   batch, 0.8 * floor, True, "records/s"),
            target(f"{ours}: /predict/batch 1000 ahead of every peer", batch,
                   max(serving[p]["batch1000_c8"]["records_per_s"] for p in peers), True,
                   "records/s"),
            target(f"{ours}: /health p99 <= 5 ms under /predict load (c=8)",
                   serving[ours]["health_under_load"]["p99_ms"], 5.0, False, "ms"),
        ]
    adaptive = f"{BENTO}, BentoML API /bento/predict_adaptive"
    direct = f"{BENTO}, BentoML API /bento/predict"
    if adaptive in rps:
        found.append(target("BentoML's adaptive batching, single records at c=8, vs the same "
                            "API without it (a comparison, reported either way)",
                            rps[adaptive], rps[direct], True, "req/s",
                            ("wins", "loses (not used by /predict)")))
    if "drift_cost" in results:
        cost = results["drift_cost"]
        found.append(target("drift monitoring costs <= 5% of /predict throughput (c=8)",
                            100 * (1 - cost["on_rps"] / cost["off_rps"]), 5.0, False, "%"))
    images = results.get("images", {})
    if images:
        found += [
            target("churn image with the BentoML runtime <= 250 MB",
                   images["bentoml-onnx"]["size_mb"], 250, False, "MB"),
            target("churn image with the uvicorn runtime <= 200 MB",
                   images["uvicorn-onnx"]["size_mb"], 200, False, "MB"),
            target("container start to ready <= 5 s (default settings, BentoML runtime)",
                   images["bentoml-onnx"]["ready_s"], 5.0, False, "s"),
            target("container start to ready <= 5 s (default settings, uvicorn runtime)",
                   images["uvicorn-onnx"]["ready_s"], 5.0, False, "s"),
        ]
    return found
