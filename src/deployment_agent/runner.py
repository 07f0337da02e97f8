"""The Python API: ``run_deployment_agent(...)`` does what ``doit generate`` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .contract.settings import load_settings
from .generate.generator import generate
from .plan.layout import layout_for
from .plan.planner import plan


def run(
    experiment_manifest_path: str | Path,
    *,
    api_title: str | None = None,
    api_version: str | None = None,
    output_dir: str | Path | None = None,
    settings_path: str | Path | None = None,
    build_dir: str | Path | None = None,
    **options: Any,
) -> tuple[Path, dict[str, Any]]:
    """Validate the manifest, compile the model, and generate its deployment.

    Args:
        experiment_manifest_path: the experiment manifest (JSON) of a trained model.
        api_title: the API's title (default: settings, else "<model name> API").
        api_version: the API's version (default: settings, "1.0.0").
        output_dir: where to write (default: ``deployment/`` beside the ``modeling/``
            folder that holds the manifest, e.g. ``artifacts/deployment``).
        settings_path: a settings YAML (default: ``config/settings.yaml`` when present).
        build_dir: where build state goes (default: ``<output_dir>-build``).
        **options: further settings, by keyword: ``enable_cors``, ``cors_origins``,
            ``port``, ``workers``, ``enable_monitoring``, ``enable_drift_detection``,
            ``drift_threshold``, ``base_image``, ``registry``, ``runtime``,
            ``model_runtime``.

    Returns:
        The deployment folder and its deployment manifest.

    Raises:
        DeploymentAgentError: with a message naming the problem and the fix.
    """
    from .compile.compiler import compile_model

    layout = layout_for(experiment_manifest_path, output_dir, build_dir)
    settings = load_settings(settings_path, api_title=api_title, api_version=api_version,
                             **options)
    plan(layout, settings)
    compile_model(layout)
    return layout.deployment, generate(layout)
