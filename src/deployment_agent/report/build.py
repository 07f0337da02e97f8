"""``deployment-agent report``: the log, the feedback and the reference sample, in one page.

I read what the service recorded (``data.py``), write it as a payload, and have
``render.py`` draw it with Evidently in the report's own environment
(``environment.py``). The reference sample is the manifest's ``reference_path`` (checked
against its sha256 at validate, like the model).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ..contract.errors import BuildError
from ..contract.manifest import load_manifest
from ..plan.layout import Layout
from ..plan.planner import read_context
from ..service.monitoring.parts import store_url_for
from ..service.monitoring.store import POSTGRES, Store
from . import data
from .environment import report_python


def write_report(layout: Layout, log_dir: Path, database_url: str | None, output: Path
                 ) -> str:
    """I write the report of the deployment of ``layout`` to ``output``; my summary."""
    if not log_dir.is_dir():
        raise BuildError(f"the inference log folder {log_dir} does not exist. Fix: give the "
                         "INFERENCE_LOG_DIR of the service (its volume), e.g. --log-dir "
                         "/var/lib/docker/volumes/<name>/_data/inference-log")
    context = read_context(layout)
    manifest = load_manifest(layout.manifest)
    url = store_url_for(str(log_dir), database_url)
    store = Store(url) if url.startswith(POSTGRES) or \
        Path(url.removeprefix("sqlite:///")).is_file() else None
    task, classes = context.model.task, context.model.classes
    rows = data.current(log_dir, store, task)
    series = data.quality_over_time(rows, task, classes)
    for row in rows:
        row.pop("answer", None)
    features = [f.name for f in context.features]
    payload = {
        "title": f"{context.api.title}: the model after deployment",
        "task": task, "classes": classes, "features": features,
        "numerical": [f.name for f in context.features if f.type in ("int", "float")],
        "categorical": [f.name for f in context.features if f.type in ("str", "bool")
                        or f.enum],
        "current": rows, "quality": series, "baseline": context.model.metrics,
        "reference_path": str(manifest.reference_file) if manifest.reference_file else None,
        "notes": [] if store is not None else [
            f"No prediction store at {url}: no outcome is joined."],
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    payload_file = output.with_suffix(".payload.json")
    payload_file.write_text(json.dumps(payload, default=str), encoding="utf-8")
    python = report_python(layout.state / "report-env")
    drawn = subprocess.run([str(python), str(Path(__file__).with_name("render.py")),
                            str(payload_file), str(output)], capture_output=True, text=True)
    payload_file.unlink(missing_ok=True)
    if drawn.returncode != 0:
        raise BuildError(f"the report could not be drawn: {drawn.stderr.strip()[-1500:]}")
    return (f"report of {len(rows)} logged records ({sum('target' in r for r in rows)} with "
            f"an outcome, {len(series)} hours) written to {output}")
