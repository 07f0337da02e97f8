"""msgspec's fast path and the generated pydantic models accept and refuse the same bodies.

For every shipped example's generated ``schemas.py``, hypothesis draws bodies near the
contract (``bodies.py``). Wherever msgspec accepts, pydantic accepts the same values, of
the same types. Wherever msgspec refuses and pydantic accepts, the body holds an integral
float for an integer feature (``35.0``), the one extension of strict validation the
generated models make; the service then takes pydantic's answer, so what it accepts and the
422s it returns are pydantic's exactly. The property test over random manifests
(``tests/generate/test_properties.py``) holds every generated model to the same.
"""

from __future__ import annotations

import collections
import importlib
import json
import os
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from bodies import agree, batch_bodies, bodies, pydantic_row
from conftest import Deployment
from helpers import forget_api
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from deployment_agent.service.decoding import fast_records

EXAMPLES = int(os.environ.get("DECODING_EXAMPLES", "400"))
FLAT = ("churn", "diabetes", "iris_sites")


@pytest.fixture(scope="module")
def schemas(deployments: dict[str, Deployment]) -> Iterator[dict[str, ModuleType]]:
    """Each example's generated ``schemas`` module, imported from its deployment."""
    found = {}
    for name, deployment in deployments.items():
        forget_api()
        root = str(deployment.layout.deployment)
        sys.path.insert(0, root)
        try:
            found[name] = importlib.import_module("api.schemas")
        finally:
            sys.path.remove(root)
    forget_api()
    yield found


def test_every_flat_model_has_a_fast_path_and_the_recommender_none(
        schemas: dict[str, ModuleType]) -> None:
    for name in FLAT:
        assert fast_records(schemas[name].PredictionRequest, schemas[name].BatchRequest)
    recommender = schemas["recommender"]
    assert fast_records(recommender.PredictionRequest, recommender.BatchRequest) is None


@pytest.mark.parametrize("name", FLAT)
def test_one_record_bodies_are_judged_alike(name: str, schemas: dict[str, ModuleType]
                                            ) -> None:
    module = schemas[name]
    fast = fast_records(module.PredictionRequest, module.BatchRequest)
    assert fast is not None

    outcomes: collections.Counter[str] = collections.Counter()

    @settings(max_examples=EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(bodies(module.PredictionRequest))
    def check(body: bytes) -> None:
        agree(module, fast, body)
        outcomes["fast" if fast.row(body) is not None else
                 "pydantic" if pydantic_row(module, body) is not None else "refused"] += 1

    check()
    # Not vacuous: bodies of every outcome were drawn, the valid ones mostly on msgspec.
    assert outcomes["fast"] > EXAMPLES // 20 and outcomes["refused"] > EXAMPLES // 20, outcomes


@pytest.mark.parametrize("name", FLAT)
def test_batch_bodies_are_judged_alike(name: str, schemas: dict[str, ModuleType]) -> None:
    module = schemas[name]
    fast = fast_records(module.PredictionRequest, module.BatchRequest)
    assert fast is not None
    limit = module.BatchRequest.model_fields["records"].metadata[-1].max_length

    @settings(max_examples=max(EXAMPLES // 4, 20), deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(batch_bodies(module.PredictionRequest, limit))
    def check(body: bytes) -> None:
        mine = fast.rows(body)
        try:
            theirs: list[Any] | None = list(map(
                module.ROW, module.BatchRequest.model_validate_json(body).records))
        except ValidationError:
            theirs = None
        if mine is not None:
            assert theirs is not None and mine == theirs, body[:300]

    check()


def test_the_known_difference_is_the_integral_float(schemas: dict[str, ModuleType]) -> None:
    module = schemas["churn"]
    fast = fast_records(module.PredictionRequest, module.BatchRequest)
    assert fast is not None
    body = json.dumps({**module.EXAMPLE_INPUT, "age": 35.0}).encode()
    assert fast.row(body) is None
    assert pydantic_row(module, body) == fast.row(
        json.dumps({**module.EXAMPLE_INPUT, "age": 35}).encode())
