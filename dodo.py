"""The build graph, for developers working in this repository.

``doit`` trains the churn example, then validates, compiles, generates, bundles and
smoke-checks it; ``doit list`` shows every task. Another manifest: ``doit
manifest=PATH`` or DEPLOYMENT_AGENT_MANIFEST=PATH. The deployment tasks are declared in
:mod:`deployment_agent.graph`, which the ``deployment-agent`` command runs too; this file
adds the repository's own: the example experiments, the manifest schema, bench and tests.
"""

import sys
from pathlib import Path

from doit import get_var

from deployment_agent import graph
from deployment_agent.steps import export_step, guarded, schema_step
from examples import EXAMPLES, SHARED

CONFIG = graph.BuildConfig.create(get_var("manifest", None))
DOIT_CONFIG = {**CONFIG.doit_config,
               "default_tasks": ["train_example", *graph.DEFAULT_TASKS, "bentos"]}
BENTOS = Path("bentos")
globals().update(graph.make_tasks(CONFIG))  # validate, compile, generate, bento, smoke, ...


def task_train_example():
    """Train an example model and write its experiment manifest (the modelling step)."""
    for name, example in EXAMPLES.items():
        yield {
            "name": name,
            "actions": [f"{sys.executable} {example.script} {example.out_dir}"],
            "file_dep": [str(example.script), *map(str, SHARED)],
            "targets": [str(example.target)],
            "clean": True,
        }


def task_bentos():
    """Export the smoke-checked bento into bentos/ (`bentoml import` restores it)."""
    layout = CONFIG.layout

    def current() -> bool:
        from deployment_agent.package.bento import exported
        from deployment_agent.plan import records

        return records.exists(layout, records.Bento) and exported(
            BENTOS, records.read(layout, records.Bento).tag).is_file()

    return {
        "actions": [guarded(export_step, layout, BENTOS)],
        "task_dep": ["smoke"],
        "uptodate": [current],
    }


def task_schema():
    """Export the experiment manifest contract as JSON Schema (docs/)."""
    target = "docs/experiment_manifest.schema.json"
    return {
        "actions": [guarded(schema_step, target)],
        "file_dep": ["src/deployment_agent/contract/manifest.py"],
        "targets": [target],
    }


def task_bench():
    """Benchmark serving and build against baselines measured in the same run (bench/)."""
    return {
        "actions": [f"scripts/with-docker.sh {sys.executable} -m bench"],
        "task_dep": ["smoke"],
        "uptodate": [False],
        "verbosity": 2,
    }


def task_test():
    """Run the fast test suite (the README's command runs the whole suite)."""
    return {"actions": [f"{sys.executable} -m pytest -q -m 'not docker and not server "
                        "and not slow'"], "uptodate": [False], "verbosity": 2}
