"""The package's data files: templates, runbook sections, schemas shipped for validation.

The templates and the runbook's sections live at the repository's top level
(``templates/``, ``runbook/``) and install as ``deployment_agent.templates`` and
``deployment_agent.runbook`` (pyproject.toml maps them).

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


def data_path(package: str) -> Path:
    """A data-only subpackage of the installed package (``templates``, ``runbook``), as a
    filesystem path: the repository's top-level folder in an editable install, the
    package's folder in a wheel."""
    return Path(str(files(f"deployment_agent.{package}")))


def templates_dir() -> Path:
    """The templates root: ``common/``, ``serving/<runtime>/``, ``k8s/``."""
    override = os.environ.get(TEMPLATES_ENV)
    return Path(override) if override else data_path("templates")


def runbook_dir() -> Path:
    """The runbook's section templates (``runbook/`` of DEPLOYMENT_AGENT_TEMPLATES when it
    is set: a copy under test carries its own)."""
    override = os.environ.get(TEMPLATES_ENV)
    return Path(override) / "runbook" if override else data_path("runbook")


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
    """Every template file, the runbook's included (a dependency of the generate step)."""
    return [root / rel for root in (templates_dir(), runbook_dir())
            for rel in _walk(str(root), SUFFIX)]


def source_files() -> list[Path]:
    """The generator's own Python modules (a dependency of the steps that run them)."""
    root = package_path()
    return [root / rel for rel in _walk(str(root), ".py")]


# The service's modules every deployment carries, copied verbatim from service/ into api/
# (with the family's scoring module as api/scoring.py, the serving runtime's patches and
# entrypoint, and a recommender's module). Only api/settings.py, api/schemas.py and the
# data files beside them (SPEC_FILE, DRIFT_FILE) are generated.
SERVICE_MODULES = ("answers.py", "app.py", "coalescing.py", "decoding.py", "digest.py",
                   "errors.py", "fast_lane.py", "frames.py", "health.py",
                   "inference_protocol.py", "logs.py", "main.py", "metrics.py",
                   "middleware.py", "model_loader.py", "outputs.py", "patches.py",
                   "predictor.py", "probe.py", "security.py", "spec.py", "tensors.py",
                   "threads.py", "monitoring/__init__.py", "monitoring/drift.py",
                   "monitoring/feedback.py", "monitoring/inference_log.py",
                   "monitoring/parts.py", "monitoring/quality.py", "monitoring/sinks.py",
                   "monitoring/store.py")
SPEC_FILE = "api/model_spec.json"
DRIFT_FILE = "api/drift_reference.json"


def scoring_module(family: str) -> str:
    """The service module that scores models of ``family`` (skops files are
    scikit-learn models)."""
    return "scoring_sklearn" if family == "skops" else f"scoring_{family}"


def copied_paths(family_scoring: str, serving: str, recommends: bool) -> dict[str, str]:
    """Deployment path -> the file of service/ (or package/) it is a copy of."""
    paths = {f"api/{name}": f"service/{name}" for name in SERVICE_MODULES}
    paths["api/scoring.py"] = f"service/{family_scoring}.py"
    paths["api/serve.py"] = f"service/serve_{serving}.py"
    paths["api/runtime_patches.py"] = f"service/patches_{serving}.py"
    paths["service.py"] = "service/bento_service.py"
    paths["docker/slim_rootfs.py"] = "package/slim_rootfs.py"
    if recommends:
        paths["api/recommender.py"] = "service/recommender.py"
    return paths


def overlays(serving: str) -> list[str]:
    """Template folders in lookup order: the serving runtime's overlay first, then common."""
    return [f"serving/{serving}", "common", "."]


def outputs(serving: str) -> dict[str, str]:
    """Generated file path (relative, POSIX) -> the template that renders it. An overlay's
    file replaces common's; names starting with ``_`` are partials, not outputs."""
    every = _walk(str(templates_dir()), SUFFIX)
    found: dict[str, str] = {}
    for folder in reversed(overlays(serving)[:-1]):
        prefix = f"{folder}/"
        for path in every:
            rel = path.removeprefix(prefix)
            partial = any(p.startswith("_") and not p.startswith("__") for p in rel.split("/"))
            if path.startswith(prefix) and not partial:
                found[rel.removesuffix(SUFFIX)] = rel
    return dict(sorted(found.items()))
