"""The Open Inference Protocol's routes, on the service's app built in this process with
each shipped example's real model (and a scorer recommender, an XGBRanker whose requests
carry only the query's features): metadata, JSON and binary tensors, the same answers and
the same refusals as /predict/batch (hypothesis draws the records)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgspec
import numpy as np
import pytest
from bodies import off, valid
from conftest import Deployment
from fastapi.testclient import TestClient
from helpers import Generated, generate, generated_api, sample_records, service_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployment_agent.plan.layout import layout_for
from deployment_agent.service.tensors import HEADER_LENGTH, binary_answer
from examples import families

EXAMPLE_NAMES = ["churn", "diabetes", "iris_sites", "recommender", "ranker"]
FAMILY_CASES = {"ranker"}  # trained by examples.families rather than shipped
DATATYPES = {"int": "INT64", "float": "FP64", "bool": "BOOL", "str": "BYTES"}


class Served:
    """One example's app under a test client, with its model's name and features."""

    def __init__(self, deployment: Deployment, generated: Generated,
                 client: TestClient) -> None:
        self.deployment, self.client = deployment, client
        self.schemas = generated[2]
        self.context = deployment.context
        self.name = self.context.model.name
        self.features = [(f.name, f.type) for f in self.context.features]
        self.recommends = self.context.model.task == "recommendation"
        self.base = f"/v2/models/{self.name}"

    def columnar(self, records: list[dict[str, Any]], **parameters: Any) -> dict[str, Any]:
        """An infer request with one input per feature, JSON data."""
        inputs = [{"name": name, "datatype": DATATYPES[kind], "shape": [len(records)],
                   "data": [r[name] for r in records]} for name, kind in self.features]
        return {"inputs": inputs, **({"parameters": parameters} if parameters else {})}

    def batch(self, records: list[dict[str, Any]]) -> Any:
        """/predict/batch's answer to the same records."""
        body = [{"query": r} for r in records] if self.recommends else records
        return self.client.post("/predict/batch", json={"records": body})


