"""Render the deployment's files from the packaged Jinja2 templates.

The templates folder holds ``common/`` (every deployment), one overlay per serving runtime
(``serving/bentoml``, ``serving/uvicorn``) and per model runtime (``models/sklearn``,
``models/onnx``), and the runbook's sections (``runbook/``). ``<path>.j2`` in common or an
overlay renders to ``<path>`` in the deployment; an overlay file replaces the common one
of the same path. Files and folders whose name starts with ``_`` are partials, included
by other templates and not rendered on their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from ..resources import SUFFIX, overlays, templates_dir
from .escape import FILTERS
from .pysource import FUNCTIONS


def environment(serving: str, model: str) -> jinja2.Environment:
    """A strict environment: an undefined variable is an error, not an empty string."""
    root = templates_dir()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(root / folder) for folder in
                                        overlays(serving, model)]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    env.globals.update(FUNCTIONS)
    return env


def runbook_sections() -> list[str]:
    """The runbook's section templates, in order."""
    return sorted(f"runbook/{p.name}" for p in (templates_dir() / "runbook").glob(f"*{SUFFIX}"))


def render(env: jinja2.Environment, template: str, namespace: dict[str, Any]) -> str:
    """Render one template, naming the template and line of any error."""
    try:
        return env.get_template(template).render(**namespace)
    except jinja2.TemplateError as exc:
        where = getattr(exc, "filename", None) or template
        line = getattr(exc, "lineno", None)
        raise jinja2.TemplateError(f"{Path(where).name}{f':{line}' if line else ''}: {exc}") \
            from exc
