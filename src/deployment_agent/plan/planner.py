"""The validate step: manifest, model and settings in; the typed plan (context.json) out."""

from __future__ import annotations

from typing import Any

from ..contract.manifest import load_manifest
from ..generate.files import write_if_changed
from ..hashing import sha256_file
from .context import Context, build_context
from .history import read_history
from .inspection import inspect_model
from .layout import Layout


def plan(layout: Layout, settings: Any) -> Context:
    """Validate the manifest, its model file and the settings; write and return the plan.

    ``context.json`` is rewritten only when it changed, so that doit's checksums leave
    every later step up to date.
    """
    manifest = load_manifest(layout.manifest)
    catalogue = manifest.catalog_file
    info = inspect_model(manifest, list(settings.model.skops_trusted_types),
                         sha256_file(catalogue) if catalogue is not None else "")
    context = build_context(manifest, settings, info, read_history(layout))
    write_if_changed(layout.context_file, context.model_dump_json(indent=2) + "\n")
    return context


def read_context(layout: Layout) -> Context:
    """The plan written by the validate step."""
    return Context.model_validate_json(layout.context_file.read_text(encoding="utf-8"))
