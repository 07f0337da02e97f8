"""The inference log's cost on serving, and feedback's speed, in one run.

The same build (the churn service, BentoML runtime, ONNX) is started three times: without
the log, with it on (JSON Lines files, every record), and with it on beside a dead
CloudEvents sink (a URL where nothing listens). They are loaded in turn (``/predict`` at
c=8, then ``/predict/batch`` of 1,000 records at c=8), so that a slow moment of the
machine falls on every side, and each ratio is the median of the rounds'. There are
ROUNDS rounds of half a load point each: this machine's speed drifts by up to 40% from
one round to the next (measured, with nothing else running), and more, shorter pairs give
a steadier median than five long ones. Then 20 calls of
``/feedback`` with 1,000 outcomes each (for predictions just served) are timed on the
server with the log on.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from deployment_agent.verify.server import free_port

from . import load, subjects

ROUNDS = 10
BATCH = 1000
FEEDBACK_CALLS = 20


def feedback_rate(base_url: str, record: dict[str, Any]) -> dict[str, Any]:
    """Outcomes per second of /feedback, 1,000 per call (median of FEEDBACK_CALLS calls),
    for predictions served just before under known request ids."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        answers = []
        for j in range(FEEDBACK_CALLS):
            served = client.post("/predict/batch", json={"records": [record] * BATCH},
                                 headers={"X-Request-ID": f"feedback-bench-{j}"})
            served.raise_for_status()
            answers.append(served.json()["predictions"])
        time.sleep(1.0)  # every worker's writer has stored its predictions
        seconds = []
        for j, predictions in enumerate(answers):
            body = {"outcomes": [{"prediction_id": f"feedback-bench-{j}-{i}",
                                  "outcome": p["prediction"]}
                                 for i, p in enumerate(predictions)]}
            started = time.perf_counter()
            client.post("/feedback", json=body).raise_for_status()
            seconds.append(time.perf_counter() - started)
    return {"outcomes_per_s": BATCH / statistics.median(seconds),
            "call_ms": [round(1000 * s, 2) for s in seconds]}


def measure(service_root: Path, store: Path, record: dict[str, Any], seconds: float,
            scratch: Path) -> dict[str, Any]:
    """The log's cost (single records and batches, with files and with a dead sink) and
    feedback's outcomes per second."""
    on = {"INFERENCE_LOG_ENABLED": "true"}
    servers = {
        "off": subjects.ours("log off", service_root, store),
        "on": subjects.ours("log on: JSON Lines, every record", service_root, store,
                            {**on, "INFERENCE_LOG_DIR": str(scratch / "on")}),
        "dead_sink": subjects.ours(
            "log on, beside a dead CloudEvents sink", service_root, store,
            {**on, "INFERENCE_LOG_DIR": str(scratch / "dead"),
             "INFERENCE_LOG_URL": f"http://127.0.0.1:{free_port()}/"}),
    }
    batch = {"records": [record] * BATCH}
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(s.start()) for name, s in servers.items()}
        single = load.interleaved({n: (u + "/predict", record) for n, u in urls.items()},
                                  seconds / 2, ROUNDS)
        batches = load.interleaved({n: (u + "/predict/batch", batch)
                                    for n, u in urls.items()}, seconds / 2, ROUNDS)
        feedback = feedback_rate(urls["on"], record)

    def ratio(figures: dict[str, Any], side: str) -> float:
        """The median over rounds of ``side``'s share of the log-off server's rate."""
        return statistics.median(s / o for s, o in zip(figures[side]["samples"],
                                                        figures["off"]["samples"],
                                                        strict=True))

    return {
        "single": {name: {"rps": f["rps"], "samples": f["samples"]}
                   for name, f in single.items()},
        "batch": {name: {"records_per_s": f["rps"] * BATCH,
                         "samples_rps": f["samples"]} for name, f in batches.items()},
        "ratios": {"single_on": ratio(single, "on"), "single_dead_sink": ratio(single,
                                                                               "dead_sink"),
                   "batch_on": ratio(batches, "on"), "batch_dead_sink": ratio(batches,
                                                                              "dead_sink")},
        "feedback": feedback,
    }


def main() -> None:
    """Measure the inference log alone on a fresh churn build (see ``alone``)."""
    import argparse
    import json
    import tempfile

    from deployment_agent import run_deployment_agent
    from deployment_agent.package.bento import build as build_bento
    from deployment_agent.plan.layout import layout_for

    from . import alone

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-log-") as folder:
        scratch = Path(folder)
        manifest = alone.trained_churn(scratch)
        out, _ = run_deployment_agent(manifest, output_dir=scratch / "deployment",
                                      registry="bench", model_runtime="onnx")
        layout = layout_for(manifest, out)
        build_bento(layout)
        bento = Path(json.loads(layout.bento_record.read_text())["path"]) / "src"
        context = json.loads(layout.context_file.read_text())
        figures = measure(bento, layout.bento_store, context["example_input"], args.seconds,
                          scratch)
    figures["measured_at"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    alone.merge("inference_log", figures)
    print(json.dumps(figures["ratios"], indent=2), figures["feedback"]["outcomes_per_s"])


if __name__ == "__main__":
    main()
