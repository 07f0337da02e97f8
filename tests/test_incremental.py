"""Incremental builds equal clean ones: a stateful property test of the doit graph.

Hypothesis applies random sequences of edits to a real project (settings, the variables
REGISTRY, API_VERSION and WORKERS, a manifest field, the model's bytes, a template, the
bento's removal), runs a random target incrementally, and compares what it produced (the
deployment folder, the plan and the records) with a clean build of the same inputs in a
fresh folder. Clean builds are cached by their inputs: the same inputs always build the
same thing, which is what this test claims.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any
from unittest import mock

import joblib
import numpy as np
import pytest
import sklearn
from conftest import report
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sklearn.linear_model import LogisticRegression

from deployment_agent.cli import run_doit
from deployment_agent.graph import BuildConfig
from deployment_agent.plan.layout import layout_for
from deployment_agent.resources import TEMPLATES_ENV, runbook_dir, templates_dir

pytestmark = pytest.mark.slow
SEQUENCES = int(os.environ.get("INCREMENTAL_SEQUENCES", "150"))
FEATURES = {"age": {"type": "int", "minimum": 0}, "income": "float", "active": "bool"}
# What each target writes last, for the comparison (the deployment folder for generate).
TARGETS = ("validate", "compile", "generate", "bento")
ENVIRONMENT = {"REGISTRY": ("", "127.0.0.1:5000/ml"), "API_VERSION": ("1.0.0", "1.1.0"),
               "WORKERS": ("1", "3")}
TEMPLATE = "runbook/07_contacts.md.j2"
SETTINGS = ("", "monitoring:\n  drift_threshold: 0.2\n")
NAMES = ("churn-lr", "churn-lr-2")
TALLY: collections.Counter[str] = collections.Counter()
# One edit: an input (a variable, the settings file, the manifest's model name, the model
# file's bytes, a template) set to one of its two values, or the bento removed.
INPUTS = (*ENVIRONMENT, "settings", "name", "model", "template")
EDITS = st.one_of(st.tuples(st.sampled_from(INPUTS), st.integers(0, 1)),
                  st.just(("remove the bento", 0)))


def models(folder: Path) -> list[bytes]:
    """Two real fitted models of the same schema, as joblib bytes."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 90, 200), rng.normal(size=200),
                         rng.integers(0, 2, 200)])
    y = (X[:, 1] > 0).astype(int)
    found = []
    for c in (1.0, 0.01):
        joblib.dump(LogisticRegression(C=c).fit(X, y), folder / "m.joblib")
        found.append((folder / "m.joblib").read_bytes())
    return found


class Project:
    """One project folder: a manifest, its model, the settings file and the templates."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "modeling").mkdir(parents=True)
        self.templates = root / "templates"
        shutil.copytree(templates_dir(), self.templates)
        shutil.copytree(runbook_dir(), self.templates / "runbook")
        self.settings = root / "settings.yaml"

    def write(self, state: dict[str, Any], model: bytes) -> None:
        """Make the project's inputs say ``state`` (only what changed is rewritten)."""
        files = {self.root / "modeling" / "model.joblib": model,
                 self.settings: SETTINGS[state["settings"]].encode(),
                 self.root / "modeling" / "experiment_manifest.json": json.dumps({
                     "model_path": "model.joblib", "model_type": "sklearn",
                     "model_name": NAMES[state["name"]], "model_version": "1",
                     "task": "classification", "classes": [0, 1], "input_schema": FEATURES,
                     "framework_versions": {"scikit-learn": sklearn.__version__},
                     "created_at": "2026-01-01T00:00:00Z"}).encode()}
        original = (runbook_dir() / TEMPLATE.removeprefix("runbook/")).read_text()
        files[self.templates / TEMPLATE] = (original + (
            "\nAsk the model's owners first.\n" if state["template"] else "")).encode()
        for path, data in files.items():
            if not path.is_file() or path.read_bytes() != data:
                path.write_bytes(data)

    def build(self, state: dict[str, Any], target: str) -> int:
        """Run doit on ``target`` in process, with the state's environment."""
        env = {name: ENVIRONMENT[name][state[name]] for name in ENVIRONMENT}
        config = BuildConfig.create(self.root / "modeling" / "experiment_manifest.json",
                                    settings_file=str(self.settings))
        with mock.patch.dict(os.environ, {**env, TEMPLATES_ENV: str(self.templates),
                                          "DEPLOYMENT_AGENT_BENTOS": str(self.root / "bentoml")}):
            return run_doit(config, ["run", target])

    @property
    def deployment(self) -> Path:
        return layout_for(self.root / "modeling" / "experiment_manifest.json").deployment

    @property
    def state_folder(self) -> Path:
        return layout_for(self.root / "modeling" / "experiment_manifest.json").state

    def outputs(self, target: str) -> dict[str, str]:
        """What ``target`` produced: relative paths -> sha256."""
        files: list[Path] = [self.state_folder / "context.json"]
        if target != "validate":
            files.append(self.state_folder / "compiled" / "gate.json")
        if target in ("generate", "bento"):
            files += [p for p in sorted(self.deployment.rglob("*")) if p.is_file()]
            files.append(self.state_folder / "generated.json")
        if target == "bento":
            files.append(self.state_folder / "bento.json")
        found = {}
        for path in files:
            found[str(path.relative_to(self.root))] = hashlib.sha256(
                path.read_bytes()).hexdigest()
        return found


