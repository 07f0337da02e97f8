"""deployment-agent: experiment manifest -> tested BentoML + FastAPI prediction service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["__version__", "run_deployment_agent"]


def run_deployment_agent(
    experiment_manifest_path: str | Path, **options: Any
) -> tuple[Path, dict[str, Any]]:
    """Generate the deployment for a manifest; see :func:`deployment_agent.runner.run`."""
    from .runner import run  # imported lazily: `import deployment_agent` stays cheap

    return run(experiment_manifest_path, **options)
