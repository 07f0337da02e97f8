"""Generation is total over valid manifests: hundreds of random ones, each served.

For every manifest hypothesis draws (see ``manifests.py``): validate, compile and generate
succeed; ruff passes; the app imports; ``/openapi.json`` lists every feature under its
original name; ``/predict`` on the example input answers 200 with a known class or a
finite number; the YAML, JSON and Markdown files parse back to the original names. An
in-process client serves the bulk; every 30th manifest is also served by the real
entrypoint (``python -m api.serve``) on a real port.
"""

from __future__ import annotations

import collections
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from bodies import agree, bodies
from conftest import report
from helpers import generate
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from manifests import experiments, write_experiment
from markdown_it import MarkdownIt

from deployment_agent.generate.escape import md_code, url_segment
from deployment_agent.package.wheelhouse import build_for as build_wheelhouse
from deployment_agent.plan.context import PROTOCOL_DATATYPES
from deployment_agent.plan.layout import Layout, layout_for
from deployment_agent.service.decoding import fast_records
from deployment_agent.verify.environment import interpreter
from deployment_agent.verify.server import ServiceProcess

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "150"))
REAL_SERVER_EVERY = 40
SERVICE_MODULES = ("api", "service")


class Tally:
    """What the run covered, for the report and the README."""

    def __init__(self) -> None:
        self.manifests = 0
        self.features: list[int] = []
        self.runtimes: collections.Counter[str] = collections.Counter()
        self.families: collections.Counter[str] = collections.Counter()
        self.trainings: collections.Counter[str] = collections.Counter()
        self.reasons: collections.Counter[str] = collections.Counter()
        self.real_servers = 0
        self.fast_paths = 0
        self.trees: list[Path] = []


def import_app(folder: Path) -> Any:
    """The generated FastAPI app, imported fresh from ``folder`` in this process."""
    for name in [m for m in sys.modules if m.split(".")[0] in SERVICE_MODULES]:
        del sys.modules[name]
    sys.path.insert(0, str(folder))
    try:
        import api.main

        return api.main.app
    finally:
        sys.path.remove(str(folder))


def check_decoders_agree(data: st.DataObject, bodies_per_manifest: int = 25) -> bool:
    """msgspec's fast path and the generated pydantic model judge drawn bodies alike (the
    generated ``api.schemas``, just imported by :func:`import_app`); a recommender's
    requests have no fast path. I return whether the model has one."""
    schemas = sys.modules["api.schemas"]
    fast = fast_records(schemas.PredictionRequest, schemas.BatchRequest)
    if "QueryFeatures" in vars(schemas):
        assert fast is None
        return False
    if fast is None:
        # msgspec cannot name a field by a name holding '"', '\\' or a control character:
        # such a model is validated by pydantic alone.
        names = [i.alias or n for n, i in schemas.PredictionRequest.model_fields.items()]
        assert any(re.search(r'["\\\x00-\x1f]', n) for n in names), names
        return False
    for body in data.draw(st.lists(bodies(schemas.PredictionRequest),
                                   min_size=bodies_per_manifest,
                                   max_size=bodies_per_manifest)):
        agree(schemas, fast, body)
    return True


