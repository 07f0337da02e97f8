"""Render the deployment tree from the Jinja2 templates in ``templates/`` and ``runbook/``.

Each ``templates/<path>.j2`` renders to ``<path>`` in the deployment; ``runbook.md``
includes every section template of ``runbook/`` in name order.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jinja2

ROOT = Path(__file__).resolve().parents[2]
# DEPLOYMENT_AGENT_HOME points to another folder holding templates/ and runbook/ (your
# own templates, or a copy under test); default: this repository.
HOME = Path(os.environ.get("DEPLOYMENT_AGENT_HOME") or ROOT)
TEMPLATES_DIR = HOME / "templates"
RUNBOOK_DIR = HOME / "runbook"
SUFFIX = ".j2"


def _tojson(value: Any, indent: int | None = None) -> str:
    """JSON without Jinja's HTML escaping (these files are code and config, not HTML)."""
    return json.dumps(value, indent=indent, ensure_ascii=False)


def pyliteral(value: Any) -> str:
    """A Python literal for JSON-like data (``True``/``None``, double-quoted strings)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{pyliteral(k)}: {pyliteral(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(pyliteral(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def environment() -> jinja2.Environment:
    """A strict environment: an undefined variable is an error, not an empty string."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([TEMPLATES_DIR, RUNBOOK_DIR]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["tojson"] = _tojson
    env.filters["py"] = pyliteral
    return env


def template_outputs() -> dict[str, Path]:
    """Generated file path (relative, POSIX) -> its template file."""
    return {
        path.relative_to(TEMPLATES_DIR).as_posix().removesuffix(SUFFIX): path
        for path in sorted(TEMPLATES_DIR.rglob(f"*{SUFFIX}"))
    }


def runbook_sections() -> list[Path]:
    """The runbook's section templates, in order."""
    return sorted(RUNBOOK_DIR.glob(f"*{SUFFIX}"))


def render(output: str, context: dict[str, Any]) -> str:
    """Render the template of one generated file."""
    env = environment()
    extra = {"runbook_sections": [p.name for p in runbook_sections()]}
    try:
        return env.get_template(f"{output}{SUFFIX}").render(**context, **extra)
    except jinja2.TemplateError as exc:
        where = getattr(exc, "filename", None) or f"{output}{SUFFIX}"
        line = getattr(exc, "lineno", None)
        raise jinja2.TemplateError(f"{where}{f':{line}' if line else ''}: {exc}") from exc
