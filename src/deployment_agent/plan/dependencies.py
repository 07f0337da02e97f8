"""The model's own libraries, pinned: what the image must install so that the file loads.

Each module the model file references (:mod:`.references`) is mapped to the distribution
that provides it, and pinned at the version ``framework_versions`` records for it, else at
the version installed here (the one the build verifies the model with). Their
dependencies are pinned too, at the versions installed here, so that the image scores with
the same libraries the build checked. A referenced module that is not installed is an
error: its version, and whether the model even loads, would be unknown.
"""

from __future__ import annotations

import re
import sys
from functools import cache
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import Requirement

from ..contract.errors import ModelFileError

# Distributions served by another build of the same release: the image has no GPU, and
# XGBoost's default wheel drags CUDA's NCCL (~300 MB) along. name -> (substitute, the
# dependencies only the original needs, by prefix).
SUBSTITUTES: dict[str, tuple[str, tuple[str, ...]]] = {"xgboost": ("xgboost-cpu", ("nvidia-",))}
# Modules that no environment can import from a file: defined in the training script.
UNIMPORTABLE = ("__main__", "__mp_main__")


def normal(name: str) -> str:
    """A distribution's canonical name (PEP 503): ``Scikit_Learn`` -> ``scikit-learn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def _module_distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def distribution_of(module: str) -> str | None:
    """The installed distribution providing top-level ``module`` (None: the standard
    library, or not installed)."""
    if module in sys.stdlib_module_names or module == "builtins":
        return None
    found = _module_distributions().get(module, [])
    if not found:
        raise ModelFileError(
            f"the model references the module {module!r}, which is not installed here, so "
            "the build can neither verify the model nor pin the version the image needs. "
            f"Fix: pip install the library that provides {module!r} (at the version the "
            "model was trained with) into the environment that runs the build")
    names = [normal(d) for d in found]
    return next((n for n in names if n in SUBSTITUTES), names[0])


def _dependencies(name: str, environment: dict[str, str]) -> list[str]:
    """The unconditional dependencies of installed ``name`` (markers evaluated here)."""
    names = []
    for line in metadata.requires(name) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(
                {**environment, "extra": ""}):
            names.append(normal(requirement.name))
    return names


def pinned(modules: set[str], trained: dict[str, str]) -> dict[str, str]:
    """``distribution -> version`` of the libraries ``modules`` need, with their
    dependencies: the versions of ``trained`` (framework_versions, by distribution or
    module name) for the libraries themselves, the installed ones for the rest."""
    for module in sorted(modules & set(UNIMPORTABLE)):
        raise ModelFileError(
            f"the model references objects defined in {module} (the training script "
            "itself), which no service can import. Fix: define those functions or classes "
            "in an importable module, install it, and save the model again")
    recorded = {normal(k): v for k, v in trained.items()}
    direct = {}
    for module in sorted(modules):
        name = distribution_of(module)
        if name is not None:
            direct[name] = recorded.get(name) or recorded.get(normal(module)) or \
                _installed(name) or ""
    environment = dict(default_environment())
    pins: dict[str, str] = {}
    todo = list(direct)
    while todo:
        name = todo.pop()
        if name in pins:
            continue
        version = direct.get(name) or _installed(name)
        if version is None:
            continue  # a dependency not installed here is left to the resolver
        pins[name] = version
        todo += _dependencies(name, environment)
    for original, (substitute, only_original) in SUBSTITUTES.items():
        if original in pins:
            pins[substitute] = pins.pop(original)
            pins = {n: v for n, v in pins.items() if not n.startswith(only_original)}
    return dict(sorted(pins.items()))


def mismatched(pins: dict[str, str]) -> list[str]:
    """The pinned libraries whose installed version differs (the build cannot verify the
    model as the image will run it)."""
    found = []
    for name, version in pins.items():
        original = next((o for o, (s, _) in SUBSTITUTES.items() if s == name), name)
        installed = _installed(name) or _installed(original)
        if installed is not None and installed != version:
            found.append(f"{name} {version} (installed: {installed})")
    return found
