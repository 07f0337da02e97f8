"""The model's life after deployment, in process: the inference log, feedback, quality.

The churn deployment's app is built by its factory with the inference log on, in a
temporary volume: every answered record reaches the JSON Lines files and the prediction
store; outcomes fed back join their predictions, and the quality gauges equal what is
computed by hand from them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard
from conftest import Deployment
from fastapi.testclient import TestClient
from helpers import Generated, generate, generated_api, sample_records, service_app

from deployment_agent.plan.layout import layout_for
from deployment_agent.plan.planner import read_context
from deployment_agent.service.monitoring.inference_log import InferenceLog, records
from deployment_agent.service.monitoring.sinks import read_entries
from deployment_agent.service.monitoring.store import Store, packed
from examples.families import train


@pytest.fixture(scope="module")
def generated(deployments: dict[str, Deployment]) -> Iterator[Generated]:
    with generated_api(deployments["churn"].layout.deployment) as found:
        yield found


def logged(folder: Path) -> list[dict[str, Any]]:
    """Every record of the JSON Lines files in ``folder`` (an entry per request)."""
    return [record for entry in read_entries(folder) for record in records(entry)]


def gauge(metrics: str, name: str, metric: str | None = None) -> float:
    label = f'{{metric="{metric}"}}' if metric else ""
    found = re.search(rf"^{re.escape(name + label)} (\S+)$", metrics, re.M)
    assert found, (name, metric, metrics[-2000:])
    return float(found.group(1))


def test_every_answer_is_logged_and_outcomes_give_the_quality(
        generated: Generated, tmp_path: Path) -> None:
    _, _, schemas = generated
    example = schemas.EXAMPLE_INPUT
    app = service_app(generated, inference_log_enabled=True, inference_log_dir=tmp_path,
                      inference_log_hash_features=[schemas.FEATURE_NAMES[0]])
    with TestClient(app) as client:
        singles = [client.post("/predict", json=example, headers={"X-Request-ID": f"s{i}"})
                   for i in range(6)]
        batch = client.post("/predict/batch", json={"records": [example] * 4},
                            headers={"X-Request-ID": "b"})
        assert all(r.status_code == 200 for r in [*singles, batch])
        predicted = singles[0].json()["prediction"]
        other = next(c for c in app.state.model.spec.classes if c != predicted)
        # 6 outcomes equal to the prediction, 4 not: accuracy 0.6.
        ids = [f"s{i}" for i in range(6)] + [f"b-{i}" for i in range(4)]
        truth = [predicted] * 6 + [other] * 4
        sent = client.post("/feedback", json={"outcomes": [
            {"prediction_id": i, "outcome": t} for i, t in zip(ids, truth, strict=True)]})
        assert sent.status_code == 200, sent.text
        assert sent.json()["accepted"] == 10
        again = client.post("/feedback", json={"outcomes": [
            {"prediction_id": "s0", "outcome": predicted}]})
        assert again.status_code == 200  # the same outcome again: counted once
        metrics = client.get("/metrics").text
        assert gauge(metrics, "model_quality", "accuracy") == pytest.approx(0.6)
        assert gauge(metrics, "model_quality_labels") == 10
        assert gauge(metrics, "model_quality_labelled_ratio") == pytest.approx(1.0)
        assert {"f1", "roc_auc", "log_loss"} <= set(re.findall(
            r'^model_quality\{metric="(\w+)"\}', metrics, re.M))
    records = logged(tmp_path)  # the app stopped: everything queued was written
    assert sorted(r["prediction_id"] for r in records) == sorted(ids)
    first = next(r for r in records if r["prediction_id"] == "s0")
    assert first["answer"]["prediction"] == predicted and first["endpoint"] == "/predict"
    assert first["model"]["sha256"] == app.state.model.sha256
    hashed = schemas.FEATURE_NAMES[0]
    assert first["features"][hashed].startswith("sha256:")
    assert {k: v for k, v in first["features"].items() if k != hashed} == \
        {k: v for k, v in example.items() if k != hashed}


def test_a_record_routes_body_is_logged_as_received_one_line_an_entry(
        generated: Generated, tmp_path: Path) -> None:
    _, _, schemas = generated
    example = schemas.EXAMPLE_INPUT
    # pretty-printed: line breaks between tokens, which the log's lines must not carry
    single = json.dumps(example, indent=2)
    batch = json.dumps({"records": [example, {**example}]}, indent=1)
    app = service_app(generated, inference_log_enabled=True, inference_log_dir=tmp_path)
    with TestClient(app) as client:
        for path, body, request_id in (("/predict", single, "one"),
                                       ("/predict/batch", batch, "two")):
            answered = client.post(path, content=body, headers={
                "content-type": "application/json", "X-Request-ID": request_id})
            assert answered.status_code == 200, answered.text
    lines = [line for path in tmp_path.glob("inference-*.jsonl.zst") for line in
             zstandard.ZstdDecompressor().stream_reader(path.read_bytes(),
                                                        read_across_frames=True
                                                        ).read().splitlines()]
    entries = [json.loads(line) for line in lines]
    assert [e["request_id"] for e in entries] == ["one", "two"]
    assert entries[0]["request"] == example and "features" not in entries[0]
    assert entries[1]["request"] == {"records": [example, example]}
    assert [r["features"] for r in logged(tmp_path)] == [example] * 3


def test_bad_feedback_is_refused_whole_naming_each_field(generated: Generated,
                                                         tmp_path: Path) -> None:
    _, _, schemas = generated
    app = service_app(generated, inference_log_enabled=True, inference_log_dir=tmp_path)
    classes = app.state.model.spec.classes
    with TestClient(app) as client:
        assert client.post("/predict", json=schemas.EXAMPLE_INPUT,
                           headers={"X-Request-ID": "known"}).status_code == 200
        wrong = client.post("/feedback", json={"outcomes": [
            {"prediction_id": "known", "outcome": classes[0]},
            {"prediction_id": "never-served", "outcome": classes[0]},
            {"prediction_id": "known", "outcome": "not a class"},
            {"prediction_id": "known", "outcome": str(classes[0])}]})
        assert wrong.status_code == 422, wrong.text
        message = wrong.json()["message"]
        for expected in ("body.outcomes.1.prediction_id: unknown prediction id 'never-served'",
                         "body.outcomes.2.prediction_id: prediction id 'known' is given twice",
                         "body.outcomes.2.outcome", "body.outcomes.3.outcome"):
            assert expected in message, message
        assert "model_quality_labels 0.0" in client.get("/metrics").text  # nothing applied
        assert client.post("/feedback", json={"outcomes": []}).status_code == 422
        assert client.post("/feedback", json={"outcomes": [
            {"prediction_id": "known", "outcome": classes[0], "extra": 1}]}).status_code == 422


def test_feedback_without_the_log_is_a_404_that_says_how_to_switch_it_on(
        generated: Generated) -> None:
    with TestClient(service_app(generated)) as client:
        answer = client.post("/feedback", json={"outcomes": [
            {"prediction_id": "x", "outcome": 1}]})
        assert answer.status_code == 404 and "INFERENCE_LOG_ENABLED" in answer.json()["message"]
        assert "/feedback" in client.get("/openapi.json").json()["paths"]


def outcome_for(task: str, answer: dict[str, Any], index: int, items: list[Any]) -> Any:
    """A true outcome of ``answer`` whose effect on the task's metrics is known: a
    regressor off by exactly 1.0; a recommender's first item every other time (else an
    item it did not rank); a detector's flag, flipped every fourth time."""
    if task == "regression":
        return answer["prediction"] + 1.0
    if task == "recommendation":
        ranked = [i["item_id"] for i in answer["items"]]
        return ranked[0] if index % 2 == 0 else next(i for i in items if i not in ranked)
    flagged = answer["is_anomaly"]
    return (not flagged) if index % 4 == 0 else flagged


