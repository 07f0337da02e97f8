"""The build graph: experiment manifest -> deployment -> bento -> served and checked.

Run ``doit`` for everything (on the churn example), ``doit list`` for the tasks.
Pick another manifest with ``doit manifest=PATH`` or DEPLOYMENT_AGENT_MANIFEST=PATH.
"""

import sys

from doit import get_var
from doit.tools import config_changed

from deployment_agent import __version__, tasks
from deployment_agent.examples import EXAMPLES
from deployment_agent.layout import layout_for
from deployment_agent.render import ROOT, RUNBOOK_DIR, TEMPLATES_DIR, template_outputs
from deployment_agent.settings import DEFAULT_SETTINGS, env_overrides

DOIT_CONFIG = {
    "default_tasks": ["train_example", "validate", "generate", "bento", "smoke"],
    "verbosity": 2,
    "action_string_formatting": "new",
}

LAYOUT = layout_for(get_var("manifest", None))
GENERATOR = sorted(str(p) for p in (ROOT / "src" / "deployment_agent").glob("*.py"))
TEMPLATES = sorted(str(p) for p in [*TEMPLATES_DIR.rglob("*.j2"), *RUNBOOK_DIR.glob("*.j2")])


def task_train_example():
    """Train an example model and write its experiment manifest (the modelling step)."""
    for name, (script, out_dir) in EXAMPLES.items():
        yield {
            "name": name,
            "actions": [f"{sys.executable} {script} {out_dir}"],
            "file_dep": [str(script), "examples/experiment.py"],
            "targets": [str(out_dir / "experiment_manifest.json")],
            "clean": True,
        }


def task_validate():
    """Validate the manifest, its model file and the settings; write the template context."""
    return {
        "actions": [tasks.guarded(tasks.validate, LAYOUT)],
        "file_dep": [str(LAYOUT.manifest), str(DEFAULT_SETTINGS), *GENERATOR],
        "targets": [str(LAYOUT.context_file)],
        "uptodate": [
            config_changed({"env": env_overrides(), "generator": __version__}),
            tasks.model_unchanged(LAYOUT),
        ],
        "clean": True,
    }


def task_generate():
    """Render the deployment from the templates, check it, and swap it in whole."""
    outputs = [str(LAYOUT.deployment / rel) for rel in template_outputs()]
    return {
        "actions": [tasks.guarded(tasks.generate, LAYOUT)],
        "file_dep": [str(LAYOUT.context_file), *TEMPLATES, *GENERATOR],
        "targets": outputs,
    }


def task_bento():
    """Build the deployment into a bento in bentos/ (BENTOML_HOME)."""
    return {
        "actions": [tasks.guarded(tasks.bento, LAYOUT)],
        "task_dep": ["generate"],
        "uptodate": [tasks.bento_current(LAYOUT)],
        "targets": [str(LAYOUT.bento_record)],
    }


def task_base_image():
    """Make the base image available: present, pulled, or built from Debian packages."""
    return {
        "actions": [tasks.guarded(tasks.base_image, LAYOUT)],
        "file_dep": [str(LAYOUT.context_file)],
        "uptodate": [tasks.base_image_present(LAYOUT)],
    }


def task_wheelhouse():
    """Build the pinned, hashed wheelhouse of requirements.txt for offline image builds."""
    return {
        "actions": [tasks.guarded(tasks.wheelhouse, LAYOUT)],
        "file_dep": [str(LAYOUT.deployment / "requirements.txt")],
        "uptodate": [tasks.wheelhouse_present(LAYOUT)],
        "targets": [str(LAYOUT.wheelhouse / "requirements.lock.txt")],
    }


def task_containerize():
    """`bentoml containerize` the bento into the API's image (offline, --network=none)."""
    return {
        "actions": [tasks.guarded(tasks.containerize, LAYOUT)],
        "task_dep": ["bento", "base_image", "wheelhouse"],
        "uptodate": [tasks.image_current(LAYOUT)],
        "targets": [str(LAYOUT.image_record)],
    }


def task_smoke():
    """Serve the bento on a free local port, check every endpoint, then stop it."""
    return {
        "actions": [tasks.guarded(tasks.smoke, LAYOUT)],
        "task_dep": ["bento"],
        "uptodate": [tasks.smoke_current(LAYOUT)],
        "targets": [str(LAYOUT.smoke_report)],
    }


def task_serve():
    """Serve the built bento in the foreground on the configured host and port (PORT)."""
    return {
        "actions": [tasks.guarded(tasks.serve, LAYOUT)],
        "task_dep": ["bento"],
        "uptodate": [False],
        "verbosity": 2,
    }


def task_schema():
    """Export the experiment manifest contract as JSON Schema (docs/)."""
    return {
        "actions": [tasks.guarded(tasks.export_schema, "docs/experiment_manifest.schema.json")],
        "file_dep": ["src/deployment_agent/manifest.py"],
        "targets": ["docs/experiment_manifest.schema.json"],
    }


def task_bench():
    """Benchmark serving and build against baselines measured in the same run (bench/)."""
    return {
        "actions": [f"scripts/with-docker.sh {sys.executable} bench/run.py"],
        "task_dep": ["smoke"],
        "uptodate": [False],
        "verbosity": 2,
    }


def task_test():
    """Run the fast test suite (add `-m docker` via pytest for the container suite)."""
    return {"actions": [f"{sys.executable} -m pytest -q"], "uptodate": [False], "verbosity": 2}
