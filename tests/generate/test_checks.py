"""The checks a generated tree must pass: a complete, specific runbook; Python that
compiles and passes ruff."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import Deployment

from deployment_agent.contract.errors import GenerationError
from deployment_agent.generate.checks import REQUIRED_SECTIONS, check_python, runbook_problems
from deployment_agent.resources import package_path


def test_runbook_is_complete_and_specific(deployments: dict[str, Deployment]) -> None:
    for deployment in deployments.values():
        text = (deployment.layout.deployment / "runbook.md").read_text()
        assert runbook_problems(text, deployment.context) == []
        for section in REQUIRED_SECTIONS:
            assert section in text


def test_runbook_check_finds_missing_and_empty_sections(
        deployments: dict[str, Deployment]) -> None:
    deployment = deployments["churn"]
    text = (deployment.layout.deployment / "runbook.md").read_text()
    rollback_start = text.index("## 6. Rollback")
    contacts_start = text.index("## 7. Contacts")
    emptied = text[:rollback_start] + "## 6. Rollback\n\n" + text[contacts_start:]
    assert runbook_problems(emptied, deployment.context) == ["section 'Rollback' is empty"]
    problems = runbook_problems(text.replace("## 3. Health checks", "## 3. Other"),
                                deployment.context)
    assert "section 'Health checks' is missing" in problems


def test_python_that_breaks_is_refused(tmp_path: Path) -> None:
    shutil.copyfile(package_path("generate", "ruff.toml"), tmp_path / "ruff.toml")
    (tmp_path / "ok.py").write_text('"""I am fine."""\n\nVALUE = 1\n')
    check_python(tmp_path, ["ok.py"])
    (tmp_path / "long.py").write_text(f'"""I am too long."""\n\nX = "{"x" * 120} y"\n')
    with pytest.raises(GenerationError, match="E501"):
        check_python(tmp_path, ["ok.py"])  # copied files are linted too
    (tmp_path / "long.py").write_text("def broken(:\n")
    with pytest.raises(GenerationError, match="does not compile"):
        check_python(tmp_path, [])


def test_rendered_modules_are_formatted_and_copied_ones_left_as_they_are(
        tmp_path: Path) -> None:
    shutil.copyfile(package_path("generate", "ruff.toml"), tmp_path / "ruff.toml")
    text = '"""I am laid out my own way."""\n\nVALUE = {"a":1}\n'
    (tmp_path / "rendered.py").write_text(text)
    (tmp_path / "copied.py").write_text(text)
    check_python(tmp_path, ["rendered.py"])
    assert (tmp_path / "rendered.py").read_text().endswith('VALUE = {"a": 1}\n')
    assert (tmp_path / "copied.py").read_text() == text
