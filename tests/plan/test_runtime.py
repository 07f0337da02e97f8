"""The runtime seam: requirement pins come from one declared place, per runtime, and the
model's own libraries from the model file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from deployment_agent.contract.errors import DeploymentAgentError
from deployment_agent.plan.runtime import BENTOML, NATIVE, ONNX, UVICORN, requirements
from deployment_agent.stack import declared_pins, pin

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


def test_pins_are_this_distributions_declared_dependencies() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    lines = [*project["dependencies"], *(line for extra in project["optional-dependencies"]
                                         .values() for line in extra)]
    expected: dict[str, str] = {}
    for line in lines:  # the unconditional pins first: an extra never overrides them
        name, equals, version = line.partition("==")
        if equals:
            expected.setdefault(name.split("[")[0].lower(), version)
    assert declared_pins() == expected
    with pytest.raises(DeploymentAgentError, match='declare "tensorflow==<version>"'):
        pin("tensorflow")


def test_each_runtime_adds_only_what_it_imports() -> None:
    model = {"scikit-learn": "1.9.1", "numpy": "2.4.6", "pandas": "3.1.1", "joblib": "1.6.0"}
    bento_native = requirements(BENTOML, NATIVE, model)
    uvicorn_onnx = requirements(UVICORN, ONNX, model)
    names = {line.split("==")[0] for line in bento_native}
    assert {"bentoml", "kantoku", "scikit-learn", "pandas", "httptools", "uvloop",
            "pydantic-settings", "numpy"} <= names
    onnx_names = {line.split("==")[0] for line in uvicorn_onnx}
    assert {"onnxruntime", "numpy"} <= onnx_names
    assert not onnx_names & {"bentoml", "scikit-learn", "scipy", "pandas", "joblib"}
    assert all(line == f"{line.split('==')[0]}=={pin(line.split('==')[0])}"
               for line in uvicorn_onnx)


def test_the_model_libraries_keep_their_training_versions() -> None:
    lines = requirements(BENTOML, NATIVE, {"scikit-learn": "1.8.0", "numpy": "2.3.0"})
    assert "scikit-learn==1.8.0" in lines and "numpy==2.3.0" in lines
    assert f"fastapi=={pin('fastapi')}" in lines


def test_postgresql_s_driver_ships_only_when_the_build_names_such_a_store() -> None:
    """The prediction store is SQLite (Python's own) unless the build's
    monitoring.feedback.database_url is a PostgreSQL URL: then the image needs psycopg."""
    plain = {line.split("==")[0] for line in requirements(UVICORN, ONNX, {})}
    assert not plain & {"psycopg", "psycopg-binary", "sqlalchemy"}
    assert "cloudevents" in plain and "httpx" not in plain
    shared = {line.split("==")[0] for line in requirements(UVICORN, ONNX, {}, postgres=True)}
    assert shared - plain == {"psycopg", "psycopg-binary"}
