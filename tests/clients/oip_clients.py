"""I call a service's Open Inference Protocol routes with real third-party clients:
tritonclient's HTTP client and kserve's InferenceRESTClient (protocol v2).

I run in a virtualenv of my own (``tests/oip_clients.py`` makes it), because kserve pins
libraries the project pins differently. Usage: ``python oip_clients.py URL REQUEST.json``,
where the request file names the model and holds feature columns with their datatypes; I
print what each client saw as one JSON document.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
import tritonclient.http as triton
from kserve import InferenceRESTClient, RESTConfig
from kserve.protocol.infer_type import InferInput, InferRequest
from tritonclient.utils import InferenceServerException

NUMPY = {"INT64": np.int64, "FP64": np.float64, "BOOL": np.bool_, "BYTES": np.object_}


def arrays(request: dict[str, Any]) -> dict[str, np.ndarray]:
    """The request's columns as numpy arrays of their datatypes."""
    return {c["name"]: np.array(c["data"], dtype=NUMPY[c["datatype"]])
            for c in request["columns"]}


def plain(array: np.ndarray) -> list[Any]:
    """An output as flat JSON values, row after row (text for BYTES)."""
    return [v.decode() if isinstance(v, bytes) else v for v in np.ravel(array).tolist()]


def with_triton(url: str, request: dict[str, Any]) -> dict[str, Any]:
    """Health, metadata and inference through tritonclient, JSON and binary tensors."""
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    name = request["model"]
    found: dict[str, Any] = {
        "live": client.is_server_live(), "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(name),
        "server": client.get_server_metadata(), "metadata": client.get_model_metadata(name),
    }
    outputs = [o["name"] for o in found["metadata"]["outputs"]]
    columns = arrays(request)
    for binary in (False, True):
        inputs = []
        for column in request["columns"]:
            tensor = triton.InferInput(column["name"], [len(column["data"])],
                                       column["datatype"])
            tensor.set_data_from_numpy(columns[column["name"]], binary_data=binary)
            inputs.append(tensor)
        # JSON: outputs named with binary_data=False; binary: tritonclient's defaults.
        asked = [triton.InferRequestedOutput(o, binary_data=False) for o in outputs] \
            if not binary else None
        result = client.infer(name, inputs, outputs=asked)
        found["binary" if binary else "json"] = {o: plain(result.as_numpy(o))
                                                 for o in outputs}
    wrong = []  # every input, the first as text (BYTES): it is a number or a boolean
    for i, column in enumerate(request["columns"]):
        values = np.array(["not a value"] * len(column["data"]), dtype=np.object_) \
            if i == 0 else columns[column["name"]]
        tensor = triton.InferInput(column["name"], [len(column["data"])],
                                   "BYTES" if i == 0 else column["datatype"])
        tensor.set_data_from_numpy(values, binary_data=False)
        wrong.append(tensor)
    try:
        client.infer(name, wrong)
        found["refused"] = None
    except InferenceServerException as exc:
        found["refused"] = {"status": exc.status(), "message": exc.message()}
    client.close()
    return found


async def with_kserve(url: str, request: dict[str, Any]) -> dict[str, Any]:
    """Health and inference through kserve's REST client, protocol v2."""
    async with InferenceRESTClient(RESTConfig(protocol="v2", timeout=30)) as client:
        name = request["model"]
        found: dict[str, Any] = {
            "live": await client.is_server_live(url),
            "ready": await client.is_server_ready(url),
            "model_ready": await client.is_model_ready(url, name),
        }
        inputs = [InferInput(c["name"], [len(c["data"])], c["datatype"], c["data"])
                  for c in request["columns"]]
        response = await client.infer(url, InferRequest(name, inputs), model_name=name)
        found["json"] = {o.name: plain(o.as_numpy()) for o in response.outputs}
        bad = [InferInput(c["name"], [len(c["data"])], c["datatype"],
                          ["35"] * len(c["data"]) if i == 0 else c["data"])
               for i, c in enumerate(request["columns"])]
        try:
            await client.infer(url, InferRequest(name, bad), model_name=name)
            found["refused"] = None
        except Exception as exc:  # httpx.HTTPStatusError, kserve's own errors
            response = getattr(exc, "response", None)
            found["refused"] = {"status": getattr(response, "status_code", None),
                                "message": str(exc)}
        return found


def main() -> None:
    """I run both clients and print what they saw."""
    url, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as stream:
        request = json.load(stream)
    print(json.dumps({"tritonclient": with_triton(url, request),
                      "kserve": asyncio.run(with_kserve(url, request))}))


if __name__ == "__main__":
    main()
