"""Render the deployment's files from the packaged Jinja2 templates.

The templates folder holds ``common/`` (every deployment) and one overlay per serving
runtime (``serving/bentoml``, ``serving/uvicorn``); the runbook's sections have their own
folder, loaded as ``runbook/<name>``.
``<path>.j2`` in common or an overlay renders to ``<path>`` in the deployment; an overlay
file replaces the common one of the same path. Files and folders whose name starts with
``_`` are partials, included by other templates and not rendered on their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from ..resources import SUFFIX, overlays, runbook_dir, templates_dir
from .escape import FILTERS
from .pysource import FUNCTIONS


def environment(serving: str) -> jinja2.Environment:
    """A strict environment: an undefined variable is an error, not an empty string."""
    root = templates_dir()
    env = jinja2.Environment(
        # The overlays by relative path; the runbook's sections as ``runbook/<name>``.
        loader=jinja2.ChoiceLoader([
            jinja2.PrefixLoader({"runbook": jinja2.FileSystemLoader(str(runbook_dir()))}),
            jinja2.FileSystemLoader([str(root / folder) for folder in overlays(serving)]),
        ]),
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
    """The runbook's section templates, in order (``_`` partials are included by them)."""
    return sorted(f"runbook/{p.name}" for p in runbook_dir().glob(f"*{SUFFIX}")
                  if not p.name.startswith("_"))


def render(env: jinja2.Environment, template: str, namespace: dict[str, Any]) -> str:
    """Render one template, naming the template and line of any error."""
    try:
        return env.get_template(template).render(**namespace)
    except jinja2.TemplateError as exc:
        where = getattr(exc, "filename", None) or template
        line = getattr(exc, "lineno", None)
        raise jinja2.TemplateError(f"{Path(where).name}{f':{line}' if line else ''}: {exc}") \
            from exc
