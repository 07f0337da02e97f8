"""The pinned versions of what a generated service runs on, from one declared place.

That place is this distribution's own ``dependencies`` (pyproject.toml), read from its
installed metadata: the generated ``requirements.txt`` pins exactly the versions the
generator declares and is tested with, never whatever else happens to be installed.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import metadata

from .contract.errors import DeploymentAgentError

DISTRIBUTION = "deployment-agent"
EXTRA = re.compile(r'extra\s*==\s*"[^"]+"')
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^;\s]+)$")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def declared_pins() -> dict[str, str]:
    """``name -> version`` of every ``==`` dependency of this distribution: unconditional,
    or of one of its extras (``ray``'s pin is the Ray target's)."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        raise DeploymentAgentError(
            f"the {DISTRIBUTION} distribution is not installed, so its pinned dependencies "
            "are unknown. Fix: pip install deployment-agent (or `pip install -e .` in its "
            "repository)") from None
    pins = {}
    for requirement in requirements:
        pinned, _, marker = requirement.partition(";")
        match = PIN.match(pinned.strip())
        if match and (not marker or EXTRA.fullmatch(marker.strip())):
            pins.setdefault(_normal(match["name"]), match["version"])
    return pins


def pin(name: str) -> str:
    """The declared version of ``name``; an error naming it when it is not declared."""
    version = declared_pins().get(_normal(name))
    if version is None:
        raise DeploymentAgentError(
            f"{name} is not a pinned dependency of {DISTRIBUTION}. Fix: declare "
            f'"{name}==<version>" in pyproject.toml\'s dependencies')
    return version


def require_module(module: str, distribution: str) -> None:
    """Fail with a clear message when an importable dependency is missing."""
    from importlib.util import find_spec

    if find_spec(module) is None:
        raise DeploymentAgentError(
            f"the package {distribution} (module {module}) is not installed. Fix: "
            f"pip install '{distribution}=={pin(distribution)}', or reinstall "
            f"{DISTRIBUTION}, which declares it")
