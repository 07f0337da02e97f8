"""Checks a rendered tree must pass before it replaces the deployment.

The Python must compile and pass ``ruff format`` and ``ruff check``; the runbook must have
every section, none empty, and name this service's specifics (image, model version, the
example request, every feature).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ..contract.errors import GenerationError
from ..plan.context import Context
from .escape import md_code, shell

REQUIRED_SECTIONS: tuple[str, ...] = (
    "Service overview",
    "Starting the service",
    "Health checks",
    "Key metrics and thresholds",
    "Troubleshooting",
    "Rollback",
    "Contacts and references",
    "Security",
    "Kubernetes",
)
# The deployment's ruff configuration (copied into it as ruff.toml): the same rules apply
# wherever ruff runs.
RUFF_CONFIG = "ruff.toml"


def _outside_code_blocks(text: str) -> str:
    """``text`` without its fenced code blocks (a ``## `` line inside one is no heading)."""
    kept: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        opening = re.match(r"^(`{3,})", line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None:
            if line.startswith(fence) and not line.strip("`"):
                fence = None
        else:
            kept.append(line)
    return "\n".join(kept)


def sections(text: str) -> dict[str, str]:
    """``## N. Title`` headings -> the text under them (up to the next ``## ``)."""
    parts = re.split(r"^## (?:\d+\.\s*)?(.+)$", _outside_code_blocks(text),
                     flags=re.MULTILINE)
    return {title.strip(): body.strip() for title, body in zip(parts[1::2], parts[2::2],
                                                                strict=True)}


def runbook_problems(text: str, context: Context) -> list[str]:
    """What is missing from the runbook; empty when it is complete."""
    found = sections(text)
    problems = [f"section '{s}' is missing" for s in REQUIRED_SECTIONS if s not in found]
    problems += [f"section '{s}' is empty" for s in REQUIRED_SECTIONS if s in found
                 and not found[s]]
    specifics = {
        "the image tag": context.image.ref,
        "the model version": md_code(context.model.version),
        "the example request": shell(context.request_example),
        "the Open Inference Protocol example": shell(context.protocol_example),
        **{f"feature {f.name!r}": md_code(f.name) for f in context.features},
    }
    problems += [f"{what} is not mentioned" for what, needle in specifics.items()
                 if needle not in text]
    return problems


def check_runbook(text: str, context: Context) -> None:
    problems = runbook_problems(text, context)
    if problems:
        raise GenerationError("runbook.md is incomplete: " + "; ".join(problems[:10]))


def check_python(tree: Path, rendered: list[str], config: Path | str = RUFF_CONFIG) -> None:
    """Compile every module, sort the imports of the ``rendered`` ones and format them
    with ruff (in place), then lint the whole tree with its own ``ruff.toml`` (or
    ``config``: the deployment's, for a tree beside it). The copied
    service modules are only linted: they stay byte for byte what the deployment agent
    tests."""
    for path in sorted(tree.rglob("*.py")):
        try:
            compile(path.read_text(encoding="utf-8"), str(path.relative_to(tree)), "exec")
        except SyntaxError as exc:
            raise GenerationError(f"generated {path.relative_to(tree)} does not compile: "
                                  f"{exc}") from None
    options = ["--no-cache", "--config", str(config)]
    layout = [["check", *options, "--select=I", "--fix", *rendered],
              ["format", *options, *rendered]] if rendered else []
    for command in [*layout, ["check", *options, "."]]:
        ruff = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=tree,
                              capture_output=True, text=True)
        if ruff.returncode != 0:
            raise GenerationError(f"generated code fails ruff {command[0]}:\n"
                                  f"{ruff.stdout[-4000:]}{ruff.stderr[-2000:]}")