@pytest.mark.parametrize("name", ["diabetes", "recommender", "isolation-forest"])
def test_every_task_measures_its_own_quality(name: str, deployments: dict[str, Deployment],
                                             tmp_path: Path) -> None:
    """Regression (MAE and RMSE exactly 1.0), recommendation (hit rate and NDCG 0.5, the
    chosen item ranked first half the time) and anomaly detection (precision and recall
    of a flag wrong one time in four), each through /predict/batch and /feedback."""
    if name in deployments:
        root, context = deployments[name].layout.deployment, deployments[name].context
    else:
        case = train(name, tmp_path / "modeling")
        root, _ = generate(case.manifest)
        context = read_context(layout_for(case.manifest))
    with generated_api(root) as found:
        app = service_app(found, inference_log_enabled=True, inference_log_dir=tmp_path / "l")
        task = app.state.model.spec.task
        records = sample_records(context, 40, seed=3)
        body = [{"query": r} for r in records] if task == "recommendation" else records
        with TestClient(app) as client:  # the model (and its catalogue) loaded
            items = list(app.state.model.recommender.catalogue.position) \
                if task == "recommendation" else []
            answered = client.post("/predict/batch", json={"records": body},
                                   headers={"X-Request-ID": "q"})
            assert answered.status_code == 200, answered.text
            answers = answered.json()["predictions"]
            outcomes = [{"prediction_id": f"q-{i}", "outcome": outcome_for(task, a, i, items)}
                        for i, a in enumerate(answers)]
            sent = client.post("/feedback", json={"outcomes": outcomes})
            assert sent.status_code == 200, sent.text
            metrics = client.get("/metrics").text
    if task == "regression":
        assert gauge(metrics, "model_quality", "mae") == pytest.approx(1.0)
        assert gauge(metrics, "model_quality", "rmse") == pytest.approx(1.0)
    elif task == "recommendation":
        assert gauge(metrics, "model_quality", "hit_rate") == pytest.approx(0.5)
        assert gauge(metrics, "model_quality", "ndcg") == pytest.approx(0.5)
    else:
        flags = [a["is_anomaly"] for a in answers]
        truth = [o["outcome"] for o in outcomes]
        hits = sum(f and t for f, t in zip(flags, truth, strict=True))
        if any(flags):
            assert gauge(metrics, "model_quality", "precision") == pytest.approx(
                hits / sum(flags))
        assert gauge(metrics, "model_quality", "recall") == pytest.approx(hits / sum(truth))
    assert gauge(metrics, "model_quality_labels") == len(outcomes)


def test_the_store_forgets_predictions_past_the_retention(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    now = time.time()
    day = 86_400.0
    store.add_requests([("old", now - 2 * day, "1", 2, 0, packed(b'[{"v":1},{"v":2}]')),
                        ("new", now - 60, "1", 1, 1, packed(b'[{"v":3}]'))])
    store.add_outcomes([
        {"prediction_id": "old-1", "request_id": "old", "position": 1,
         "received_at": now - 2 * day, "outcome": "2"},
        {"prediction_id": "new", "request_id": "new", "position": 0, "received_at": now,
         "outcome": "3"}])
    log = InferenceLog([], store, {"name": "m", "version": "1", "sha256": "0"}, ["x"],
                       retention_seconds=day)
    log.prune()  # what the writer thread does every PRUNE_SECONDS
    assert store.resolve(["old-0", "old-1", "new"]) == {"new": ("new", 0)}
    assert [(answer, outcome) for answer, outcome, _, _ in store.window(10)] == \
        [({"v": 3}, "3")]
    assert store.served_since(0) == 1