def deployment_of(name: str, deployments: dict[str, Deployment],
                  tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """A shipped example's deployment, or a family case's, trained and generated here."""
    if name not in FAMILY_CASES:
        return deployments[name]
    case = families.train(name, tmp_path_factory.mktemp(name) / "modeling")
    _, record = generate(case.manifest, registry="deployment-agent-test")
    return Deployment(name, layout_for(case.manifest), record)


@pytest.fixture(scope="module", params=EXAMPLE_NAMES)
def served(request: pytest.FixtureRequest, deployments: dict[str, Deployment],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    deployment = deployment_of(request.param, deployments, tmp_path_factory)
    with generated_api(deployment.layout.deployment) as generated, \
            TestClient(service_app(generated)) as client:
        yield Served(deployment, generated, client)


def tensors(answer: dict[str, Any]) -> dict[str, np.ndarray]:
    """An infer answer's outputs as arrays of their shape."""
    return {o["name"]: np.array(o["data"], dtype=object).reshape(o["shape"])
            for o in answer["outputs"]}


def expected_tensors(served: Served, predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """/predict/batch's answers as the protocol's output tensors should hold them."""
    if served.recommends:
        return {"item_id": [[i["item_id"] for i in p["items"]] for p in predictions],
                "score": [[i["score"] for i in p["items"]] for p in predictions]}
    if "anomaly_score" in predictions[0]:
        return {"anomaly_score": [p["anomaly_score"] for p in predictions],
                "is_anomaly": [p["is_anomaly"] for p in predictions]}
    found: dict[str, Any] = {"prediction": [p["prediction"] for p in predictions]}
    if "probabilities" in predictions[0]:
        found["probabilities"] = [list(p["probabilities"].values()) for p in predictions]
    return found


def same(found: dict[str, np.ndarray], expected: dict[str, Any], datatypes: dict[str, str]
         ) -> None:
    assert set(found) == set(expected)
    for name, values in expected.items():
        if datatypes[name] == "BYTES":
            values = np.vectorize(str)(np.array(values, dtype=object)).tolist()
        assert found[name].tolist() == values, name


def test_metadata_lists_every_feature_with_its_datatype_and_constraints(
        served: Served) -> None:
    meta = served.client.get(served.base)
    assert meta.status_code == 200, meta.text
    document = meta.json()
    assert document["name"] == served.name
    assert document["versions"] == [served.context.model.version]
    assert [(i["name"], i["datatype"], i["shape"]) for i in document["inputs"]] == \
        [(name, DATATYPES[kind], [-1]) for name, kind in served.features]
    for spec, described in zip(served.context.features, document["inputs"], strict=True):
        parameters = described.get("parameters", {})
        if spec.maximum is not None:
            assert parameters["maximum"] == spec.maximum
        if spec.enum:
            assert parameters["enum"] == spec.enum
        assert parameters.get("nullable", False) == spec.nullable
    names = [o["name"] for o in document["outputs"]]
    if served.recommends:
        assert names == ["item_id", "score"]
        assert document["parameters"]["k"]["maximum"] == served.context.model.spec.catalogue.max_k
    elif served.context.model.task == "classification":
        assert names[0] == "prediction"
    versioned = served.client.get(f"{served.base}/versions/{served.context.model.version}")
    assert versioned.json() == document


def test_health_and_server_metadata(served: Served) -> None:
    client = served.client
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get(f"{served.base}/ready").json() == {"name": served.name, "ready": True}
    assert "binary_tensor_data" in client.get("/v2").json()["extensions"]
    unknown = client.get("/v2/models/no-such-model")
    assert unknown.status_code == 404 and served.name in unknown.json()["error"]
    assert client.post("/v2/models/no-such-model/infer", json={"inputs": []}).status_code == 404


def test_infer_answers_what_predict_batch_answers(served: Served) -> None:
    records = sample_records(served.context, 25, seed=7)
    batch = served.batch(records)
    assert batch.status_code == 200, batch.text
    answer = served.client.post(f"{served.base}/infer", json=served.columnar(records))
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["model_name"] == served.name
    datatypes = {o["name"]: o["datatype"] for o in document["outputs"]}
    same(tensors(document), expected_tensors(served, batch.json()["predictions"]), datatypes)
    versioned = served.client.post(
        f"{served.base}/versions/{served.context.model.version}/infer",
        json=served.columnar(records, content_type="pd"))
    assert versioned.json()["outputs"] == document["outputs"]
    metrics = served.client.get("/metrics").text
    assert f'predictions_total{{endpoint="{served.base}/infer"}} 25.0' in metrics


def test_one_matrix_in_schema_order_answers_the_same(served: Served) -> None:
    if any(kind in ("str", "bool") for _, kind in served.features):
        pytest.skip("a matrix holds one datatype: this model mixes numbers with text or "
                    "booleans")
    records = sample_records(served.context, 10, seed=8)
    matrix = [[r[name] for name, _ in served.features] for r in records]
    request = {"inputs": [{"name": "input-0", "datatype": "FP64",
                           "shape": [len(records), len(served.features)], "data": matrix}],
               "parameters": {"content_type": "np"}}
    answer = served.client.post(f"{served.base}/infer", json=request)
    assert answer.status_code == 200, answer.text
    columnar = served.client.post(f"{served.base}/infer", json=served.columnar(records))
    assert answer.json()["outputs"] == columnar.json()["outputs"]


def binary_request(served: Served, records: list[dict[str, Any]]) -> tuple[bytes, str]:
    """The same request with every input's data in binary, and binary outputs asked for."""
    inputs, raw = [], []
    for name, kind in served.features:
        data = binary_answer(DATATYPES[kind], [r[name] for r in records])
        inputs.append({"name": name, "datatype": DATATYPES[kind], "shape": [len(records)],
                       "parameters": {"binary_data_size": len(data)}})
        raw.append(data)
    header = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}})
    return header.encode() + b"".join(raw), str(len(header.encode()))


