"""The seed asks that all generated code be commented in the first person: every module,
class and function of a generated service says what I do (and why, what I validate, how I
handle errors)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import Deployment
from helpers import generate

FIRST_PERSON = re.compile(r"\b(I|I'm|me|my|mine)\b")


def undocumented(tree: Path) -> list[str]:
    """Every module, class and function (nested ones included) without a first-person
    docstring."""
    missing = []
    for path in sorted(tree.rglob("*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"))
        nodes = [module, *(n for n in ast.walk(module) if isinstance(
            n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))]
        for node in nodes:
            docstring = ast.get_docstring(node) or ""
            if not FIRST_PERSON.search(docstring):
                name = getattr(node, "name", "(module)")
                missing.append(f"{path.relative_to(tree)}:{name}")
    return missing


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
