"""The package's data files: templates, runbook sections, schemas shipped for validation.

They are found through :mod:`importlib.resources`, so an installed wheel works from any
folder. ``DEPLOYMENT_AGENT_TEMPLATES`` points to another templates folder (your own, or a
copy under test) laid out like the packaged one. Standard library only: doit reads the
template list when it loads the task graph.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

TEMPLATES_ENV = "DEPLOYMENT_AGENT_TEMPLATES"
SUFFIX = ".j2"


def package_path(*parts: str) -> Path:
    """A data file or folder of the installed package, as a filesystem path."""
    resource = files("deployment_agent").joinpath(*parts)
    return Path(str(resource))


def templates_dir() -> Path:
    """The templates root: ``common/``, ``serving/<runtime>/``, ``models/<runtime>/``,
    ``runbook/``."""
    override = os.environ.get(TEMPLATES_ENV)
    return Path(override) if override else package_path("templates")


def template_files() -> list[Path]:
    """Every template file (a dependency of the generate step)."""
    return sorted(templates_dir().rglob(f"*{SUFFIX}"))


def source_files() -> list[Path]:
    """The generator's own Python modules (a dependency of the steps that run them)."""
    return sorted(package_path().rglob("*.py"))


def overlays(serving: str, model: str) -> list[str]:
    """Template folders in lookup order: the runtimes' overlays first, then common."""
    return [f"serving/{serving}", f"models/{model}", "common", "."]


def outputs(serving: str, model: str) -> dict[str, str]:
    """Generated file path (relative, POSIX) -> the template that renders it. An overlay's
    file replaces common's; names starting with ``_`` are partials, not outputs."""
    root = templates_dir()
    found: dict[str, str] = {}
    for folder in reversed(overlays(serving, model)[:-1]):
        base = root / folder
        for path in sorted(base.rglob(f"*{SUFFIX}")):
            rel = path.relative_to(base)
            if not any(part.startswith("_") for part in rel.parts):
                found[rel.as_posix().removesuffix(SUFFIX)] = rel.as_posix()
    return dict(sorted(found.items()))