def test_binary_tensors_in_and_out(served: Served) -> None:
    if any(f.nullable for f in served.context.features):
        pytest.skip("a binary tensor cannot hold null")
    records = sample_records(served.context, 12, seed=9)
    body, length = binary_request(served, records)
    answer = served.client.post(f"{served.base}/infer", content=body,
                                headers={HEADER_LENGTH: length,
                                         "content-type": "application/octet-stream"})
    assert answer.status_code == 200, answer.text
    json_length = int(answer.headers[HEADER_LENGTH])
    header = json.loads(answer.content[:json_length])
    offset, found = json_length, {}
    for output in header["outputs"]:
        size = output["parameters"]["binary_data_size"]
        found[output["name"]] = answer.content[offset:offset + size]
        offset += size
    assert offset == len(answer.content)
    expected = served.client.post(f"{served.base}/infer", json=served.columnar(records)).json()
    for output in expected["outputs"]:
        assert found[output["name"]] == binary_answer(output["datatype"], output["data"])


def test_refusals_name_the_input(served: Served) -> None:
    client, base = served.client, f"{served.base}/infer"
    records = sample_records(served.context, 3, seed=10)
    request = served.columnar(records)
    first, kind = served.features[0]
    missing = {"inputs": request["inputs"][1:]}
    cases: list[tuple[dict[str, Any], str]] = [
        (missing, f"missing inputs {first!r}"),
        ({**request, "outputs": [{"name": "nope"}]}, "unknown output 'nope'"),
        ({**request, "parameters": {"content_type": "json"}}, "content_type"),
        ({"inputs": [{**request["inputs"][0], "shape": [4]}, *request["inputs"][1:]]},
         repr(first)),
        ({"inputs": [{**request["inputs"][0], "datatype": "BYTES" if kind != "str"
                      else "FP64"}, *request["inputs"][1:]]}, repr(first)),
    ]
    text_for_number = [f for f in served.context.features if f.type in ("int", "float")]
    if text_for_number:
        feature = text_for_number[0]
        position = [name for name, _ in served.features].index(feature.name)
        inputs = [dict(i) for i in request["inputs"]]
        inputs[position]["data"] = [*inputs[position]["data"][:2], "35"]
        cases.append(({"inputs": inputs}, f"input {feature.name!r}, row 2"))
    for body, named in cases:
        refused = client.post(base, json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert named in refused.json()["error"], (named, refused.json())
    assert client.post(base, content=b"{not json").status_code == 400
    too_many = served.columnar(records * 400)
    assert "at most" in client.post(base, json=too_many).json()["error"]


def record_values(served: Served) -> st.SearchStrategy[dict[str, Any]]:
    """A record with every feature, each value valid or near the contract."""
    fields = served.schemas.QueryFeatures.model_fields if served.recommends else \
        served.schemas.PredictionRequest.model_fields
    return st.fixed_dictionaries({info.alias or name: valid(info) | off(info)
                                  for name, info in fields.items()})


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_protocol_accepts_and_refuses_what_predict_batch_does(served: Served,
                                                                  data: st.DataObject) -> None:
    records = data.draw(st.lists(record_values(served), min_size=1, max_size=4))
    try:
        body = msgspec.json.encode(served.columnar(records))
    except (msgspec.EncodeError, OverflowError, UnicodeEncodeError):
        return  # a value JSON cannot carry (a lone surrogate): neither route sees it
    batch = served.batch(records)
    answer = served.client.post(f"{served.base}/infer", content=body,
                                headers={"content-type": "application/json"})
    assert (batch.status_code == 200) == (answer.status_code == 200), \
        (records, batch.text, answer.text)
    if answer.status_code == 200:
        datatypes = {o["name"]: o["datatype"] for o in answer.json()["outputs"]}
        same(tensors(answer.json()), expected_tensors(served, batch.json()["predictions"]),
             datatypes)
    else:
        assert answer.status_code == 400 and answer.json()["error"]
