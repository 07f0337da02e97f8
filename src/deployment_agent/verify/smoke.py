"""Check a running service end to end: the last step of ``doit`` and of every deployment."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx

from ..contract.errors import DeploymentAgentError
from ..plan.context import Context
from ..plan.layout import Layout
from ..plan.planner import read_context
from ..plan.runtime import SERVING
from .server import ServiceProcess


class SmokeError(DeploymentAgentError):
    """The running service answered something it must not."""


def invalid_example(context: Context) -> dict[str, Any]:
    """The example input with its first feature given as a list (a type error everywhere)."""
    first = context.features[0].name
    return {**context.example_input, first: [context.example_input[first]]}


def check_service(base_url: str, context: Context) -> dict[str, Any]:
    """Exercise every endpoint once; return what was observed, raise on any failure."""
    problems: list[str] = []
    observed: dict[str, Any] = {}
    example = context.example_input

    def expect(response: httpx.Response, status: int, what: str) -> httpx.Response:
        observed[what] = response.status_code
        if response.status_code != status:
            problems.append(f"{what}: expected {status}, got {response.status_code} "
                            f"{response.text[:300]}")
        return response

    with httpx.Client(base_url=base_url, timeout=10.0) as client:
        expect(client.get("/health"), 200, "GET /health")
        ready = expect(client.get("/health/ready"), 200, "GET /health/ready")
        if ready.status_code == 200 and ready.json().get("model_version") != \
                context.model.version:
            problems.append(f"/health/ready reports {ready.json()}")
        one = expect(client.post("/predict", json=example), 200, "POST /predict")
        if one.status_code == 200:
            prediction = one.json()["prediction"]
            observed["prediction"] = prediction
            classes = context.model.classes
            if classes is not None and prediction not in classes:
                problems.append(f"/predict returned {prediction!r}, not one of {classes}")
            if classes is None and not (isinstance(prediction, float) and math.isfinite(
                    prediction)):
                problems.append(f"/predict returned {prediction!r}, not a finite number")
        bad = expect(client.post("/predict", json=invalid_example(context)), 422,
                     "POST /predict (invalid)")
        if bad.status_code == 422 and context.features[0].name not in bad.json()["message"]:
            problems.append("the 422 does not name the invalid field")
        batch = expect(client.post("/predict/batch", json={"records": [example] * 3}), 200,
                       "POST /predict/batch")
        if batch.status_code == 200 and batch.json()["count"] != 3:
            problems.append(f"/predict/batch returned {batch.json()['count']} predictions for 3")
        spec = expect(client.get("/openapi.json"), 200, "GET /openapi.json")
        if spec.status_code == 200:
            missing = [e.path for e in context.endpoints
                       if e.path not in ("/docs", "/openapi.json")
                       and e.path not in spec.json()["paths"]]
            if missing:
                problems.append(f"/openapi.json lacks {missing}")
        docs = expect(client.get("/docs"), 200, "GET /docs")
        if "cdn." in docs.text:
            problems.append("/docs loads assets from a CDN")
        metrics = expect(client.get("/metrics"), 200, "GET /metrics")
        if "http_requests_total" not in metrics.text:
            problems.append("/metrics lacks http_requests_total")
    if problems:
        raise SmokeError(f"service at {base_url} failed its checks:\n  - " +
                         "\n  - ".join(problems))
    return observed


def smoke(layout: Layout) -> str:
    """Serve the build with the image's entrypoint on a free port, check every endpoint,
    stop it and write the report."""
    bento = json.loads(layout.bento_record.read_text())
    context = read_context(layout)
    root = SERVING[context.runtimes.serving].service_root(layout.deployment.resolve(),
                                                          Path(bento["path"]))
    with ServiceProcess.entrypoint(root, layout.bento_store, {"WORKERS": "1"}) as server:
        try:
            seconds = server.wait_for("/health/ready", timeout=120)
        except (RuntimeError, TimeoutError) as exc:
            raise SmokeError(f"{bento['tag']} did not become ready: {exc}") from None
        observed = check_service(server.base_url, context)
    report = {"tag": bento["tag"], "ready_seconds": round(seconds, 2), "observed": observed}
    layout.smoke_report.write_text(json.dumps(report, indent=2) + "\n")
    return (f"{bento['tag']} served from {root} and checked: ready in {seconds:.1f} s, "
            f"{len(observed)} checks passed")
