"""The Python API: ``run_deployment_agent(...)`` runs the same doit graph as ``doit`` and
``deployment-agent deploy``, so that a build from Python, from the command line and from
``dodo.py`` are one build, with one incremental state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The graph's tasks a Python build runs: through the smoke check (the service, served from
# an environment made only from its locked wheels, passed every check), or generation only.
CHECKED = ["validate", "compile", "generate", "bento", "wheelhouse", "smoke"]
GENERATED = ["validate", "compile", "generate"]


def run(
    experiment_manifest_path: str | Path,
    *,
    api_title: str | None = None,
    api_version: str | None = None,
    output_dir: str | Path | None = None,
    settings_path: str | Path | None = None,
    build_dir: str | Path | None = None,
    smoke: bool = True,
    **options: Any,
) -> tuple[Path, dict[str, Any]]:
    """Validate the manifest, compile the model, generate its deployment, and (unless
    ``smoke`` is False) build the bento and check the service in the environment its
    image will have.

    Args:
        experiment_manifest_path: the experiment manifest (JSON) of a trained model.
        api_title: the API's title (default: settings, else "<model name> API").
        api_version: the API's version (default: settings, "1.0.0").
        output_dir: where to write (default: ``deployment/`` beside the ``modeling/``
            folder that holds the manifest, e.g. ``artifacts/deployment``;
            ``deployment-<name>/`` for a manifest not named ``experiment_manifest.json``).
        settings_path: a settings YAML (default: ``config/settings.yaml`` when present).
        build_dir: where build state goes (default: ``<output_dir>-build``).
        smoke: also build the bento, lock its wheels and serve it from a virtualenv made
            only from them, checking every endpoint: the build is done only when the
            service can serve. False stops after generation.
        **options: further settings, by keyword: ``enable_cors``, ``cors_origins``,
            ``port``, ``workers``, ``enable_monitoring``, ``enable_drift_detection``,
            ``drift_threshold``, ``base_image``, ``registry``, ``runtime``,
            ``model_runtime``.

    Returns:
        The deployment folder and its deployment manifest.

    Raises:
        DeploymentAgentError: with a message naming the problem and the fix; the previous
        deployment is left in place.
    """
    from .cli import run_doit
    from .contract.errors import DeploymentAgentError
    from .graph import BuildConfig
    from .steps import FAILED

    config = BuildConfig.create(experiment_manifest_path, output_dir, build_dir, settings_path,
                                api_title=api_title, api_version=api_version, **options)
    FAILED.clear()
    code = run_doit(config, ["run", *(CHECKED if smoke else GENERATED)])
    if code != 0:
        if FAILED:
            raise FAILED[0]
        raise DeploymentAgentError(f"the build of {experiment_manifest_path} failed (doit "
                                   f"exit {code}); its output above says where")
    deployment = config.layout.deployment
    return deployment, json.loads((deployment / "deployment_manifest.json").read_text(
        encoding="utf-8"))