def check_in_process(folder: Path, context: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    app = import_app(folder)
    with TestClient(app) as client:
        deadline = time.monotonic() + 30
        while client.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, client.get("/health/ready").json()
            time.sleep(0.01)
        check_endpoints(client.get, client.post, context)


def check_endpoints(get: Any, post: Any, context: dict[str, Any]) -> None:
    spec = get("/openapi.json").json()
    properties = spec["components"]["schemas"]["PredictionRequest"]["properties"]
    assert list(properties) == [f["name"] for f in context["features"]]
    answer = post("/predict", json=context["example_input"])
    assert answer.status_code == 200, answer.text[:2000]
    classes = context["model"]["classes"]
    if context["model"]["task"] == "anomaly_detection":
        score = answer.json()["anomaly_score"]
        assert math.isfinite(score) and answer.json()["is_anomaly"] == (score < 0)
    elif classes is not None:
        assert answer.json()["prediction"] in classes
    else:
        prediction = answer.json()["prediction"]
        assert isinstance(prediction, float) and math.isfinite(prediction)
    batch = post("/predict/batch", json={"records": [context["example_input"]] * 3})
    assert batch.status_code == 200 and batch.json()["count"] == 3
    check_protocol(get, post, context, answer.json())


def check_protocol(get: Any, post: Any, context: dict[str, Any], answer: dict[str, Any]
                   ) -> None:
    """The Open Inference Protocol under any model and feature name: the metadata names
    every feature, and infer answers the example as /predict did."""
    model = f"/v2/models/{url_segment(context['model']['name'])}"
    metadata = get(model)
    assert metadata.status_code == 200, metadata.text[:2000]
    assert [i["name"] for i in metadata.json()["inputs"]] == \
        [f["name"] for f in context["features"]]
    example = context["example_input"]
    inputs = [{"name": f["name"], "datatype": PROTOCOL_DATATYPES[f["type"]], "shape": [1],
               "data": [example[f["name"]]]} for f in context["features"]]
    infer = post(f"{model}/infer", json={"inputs": inputs})
    assert infer.status_code == 200, infer.text[:2000]
    outputs = {o["name"]: o for o in infer.json()["outputs"]}
    for key, value in answer.items():
        if key in outputs and key != "probabilities":
            wanted = str(value) if outputs[key]["datatype"] == "BYTES" else value
            assert outputs[key]["data"] == [wanted], (key, outputs[key], answer)
    if "probabilities" in answer:
        assert outputs["probabilities"]["data"] == list(answer["probabilities"].values())


def check_documents(folder: Path, context: dict[str, Any]) -> None:
    """YAML, JSON and Markdown give the original names back."""
    bentofile = yaml.safe_load((folder / "bentofile.yaml").read_text(encoding="utf-8"))
    assert bentofile["labels"]["model"] == context["model"]["name"]
    assert bentofile["labels"]["model_version"] == context["model"]["version"]
    compose = yaml.safe_load((folder / "docker-compose.yml").read_text(encoding="utf-8"))
    service = next(iter(compose["services"].values()))
    assert service["environment"]["API_TITLE"] == context["api"]["title"]
    manifest = json.loads((folder / "deployment_manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"]["name"] == context["model"]["name"]
    runbook = (folder / "runbook.md").read_text(encoding="utf-8")
    tokens = MarkdownIt("commonmark").enable("table").parse(runbook)
    rows = table_rows(tokens, "Feature")
    assert [row[0] for row in rows] == [" ".join(f["name"].split()) or f["name"]
                                        for f in context["features"]]
    assert all(len(row) == 4 for row in rows)
    for feature in context["features"]:
        assert md_code(feature["name"]) in runbook


def table_rows(tokens: list[Any], first_header: str) -> list[list[str]]:
    """The body rows (cell texts) of the table whose first header cell is ``first_header``."""
    tables: list[list[list[str]]] = []
    row: list[str] | None = None
    for i, token in enumerate(tokens):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            inline = tokens[i + 1]
            text = "".join(child.content for child in inline.children or []
                           if child.type in ("text", "code_inline"))
            assert row is not None
            row.append(text)
        elif token.type == "tr_close" and row is not None:
            tables[-1].append(row)
    for table in tables:
        if table and table[0] and table[0][0] == first_header:
            return table[1:]
    raise AssertionError(f"no table headed {first_header!r}")


def check_real_server(layout: Layout, context: dict[str, Any]) -> None:
    """The real entrypoint, in an environment made only from the deployment's locked
    wheels (as the image has it)."""
    import httpx

    build_wheelhouse(layout)
    with ServiceProcess.entrypoint(layout.deployment, layout.bento_store, {"WORKERS": "1"},
                                   python=interpreter(layout)) as server:
        server.wait_for("/health/ready", timeout=120)
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            check_endpoints(client.get, client.post, context)


@pytest.fixture(scope="module")
def tally() -> Any:
    counts = Tally()
    yield counts
    if counts.trees:
        # One more ruff pass over every generated tree, outside the generator, from another
        # folder: each tree's own ruff.toml applies.
        ruff = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--no-cache", *map(str, counts.trees)],
            capture_output=True, text=True, cwd="/")
        assert ruff.returncode == 0, ruff.stdout[-3000:]
    report(f"property test: {counts.manifests} random manifests, features per manifest "
           f"min {min(counts.features, default=0)}, median "
           f"{sorted(counts.features)[len(counts.features) // 2] if counts.features else 0}, "
           f"max {max(counts.features, default=0)}; families {dict(counts.families)}; "
           f"trained as {dict(counts.trainings)}; "
           f"served by {dict(counts.runtimes)}; "
           f"{counts.real_servers} also on a real server; {counts.fast_paths} validated by "
           "msgspec (25 drawn bodies each judged as pydantic does); fallback reasons "
           f"{dict(counts.reasons)}")


# No shrinking: each example costs seconds, and the failing one is printed as drawn.
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(recipe=experiments(), data=st.data())
def test_any_valid_manifest_generates_lints_serves_and_predicts(
        recipe: dict[str, Any], data: st.DataObject, tally: Tally,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("property")
    manifest = write_experiment(recipe, root / "modeling")
    folder, record = generate(manifest)
    context = json.loads((root / "deployment-build" / "context.json").read_text())
    assert record["runtimes"]["model"] in ("onnx", "native")
    assert record["runtimes"]["model_reason"]
    check_documents(folder, context)
    check_in_process(folder, context)
    tally.fast_paths += check_decoders_agree(data)
    tally.manifests += 1
    tally.features.append(len(context["features"]))
    tally.runtimes[record["runtimes"]["model"]] += 1
    if record["runtimes"]["model"] == "native":
        tally.reasons[record["runtimes"]["model_reason"].split(":")[1].strip()[:40]] += 1
    tally.trees.append(folder)
    tally.families[recipe["family"]] += 1
    tally.trainings[f"{recipe['estimator']}, threads={recipe['threads']}"] += 1
    if tally.manifests % REAL_SERVER_EVERY == 1:
        check_real_server(layout_for(manifest), context)
        tally.real_servers += 1
