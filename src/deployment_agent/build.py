"""The build steps behind the doit tasks: validate a manifest, then generate the tree.

``validate`` writes the complete template context to ``context.json`` (rewriting it only
when it changed, so doit's checksums leave everything downstream up to date).
``generate`` renders every file into a staging folder beside the deployment, checks it
(ruff, byte-compilation, runbook completeness) and only then swaps it in whole: a failed
run leaves the previous good deployment untouched.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .errors import GenerationError
from .hashing import canonical_json, sha256_file, sha256_text
from .layout import Layout
from .manifest import load_manifest
from .modelfile import inspect_model
from .render import render, template_outputs
from .runbook import runbook_problems
from .settings import DeploymentSettings

# Swagger UI assets for an air-gapped /docs page, taken from the installed BentoML
# (located without importing it: that import alone takes about a second).
_BENTOML = importlib.util.find_spec("bentoml")
assert _BENTOML is not None and _BENTOML.origin is not None, "bentoml is not installed"
SWAGGER_DIR = Path(_BENTOML.origin).parent / "_internal" / "server" / "static_content"
STATIC_ASSETS = {
    "api/static/swagger-ui-bundle.js": SWAGGER_DIR / "swagger-ui-bundle.js",
    "api/static/swagger-ui.css": SWAGGER_DIR / "swagger-ui.css",
    "api/static/favicon.png": SWAGGER_DIR / "favicon-light-32x32.png",
}
# Files that make up the bento (and so its version hash); the rest are deployment docs.
BENTO_INPUTS = ("service.py", "bentofile.yaml", "requirements.txt", "api/", "model/", "docker/")
DEPLOYMENT_MANIFEST = "deployment_manifest.json"
RUFF_RULES = "E,F,W,I,B,UP"


def write_if_changed(path: Path, text: str) -> bool:
    """Write atomically unless the content is identical (keeps mtimes, so doit sees no change)."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8",
                                     suffix=".tmp") as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)
    return True


def read_history(layout: Layout) -> list[dict[str, Any]]:
    """The deployments generated so far for this output folder, oldest first."""
    if not layout.history_file.is_file():
        return []
    return json.loads(layout.history_file.read_text())


def validate(layout: Layout, settings: DeploymentSettings) -> dict[str, Any]:
    """Validate manifest, model and settings; write and return the template context."""
    from .context import build_context  # after the manifest checks: imports sklearn

    manifest = load_manifest(layout.manifest)
    info = inspect_model(manifest, settings.model.skops_trusted_types)
    context = build_context(manifest, settings, info, read_history(layout))
    write_if_changed(layout.context_file, canonical_json(context))
    return context


def _bento_version(files: dict[str, str], api_version: str) -> str:
    """``<api_version>-<hash of the bento's inputs>``: same inputs, same bento tag."""
    listing = "".join(f"{p} {h}\n" for p, h in sorted(files.items())
                      if p.startswith(BENTO_INPUTS))
    return f"{api_version}-{sha256_text(listing)[:10]}".lower()


def _format_and_check(staging: Path, context: dict[str, Any]) -> None:
    """Refuse a tree whose Python fails ruff or compilation, or whose runbook is incomplete."""
    problems = runbook_problems((staging / "runbook.md").read_text(), context)
    if problems:
        raise GenerationError("runbook.md is incomplete: " + "; ".join(problems))
    for path in sorted(staging.rglob("*.py")):
        try:
            compile(path.read_text(), str(path.relative_to(staging)), "exec")
        except SyntaxError as exc:
            raise GenerationError(f"generated {path.name} does not compile: {exc}") from None
    # Format first (the templates leave line wrapping of long literals to ruff), then lint.
    options = ["--no-cache", "--isolated", "--line-length=100", "--target-version=py311"]
    for command in (["format", *options, "."],
                    ["check", *options, f"--select={RUFF_RULES}", "."]):
        ruff = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=staging,
                              capture_output=True, text=True)
        if ruff.returncode != 0:
            raise GenerationError(f"generated code fails ruff {command[0]}:\n"
                                  f"{ruff.stdout}{ruff.stderr}")


def _keep_bento_dockerfile(old: Path, new: Path, bento_tag: str) -> None:
    """Carry the Dockerfile over when the bento is unchanged.

    The Dockerfile is not rendered here: ``doit bento`` writes the one BentoML builds the
    bento's image with. Same bento tag, same Dockerfile; a new tag gets a new one.
    """
    try:
        previous = json.loads((old / DEPLOYMENT_MANIFEST).read_text())["bento_tag"]
    except (OSError, ValueError, KeyError):
        return
    if previous == bento_tag and (old / "Dockerfile").is_file():
        shutil.copy2(old / "Dockerfile", new / "Dockerfile")


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with two renames (never a half-written tree)."""
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    if old.exists():
        shutil.rmtree(old)


def _record_history(layout: Layout, manifest: dict[str, Any]) -> None:
    """Append this deployment to the history unless its image is already the newest."""
    history = read_history(layout)
    if history and history[-1]["image_ref"] == manifest["image"]:
        return
    history.append({
        "api_version": manifest["api"]["version"],
        "image_ref": manifest["image"],
        "bento_tag": manifest["bento_tag"],
        "model_version": manifest["model"]["version"],
        "model_sha256": manifest["model"]["sha256"],
        "generated_at": manifest["generated_at"],
    })
    write_if_changed(layout.history_file, json.dumps(history, indent=2) + "\n")


def deployment_manifest(context: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    """What was generated, from what, with the hash of every file."""
    bento_tag = f"{context['api']['slug']}:{_bento_version(files, context['api']['version'])}"
    return {
        "api": {"title": context["api"]["title"], "version": context["api"]["version"]},
        "endpoints": context["endpoints"],
        "bento_tag": bento_tag,
        "image": context["image"]["ref"],
        "source_manifest": context["source_manifest"],
        "model": {
            "name": context["model"]["name"],
            "version": context["model"]["version"],
            "file": context["model"]["file"],
            "sha256": context["model"]["sha256"],
        },
        "files": dict(sorted(files.items())),
        "generator": context["generator"],
        "generated_at": context["build_time"],
    }


def generate(layout: Layout) -> dict[str, Any]:
    """Render the deployment from ``context.json``, check it, swap it in; return its manifest."""
    context = layout.context()
    target = layout.deployment
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    try:
        runtime = context["docker"]["runtime"]
        for rel in template_outputs():
            # The BentoML runtime's Dockerfile is BentoML's own, written by `doit bento`.
            if rel != DEPLOYMENT_MANIFEST and not (rel == "Dockerfile" and runtime == "bentoml"):
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                (staging / rel).write_text(render(rel, context), encoding="utf-8")
        for rel, source in {**STATIC_ASSETS,
                            context["model"]["file"]: Path(context["model_source"])}.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / rel)
        _format_and_check(staging, context)
        files = {p.relative_to(staging).as_posix(): sha256_file(p)
                 for p in sorted(staging.rglob("*")) if p.is_file()}
        if files[context["model"]["file"]] != context["model"]["sha256"]:
            raise GenerationError(
                f"{context['model_source']} changed since validation. Fix: run `doit` again"
            )
        manifest = deployment_manifest(context, files)
        (staging / DEPLOYMENT_MANIFEST).write_text(
            render(DEPLOYMENT_MANIFEST, {**context, "deployment_manifest": manifest})
        )
        if runtime == "bentoml":
            _keep_bento_dockerfile(target, staging, manifest["bento_tag"])
        _swap_in(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    _record_history(layout, manifest)
    return manifest