class IncrementalEqualsClean(RuleBasedStateMachine):
    """Random edits, random targets; after each build, the incremental result equals a
    clean build of the same inputs."""

    workspace: Path
    model_bytes: list[bytes]
    clean: dict[str, dict[str, str]]

    @initialize()
    def start(self) -> None:
        self.project = Project(self.workspace / "project")
        self.state: dict[str, Any] = {"settings": 0, "name": 0, "model": 0, "template": 0,
                                      **{name: 0 for name in ENVIRONMENT}}
        self.built: str | None = None

    def teardown(self) -> None:
        """Each sequence starts from a fresh project."""
        shutil.rmtree(self.project.root, ignore_errors=True)

    @rule(edits=st.lists(EDITS, max_size=3), goal=st.sampled_from(TARGETS))
    def edit_then_build(self, edits: list[tuple[str, int]], goal: str) -> None:
        """Apply the edits (an input set to one of its two values, or the bento
        removed from the store), then build ``goal`` incrementally."""
        for name, value in edits:
            if name == "remove the bento":
                shutil.rmtree(self.project.root / "bentoml" / "bentos", ignore_errors=True)
            else:
                self.state[name] = value
        self.project.write(self.state, self.model_bytes[self.state["model"]])
        assert self.project.build(self.state, goal) == 0
        self.built = goal

    @invariant()
    def equals_a_clean_build(self) -> None:
        if self.built is None:
            return
        key = json.dumps([self.state, self.built], sort_keys=True)
        if key not in self.clean:
            # The clean build runs at the same path (absolute paths are part of what a
            # build writes, in the runbook for one): the incremental project steps aside.
            root = self.project.root
            aside = root.with_name(f"{root.name}-aside")
            root.rename(aside)
            try:
                fresh = Project(root)
                fresh.write(self.state, self.model_bytes[self.state["model"]])
                assert fresh.build(self.state, self.built) == 0
                self.clean[key] = fresh.outputs(self.built)
            finally:
                shutil.rmtree(root)
                aside.rename(root)
        found = self.project.outputs(self.built)
        TALLY[self.built] += 1
        assert found == self.clean[key], {k: (v, self.clean[key].get(k)) for k, v in
                                          found.items() if self.clean[key].get(k) != v}
        self.built = None


def test_incremental_builds_equal_clean_ones(tmp_path: Path) -> None:
    TALLY.clear()
    IncrementalEqualsClean.workspace = tmp_path
    IncrementalEqualsClean.model_bytes = models(tmp_path)
    IncrementalEqualsClean.clean = {}
    run_state_machine_as_test(IncrementalEqualsClean, settings=settings(
        max_examples=SEQUENCES, stateful_step_count=2, deadline=None, derandomize=True,
        database=None, suppress_health_check=list(HealthCheck)))
    report(f"incremental equals clean: {SEQUENCES} sequences, {sum(TALLY.values())} "
           f"incremental builds compared ({dict(TALLY)}) with "
           f"{len(IncrementalEqualsClean.clean)} clean builds")
    assert set(TALLY) == set(TARGETS)  # every target was built and compared
