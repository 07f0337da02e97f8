"""Render user text safely into Python, YAML, JSON, Markdown and shell commands.

Every user string (title, model name and version, feature names and descriptions, enum
values, class labels) reaches a generated file only through one of these filters. Each
escapes what its target language would interpret and wraps what would make a line too
long for ruff, whatever the input: quotes, backslashes, ``\"\"\"``, ``{{ }}``, ``#``, ``:``,
``|``, backticks, wide Unicode characters. The property tests feed them hundreds of
random manifests.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any
from urllib.parse import quote

import jinja2
import yaml

# Display columns of one string chunk (ruff measures lines in columns: wide characters
# take two). A chunk sits inside code indented by at most ~24 columns: within 100.
CHUNK_COLUMNS = 56
DOC_COLUMNS = 72


def columns(text: str) -> int:
    """Display width of ``text`` as ruff measures it, counting every non-ASCII character as
    two columns (an upper bound: East Asian wide characters and emoji take two)."""
    return sum(1 if ord(ch) < 128 else 2 for ch in text)


def _chunks(text: str, limit: int, cost: Any) -> list[str]:
    """``text`` cut into pieces whose ``cost`` stays within ``limit`` (at least one char)."""
    pieces: list[str] = []
    current, used = "", 0
    for ch in text:
        width = cost(ch)
        if current and used + width > limit:
            pieces.append(current)
            current, used = "", 0
        current += ch
        used += width
    if current or not pieces:
        pieces.append(current)
    return pieces


def py_str(text: str) -> str:
    """A Python string literal of ``text``; long ones become a parenthesised implicit
    concatenation of short literals, which ruff leaves within the line length."""
    literal = repr(text)
    if columns(literal) <= CHUNK_COLUMNS:
        return literal
    parts = _chunks(text, CHUNK_COLUMNS - 2, lambda ch: columns(repr(ch)[1:-1]))
    return "(\n" + "\n".join(repr(part) for part in parts) + "\n)"


def py(value: Any) -> str:
    """A Python literal of JSON-like data (``True``/``None``, wrapped strings)."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # raises: a template asked for a value the context does not have
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(py(v) for v in value) + "]"
    if isinstance(value, str):
        return py_str(value)
    if isinstance(value, float):
        return repr(value)
    return repr(value)


def doc(text: str, indent: int = 0) -> str:
    """``text`` as lines of a docstring: wrapped, with backslashes and quotes escaped (so
    no ``\"\"\"`` ends the docstring early), control characters replaced by spaces, and
    every line after the first indented by ``indent`` spaces."""
    words = [w for w in re.split(r"\s+", text) if w]
    budget = DOC_COLUMNS - indent

    def cost(ch: str) -> int:
        return columns(ch) * (2 if ch in '\\"' else 1)

    lines: list[str] = []
    current = ""
    for word in words:
        for piece in _chunks(word, budget, cost):
            candidate = f"{current} {piece}" if current else piece
            if current and sum(map(cost, candidate)) > budget:
                lines.append(current)
                candidate = piece
            current = candidate
    lines.append(current)
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    return ("\n" + " " * indent).join(escaped)


def yaml_str(value: Any) -> str:
    """A YAML scalar (double-quoted string with escapes, or a plain number/boolean)."""
    if isinstance(value, str):
        dumped = yaml.safe_dump(value, default_style='"', allow_unicode=True, width=10**9)
        return dumped.strip()
    return json.dumps(value)


# What can start markup inside a line (or a table cell): escaped with a backslash.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!])")


def md(text: Any) -> str:
    """Inline Markdown text: markup characters (``|`` included, for tables) escaped."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def md_code(text: Any) -> str:
    """An inline code span of ``text`` that no backtick or ``|`` inside it can break."""
    flat = " ".join(str(text).split()) if str(text).strip() else str(text)
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat.strip() else ""
    return f"{fence}{pad}{flat.replace('|', chr(92) + '|')}{pad}{fence}"


def md_fence(*texts: str) -> str:
    """A code-block fence longer than any backtick run in ``texts`` (at least three)."""
    longest = max((len(run) for text in texts for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def shell(value: Any) -> str:
    """A single shell word: JSON for data, quoted so that no character is interpreted."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return shlex.quote(text)


def url_segment(text: Any) -> str:
    """One URL path segment: every character that is not unreserved percent-encoded
    (``/`` included, so that a model name stays one segment in the docs' URLs), and the
    dots of ``.`` or ``..``, which clients would otherwise resolve as a path step."""
    segment = quote(str(text), safe="")
    return segment.replace(".", "%2E") if segment in (".", "..") else segment


def json_text(value: Any, indent: int | None = None) -> str:
    """JSON without Jinja's HTML escaping (these files are code and config, not HTML)."""
    return json.dumps(value, indent=indent, ensure_ascii=False)


def yaml_document(data: Any) -> str:
    """A YAML document of ``data``: block style, keys in order, any text escaped."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


FILTERS = {"py": py, "doc": doc, "yaml": yaml_str, "yaml_document": yaml_document, "md": md,
           "md_code": md_code, "shell": shell, "tojson": json_text, "url_segment": url_segment}
