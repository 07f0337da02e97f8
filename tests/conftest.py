"""Shared fixtures: real example models, their generated deployments, bentos and servers.

Everything is built once per test session in temporary folders (the repository's own
artifacts/ and bentos/ are never touched), from the same example training scripts the
README's main command runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# testcontainers on a machine with no registry: no Ryuk reaper (its image cannot be pulled;
# fixtures remove their containers), and reach published ports on 127.0.0.1 rather than a
# bridge gateway (this machine looks like a container to testcontainers).
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TC_HOST", "127.0.0.1")

from deployment_agent import run_deployment_agent
from deployment_agent.bento import build_bento
from deployment_agent.examples import EXAMPLES
from deployment_agent.layout import Layout, layout_for
from deployment_agent.render import ROOT
from deployment_agent.server import ServiceProcess


@dataclass(frozen=True)
class Deployment:
    """One example, generated: where it is and what the build recorded."""

    name: str
    layout: Layout
    manifest: dict[str, Any]

    @property
    def context(self) -> dict[str, Any]:
        return self.layout.context()


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
    script = ROOT / EXAMPLES[name][0]
    subprocess.run([sys.executable, str(script), str(out_dir)], check=True, capture_output=True)
    return out_dir / "experiment_manifest.json"


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
        _, record = run_deployment_agent(manifest, registry="deployment-agent-test")
        result[name] = Deployment(name, layout_for(manifest), record)
    return result


@pytest.fixture(scope="session")
def bento_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private BentoML store for the session."""
    return tmp_path_factory.mktemp("bentoml_home")


@pytest.fixture(scope="session")
def bentos(deployments: dict[str, Deployment], bento_home: Path) -> dict[str, str]:
    """Every example's deployment built with `bentoml build`: name -> bento tag."""
    return {name: build_bento(d.layout, bento_home)["tag"] for name, d in deployments.items()}


def load_model(deployment: Deployment) -> Any:
    """The example's model, loaded the way its manifest says (for reference predictions)."""
    import joblib
    import skops.io

    context = deployment.context
    path = deployment.layout.deployment / context["model"]["file"]
    return skops.io.load(path) if context["model"]["type"] == "skops" else joblib.load(path)


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def served(request: pytest.FixtureRequest, deployments: dict[str, Deployment],
           bentos: dict[str, str], bento_home: Path) -> Iterator[tuple[ServiceProcess,
                                                                      Deployment]]:
    """Each example's bento served by `bentoml serve` on a free 127.0.0.1 port."""
    name = request.param
    with ServiceProcess.bento(bentos[name], workers=1, home=bento_home) as server:
        server.wait_for("/health/ready", timeout=90)
        yield server, deployments[name]
