"""Real Open Inference Protocol clients (tritonclient, kserve), run in a virtualenv of
their own: kserve pins libraries the project pins differently. ``clients/oip_clients.py``
is what runs there."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from deployment_agent.plan.context import Context

PACKAGES = ("tritonclient[http]==2.73.0", "kserve==0.21.0", "pandas==2.3.3", "numpy==2.4.6")
SCRIPT = Path(__file__).parent / "clients" / "oip_clients.py"
DATATYPES = {"int": "INT64", "float": "FP64", "bool": "BOOL", "str": "BYTES"}


def client_python() -> Path:
    """The clients' python, in a virtualenv made once per set of pins."""
    key = hashlib.sha256(" ".join(PACKAGES).encode()).hexdigest()[:12]
    venv = Path(tempfile.gettempdir()) / f"deployment-agent-oip-clients-{key}"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PACKAGES],
                       check=True)
    return python


def call_clients(base_url: str, context: Context, records: list[dict[str, Any]]
                 ) -> dict[str, Any]:
    """What tritonclient and kserve's client saw of the service at ``base_url``, asked
    to score ``records`` (one input per feature)."""
    request = {"model": context.model.name,
               "columns": [{"name": f.name, "datatype": DATATYPES[f.type],
                            "data": [r[f.name] for r in records]} for f in context.features]}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as stream:
        json.dump(request, stream)
    try:
        result = subprocess.run([str(client_python()), str(SCRIPT), base_url, stream.name],
                                capture_output=True, text=True, timeout=300)
    finally:
        Path(stream.name).unlink()
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def flat_expected(predictions: list[dict[str, Any]], datatypes: dict[str, str]
                  ) -> dict[str, list[Any]]:
    """/predict/batch's answers as the protocol's output tensors hold them, flat, row after
    row (text where the output is BYTES)."""
    first = predictions[0]
    if "items" in first:
        found = {"item_id": [i["item_id"] for p in predictions for i in p["items"]],
                 "score": [i["score"] for p in predictions for i in p["items"]]}
    elif "anomaly_score" in first:
        found = {key: [p[key] for p in predictions] for key in ("anomaly_score", "is_anomaly")}
    else:
        found = {"prediction": [p["prediction"] for p in predictions]}
        if "probabilities" in first:
            found["probabilities"] = [v for p in predictions
                                      for v in p["probabilities"].values()]
    return {name: [str(v) for v in values] if datatypes[name] == "BYTES" else values
            for name, values in found.items()}


def assert_clients_agree(base_url: str, context: Context, records: list[dict[str, Any]]
                         ) -> dict[str, Any]:
    """Both clients see a live, ready model whose metadata names its features, and score
    ``records`` as /predict/batch does (tritonclient with JSON and with binary tensors);
    both get a 400 for a value of the wrong type. I return what they saw."""
    seen = call_clients(base_url, context, records)
    body = [{"query": r} for r in records] if context.model.task == "recommendation" \
        else records
    batch = httpx.post(f"{base_url}/predict/batch", json={"records": body}, timeout=30)
    assert batch.status_code == 200, batch.text
    triton, kserve = seen["tritonclient"], seen["kserve"]
    metadata = triton["metadata"]
    assert [i["name"] for i in metadata["inputs"]] == [f.name for f in context.features]
    datatypes = {o["name"]: o["datatype"] for o in metadata["outputs"]}
    expected = flat_expected(batch.json()["predictions"], datatypes)
    for client in (triton, kserve):
        assert client["live"] and client["ready"] and client["model_ready"], client
        assert client["json"] == expected
        assert client["refused"] is not None and client["refused"]["status"] in (400, "400")
    assert triton["binary"] == expected
    return seen
