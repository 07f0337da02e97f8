"""One exception class per build failure, each carrying the fix.

The message always names what is wrong (a file, a field path) and what to do about it,
so that ``doit`` can print it as-is and exit non-zero.
"""

from __future__ import annotations


class DeploymentAgentError(Exception):
    """Base class: ``str(error)`` is the complete, user-facing message."""


class ManifestError(DeploymentAgentError):
    """The experiment manifest is missing, unreadable or violates the contract."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid experiment manifest {path}:\n{lines}")


class ModelFileError(DeploymentAgentError):
    """The model file is missing, corrupt, tampered with or from another library version."""


class SettingsError(DeploymentAgentError):
    """config/settings.yaml or an environment override is invalid."""


class GenerationError(DeploymentAgentError):
    """A rendered file failed its checks; the previous deployment was kept."""


class BuildError(DeploymentAgentError):
    """``bentoml build`` (or another external build step) failed."""
