"""The escaping filters: any text in, valid and faithful Python, YAML, Markdown, shell out."""

from __future__ import annotations

import ast
import shlex

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from manifests import HOSTILE, TEXT

from deployment_agent.generate.escape import (
    columns,
    doc,
    md_code,
    md_fence,
    py,
    shell,
    yaml_str,
)

NASTY = ['"""', "'''", "\\", "a\\nb", "{{ x }}", "#", ":", "`", "|", "é" * 150, "年" * 90,
         "x" * 500, "$HOME", "🚀" * 40, "\u00a0", "end\\"]
TEXTS = st.one_of(st.text(TEXT, max_size=300), st.sampled_from(NASTY + HOSTILE))


@settings(max_examples=500, deadline=None)
@given(TEXTS)
def test_python_literals_round_trip_within_the_line_length(text: str) -> None:
    source = f"VALUE = {py(text)}\n"
    assert ast.literal_eval(source.split("= ", 1)[1]) == text
    assert all(columns(line) <= 100 for line in source.splitlines())


@settings(max_examples=500, deadline=None)
@given(TEXTS)
def test_docstrings_compile_and_keep_every_word(text: str) -> None:
    body = doc(text, 4)
    source = f'def f() -> None:\n    """{body}"""\n'
    tree = ast.parse(source)
    docstring = ast.get_docstring(tree.body[0], clean=False)  # type: ignore[arg-type]
    assert docstring is not None
    assert "".join(docstring.split()) == "".join(text.split())
    assert all(columns(line) <= 100 for line in source.splitlines())


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_yaml_and_shell_round_trip(text: str) -> None:
    assert yaml.safe_load(f"key: {yaml_str(text)}\n")["key"] == text
    assert shlex.split(f"echo {shell(text)}")[1] == text
    assert shlex.split(f"curl -d {shell({'a': text})}")[2] == '{"a": ' + \
        __import__("json").dumps(text, ensure_ascii=False) + "}"


@pytest.mark.parametrize("text", ["plain", "a`b", "``x``", "`", "a|b", "  spaced  out "])
def test_code_spans_hold_any_backticks(text: str) -> None:
    from markdown_it import MarkdownIt

    span = md_code(text)
    inline = MarkdownIt("commonmark").parseInline(span)[0].children
    assert [t.type for t in inline] == ["code_inline"]
    assert inline[0].content == " ".join(text.split()).replace("|", "\\|")
    assert md_fence("a ```` b") == "`````" and md_fence("none") == "```"
