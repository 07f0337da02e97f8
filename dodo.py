"""The build graph, for developers working in this repository.

``doit`` trains the churn example, then validates, compiles, generates, bundles and
smoke-checks it; ``doit list`` shows every task. Another manifest: ``doit
manifest=PATH`` or DEPLOYMENT_AGENT_MANIFEST=PATH. The deployment tasks are declared in
:mod:`deployment_agent.graph`, which the ``deployment-agent`` command runs too; this file
adds the repository's own: the example experiments, the manifest schema, bench and tests.
"""

import sys

from doit import get_var

from deployment_agent import graph
from deployment_agent.steps import guarded, schema_step
from examples import EXAMPLES, SHARED

CONFIG = graph.BuildConfig.create(get_var("manifest", None))
DOIT_CONFIG = {**CONFIG.doit_config, "default_tasks": ["train_example", *graph.DEFAULT_TASKS]}
globals().update(graph.make_tasks(CONFIG))  # validate, compile, generate, bento, smoke, ...


def task_train_example():
    """Train an example model and write its experiment manifest (the modelling step)."""
    for name, (script, out_dir) in EXAMPLES.items():
        yield {
            "name": name,
            "actions": [f"{sys.executable} {script} {out_dir}"],
            "file_dep": [str(script), *map(str, SHARED)],
            "targets": [str(out_dir / "experiment_manifest.json")],
            "clean": True,
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
