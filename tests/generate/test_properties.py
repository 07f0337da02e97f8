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
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import report
from hypothesis import HealthCheck, Phase, given, settings
from manifests import experiments, write_experiment
from markdown_it import MarkdownIt

from deployment_agent import run_deployment_agent
from deployment_agent.generate.checks import RUFF_OPTIONS, RUFF_RULES
from deployment_agent.generate.escape import md_code
from deployment_agent.verify.server import ServiceProcess

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "300"))
REAL_SERVER_EVERY = 30
SERVICE_MODULES = ("api", "service")


class Tally:
    """What the run covered, for the report and the README."""

    def __init__(self) -> None:
        self.manifests = 0
        self.features: list[int] = []
        self.runtimes: collections.Counter[str] = collections.Counter()
        self.reasons: collections.Counter[str] = collections.Counter()
        self.real_servers = 0
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
    prediction = answer.json()["prediction"]
    classes = context["model"]["classes"]
    if classes is not None:
        assert prediction in classes
    else:
        assert isinstance(prediction, float) and math.isfinite(prediction)
    batch = post("/predict/batch", json={"records": [context["example_input"]] * 3})
    assert batch.status_code == 200 and batch.json()["count"] == 3


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


def check_real_server(folder: Path, store: Path, context: dict[str, Any]) -> None:
    import httpx

    with ServiceProcess.entrypoint(folder, store, {"WORKERS": "1"}) as server:
        server.wait_for("/health/ready", timeout=120)
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            check_endpoints(client.get, client.post, context)


@pytest.fixture(scope="module")
def tally() -> Any:
    counts = Tally()
    yield counts
    if counts.trees:
        # One more ruff pass over every generated tree, outside the generator.
        ruff = subprocess.run(
            [sys.executable, "-m", "ruff", "check", *RUFF_OPTIONS, f"--select={RUFF_RULES}",
             *map(str, counts.trees)], capture_output=True, text=True)
        assert ruff.returncode == 0, ruff.stdout[-3000:]
    report(f"property test: {counts.manifests} random manifests, features per manifest "
           f"min {min(counts.features, default=0)}, median "
           f"{sorted(counts.features)[len(counts.features) // 2] if counts.features else 0}, "
           f"max {max(counts.features, default=0)}; served by {dict(counts.runtimes)}; "
           f"{counts.real_servers} also on a real server; fallback reasons "
           f"{dict(counts.reasons)}")


# No shrinking: each example costs seconds, and the failing one is printed as drawn.
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(recipe=experiments())
def test_any_valid_manifest_generates_lints_serves_and_predicts(
        recipe: dict[str, Any], tally: Tally, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("property")
    manifest = write_experiment(recipe, root / "modeling")
    folder, record = run_deployment_agent(manifest)
    context = json.loads((root / "deployment-build" / "context.json").read_text())
    assert record["runtimes"]["model"] in ("onnx", "sklearn")
    assert record["runtimes"]["model_reason"]
    check_documents(folder, context)
    check_in_process(folder, context)
    tally.manifests += 1
    tally.features.append(len(context["features"]))
    tally.runtimes[record["runtimes"]["model"]] += 1
    if record["runtimes"]["model"] == "sklearn":
        tally.reasons[record["runtimes"]["model_reason"].split(":")[1].strip()[:40]] += 1
    tally.trees.append(folder)
    if tally.manifests % REAL_SERVER_EVERY == 1:
        check_real_server(folder, root / "deployment-build" / "bentoml", context)
        tally.real_servers += 1
