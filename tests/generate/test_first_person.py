"""The seed asks that all generated code be commented in the first person: every module,
class and function of a generated service says what I do (and why, what I validate, how I
handle errors)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Deployment
from helpers import generate, undocumented


@pytest.mark.parametrize("runtime", ["bentoml", "uvicorn"])
def test_every_generated_module_class_and_function_speaks_in_the_first_person(
        deployments: dict[str, Deployment], experiments: dict[str, Path], tmp_path: Path,
        runtime: str) -> None:
    trees = [d.layout.deployment for d in deployments.values()]
    out, _ = generate(experiments["iris_sites"], output_dir=tmp_path / "d",
                                  runtime=runtime, model_runtime="native")
    trees.append(out)
    for tree in trees:
        assert undocumented(tree) == [], tree
