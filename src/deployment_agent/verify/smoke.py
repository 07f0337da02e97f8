"""Check a running service end to end: the last step of ``doit`` and of every deployment."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import httpx

from ..contract.errors import DeploymentAgentError
from ..generate.files import staging_dir, swap_in
from ..plan import records
from ..plan.context import Context
from ..plan.layout import Layout
from ..plan.planner import read_context
from ..plan.runtime import SERVING
from .environment import interpreter
from .server import ServiceProcess

# What /health/ready says before the first load attempt has finished.
STARTING = ("model not loaded yet", "loading")


class SmokeError(DeploymentAgentError):
    """The running service answered something it must not."""


def request_body(context: Context, features: dict[str, Any]) -> dict[str, Any]:
    """A /predict body for ``features``: the record itself, or a recommender's query."""
    if context.model.task == "recommendation":
        return {"query": features}
    return features


def invalid_example(context: Context) -> dict[str, Any]:
    """The example input with its first feature given as a list (a type error everywhere)."""
    first = context.features[0].name
    return request_body(context, {**context.example_input,
                                  first: [context.example_input[first]]})


def answer_problem(context: Context, answer: dict[str, Any]) -> str | None:
    """What is wrong with one /predict answer for this task, if anything."""
    task = context.model.task
    if task == "recommendation":
        items = answer.get("items")
        scores = [i.get("score") for i in items] if isinstance(items, list) else None
        if not scores or any(not isinstance(v, float) or not math.isfinite(v) for v in scores) \
                or scores != sorted(scores, reverse=True):
            return f"/predict returned {answer!r}, not ranked items with finite scores"
        return None
    if task == "anomaly_detection":
        score = answer.get("anomaly_score")
        if not isinstance(score, float) or not math.isfinite(score) or \
                not isinstance(answer.get("is_anomaly"), bool):
            return f"/predict returned {answer!r}, not a finite anomaly_score and is_anomaly"
        return None
    prediction = answer.get("prediction")
    classes = context.model.classes
    if classes is not None and prediction not in classes:
        return f"/predict returned {prediction!r}, not one of {classes}"
    if classes is None and not (isinstance(prediction, float) and math.isfinite(prediction)):
        return f"/predict returned {prediction!r}, not a finite number"
    return None


def check_service(base_url: str, context: Context) -> dict[str, Any]:
    """Exercise every endpoint once; return what was observed, raise on any failure."""
    problems: list[str] = []
    observed: dict[str, Any] = {}
    example = request_body(context, context.example_input)

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
            answer = one.json()
            observed["answer"] = {k: v for k, v in answer.items()
                                  if k not in ("model_version", "request_id")}
            problem = answer_problem(context, answer)
            if problem:
                problems.append(problem)
        bad = expect(client.post("/predict", json=invalid_example(context)), 422,
                     "POST /predict (invalid)")
        if bad.status_code == 422 and context.features[0].name not in bad.json()["message"]:
            problems.append("the 422 does not name the invalid field")
        batch = expect(client.post("/predict/batch", json={"records": [example] * 3}), 200,
                       "POST /predict/batch")
        if batch.status_code == 200 and batch.json()["count"] != 3:
            problems.append(f"/predict/batch returned {batch.json()['count']} predictions for 3")
        infer = f"/v2/models/{context.model.name}/infer"
        protocol = expect(client.post(infer, json=context.protocol_example), 200,
                          "POST /v2/models/{model_name}/infer")
        if protocol.status_code == 200 and not protocol.json().get("outputs"):
            problems.append(f"{infer} answered no outputs")
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
    """Serve the build with the image's entrypoint on a free port, in an environment made
    only from the deployment's locked wheels; check every endpoint, stop it and write the
    report. A service that cannot become ready fails the build with its own reason."""
    bento = records.read(layout, records.Bento)
    context = read_context(layout)
    root = SERVING[context.runtimes.serving].service_root(layout.deployment.resolve(),
                                                          Path(bento.path))
    python = interpreter(layout)
    where = f"in its own environment ({python.parent.parent})"
    try:
        with ServiceProcess.entrypoint(root, layout.bento_store, {"WORKERS": "1"},
                                       python=python) as server:
            try:
                seconds = wait_ready(server, timeout=120)
            except (RuntimeError, TimeoutError) as exc:
                raise SmokeError(f"{bento.tag} did not become ready {where}: {exc}"
                                 ) from None
            observed = check_service(server.base_url, context)
    except SmokeError as exc:
        raise SmokeError(f"{exc}{restore_previous(layout)}") from None
    report = {"tag": bento.tag, "ready_seconds": round(seconds, 2),
              "environment": str(python.parent.parent), "observed": observed}
    layout.smoke_report.write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(layout.previous_deployment, ignore_errors=True)  # this one is good now
    return (f"{bento.tag} served from {root} by {python} (only its locked wheels) and "
            f"checked: ready in {seconds:.1f} s, {len(observed)} checks passed")


def restore_previous(layout: Layout) -> str:
    """Put the last deployment that passed its smoke check back in place; say so."""
    previous = layout.previous_deployment
    if not previous.is_dir():
        return ""
    swap_in(staging_for(previous, layout.deployment), layout.deployment)
    return (f"\nThe previous deployment, which passed its smoke check, is back in "
            f"{layout.deployment}; the failed one is gone.")


def staging_for(previous: Path, target: Path) -> Path:
    """``previous`` moved beside ``target``, ready to be swapped in."""
    staging = staging_dir(target)
    staging.rmdir()
    shutil.move(previous, staging)
    return staging


def wait_ready(server: ServiceProcess, timeout: float) -> float:
    """Seconds until ``/health/ready`` answers 200. The first failed load ends the wait:
    here the model file is in place, so its reason will not go away by retrying."""

    def failed() -> None:
        try:
            answer = httpx.get(f"{server.base_url}/health/ready", timeout=2)
        except httpx.HTTPError:
            return
        reason = answer.json().get("reason") if answer.status_code == 503 else None
        if reason and reason not in STARTING:
            raise RuntimeError(f"/health/ready says: {reason}\n{server.output()[-2000:]}")

    return server.wait_for("/health/ready", timeout=timeout, check=failed)
