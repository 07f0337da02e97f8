"""The package's data files: templates, runbook sections, schemas shipped for validation.

They are found through :mod:`importlib.resources`, so an installed wheel works from any
folder. ``DEPLOYMENT_AGENT_TEMPLATES`` points to another templates folder (your own, or a
copy under test) laid out like the packaged one. Standard library only: doit reads the
template list when it loads the task graph.
"""

from __future__ import annotations

import functools
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


@functools.cache
def _walk(root: str, suffix: str) -> tuple[str, ...]:
    """Every file under ``root`` ending in ``suffix``, relative (POSIX), sorted; listed once
    per process with ``os.walk`` (doit lists them on every run, even a no-op one)."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        rel = os.path.relpath(folder, root)
        found += [name if rel == "." else f"{rel}/{name}".replace(os.sep, "/")
                  for name in names if name.endswith(suffix)]
    return tuple(sorted(found))


def template_files() -> list[Path]:
    """Every template file (a dependency of the generate step)."""
    root = templates_dir()
    return [root / rel for rel in _walk(str(root), SUFFIX)]


def source_files() -> list[Path]:
    """The generator's own Python modules (a dependency of the steps that run them)."""
    root = package_path()
    return [root / rel for rel in _walk(str(root), ".py")]


def overlays(serving: str, model: str) -> list[str]:
    """Template folders in lookup order: the runtimes' overlays first, then common."""
    return [f"serving/{serving}", f"models/{model}", "common", "."]


def outputs(serving: str, model: str) -> dict[str, str]:
    """Generated file path (relative, POSIX) -> the template that renders it. An overlay's
    file replaces common's; names starting with ``_`` are partials, not outputs."""
    every = _walk(str(templates_dir()), SUFFIX)
    found: dict[str, str] = {}
    for folder in reversed(overlays(serving, model)[:-1]):
        prefix = f"{folder}/"
        for path in every:
            rel = path.removeprefix(prefix)
            if path.startswith(prefix) and not any(p.startswith("_") for p in rel.split("/")):
                found[rel.removesuffix(SUFFIX)] = rel
    return dict(sorted(found.items()))
