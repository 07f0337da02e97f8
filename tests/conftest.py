"""Shared fixtures: real example models, their generated deployments, bentos and servers.

Everything is built once per test session in temporary folders (the repository's own
artifacts/ and bentos/ are never touched), from the same example training scripts the
README's main command runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import generate

# testcontainers on a machine with no registry: no Ryuk reaper (its image cannot be pulled;
# fixtures remove their containers), and reach published ports on 127.0.0.1 rather than a
# bridge gateway (this machine looks like a container to testcontainers).
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TC_HOST", "127.0.0.1")

from deployment_agent.package.bento import build
from deployment_agent.plan.context import Context
from deployment_agent.plan.layout import Layout, layout_for
from deployment_agent.plan.planner import read_context
from deployment_agent.verify.server import ServiceProcess
from examples import EXAMPLES, PREDICTORS

# The smoke checks' virtualenvs (one per lock of wheels) and the wheels of each set of
# requirements are shared by the whole run (pip resolves each set once), in folders made
# for it and removed at its end, unless the caller named their own.
SHARED = {"DEPLOYMENT_AGENT_ENVS": "deployment-agent-envs-",
          "DEPLOYMENT_AGENT_WHEELS": "deployment-agent-wheels-"}
MADE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    for variable, prefix in SHARED.items():
        if variable not in os.environ:
            os.environ[variable] = tempfile.mkdtemp(prefix=prefix)
            MADE.append(os.environ[variable])


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in MADE:
        shutil.rmtree(folder, ignore_errors=True)


ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Deployment:
    """One example, generated: where it is and what the build recorded."""

    name: str
    layout: Layout
    manifest: dict[str, Any]

    @property
    def context(self) -> Context:
        return read_context(self.layout)

    @property
    def bento_store(self) -> Path:
        return self.layout.bento_store


# Figures measured by the acceptance tests, printed at the end of the run.
FIGURES: list[str] = []


def report(figure: str) -> None:
    """Record a measured figure for the end-of-run summary (and print it)."""
    FIGURES.append(figure)
    print(figure)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("measured figures")
        for figure in FIGURES:
            terminalreporter.write_line(figure)


def train(name: str, out_dir: Path) -> Path:
    """Run an example's training script; return its manifest."""
    example = EXAMPLES[name]
    subprocess.run([sys.executable, str(ROOT / example.script), str(out_dir)], check=True,
                   capture_output=True)
    return out_dir / example.manifest


@pytest.fixture(scope="session")
def experiments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example trained for real into a temporary folder: name -> manifest."""
    root = tmp_path_factory.mktemp("experiments")
    return {name: train(name, root / name / "modeling") for name in EXAMPLES}


@pytest.fixture(scope="session")
def deployments(experiments: dict[str, Path]) -> dict[str, Deployment]:
    """Every example's deployment, generated through the public Python API."""
    result = {}
    for name, manifest in experiments.items():
        # A registry prefix keeps the tests' images apart from images built by `doit`.
        _, record = generate(manifest, registry="deployment-agent-test")
        result[name] = Deployment(name, layout_for(manifest), record)
    return result


@pytest.fixture(scope="session")
def bentos(deployments: dict[str, Deployment]) -> dict[str, str]:
    """Every example's deployment built with `bentoml build`: name -> bento tag."""
    return {name: build(d.layout).tag for name, d in deployments.items()}


def load_model(deployment: Deployment) -> Any:
    """The example's trained model, loaded the way its manifest says (the reference)."""
    import joblib
    import skops.io

    context = deployment.context
    path = Path(context.model_source)
    return skops.io.load(path) if context.model.type == "skops" else joblib.load(path)


@pytest.fixture(scope="module", params=sorted(PREDICTORS))
def served(request: pytest.FixtureRequest, deployments: dict[str, Deployment],
           bentos: dict[str, str]) -> Iterator[tuple[ServiceProcess, Deployment]]:
    """Each example's bento served by `bentoml serve` on a free 127.0.0.1 port."""
    name = request.param
    deployment = deployments[name]
    with ServiceProcess.bento(bentos[name], deployment.bento_store, workers=1) as server:
        server.wait_for("/health/ready", timeout=90)
        yield server, deployment
