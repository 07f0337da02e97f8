"""What user-supplied text may contain: any printable Unicode, nothing that cannot be written.

Names and labels (features, enum values, classes, model name and version, title) reach
Python, YAML, JSON, Markdown and Dockerfiles. The renderers escape everything else, but
two things cannot be rendered faithfully anywhere: control characters in a one-line name
(a newline inside a column name) and lone surrogates (not encodable as UTF-8). Both are
refused at the contract, with the position of the offending character.
"""

from __future__ import annotations

import unicodedata

# Control characters, lone surrogates, and the Unicode line and paragraph separators
# (which YAML and some Markdown renderers read as line breaks).
REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
KINDS = {"Cc": "a control character", "Cs": "a lone surrogate", "Zl": "a line separator",
         "Zp": "a paragraph separator"}
# Descriptions may span lines.
MULTILINE_ALLOWED = frozenset({"\n", "\t"})


def check_text(value: str, multiline: bool = False) -> str | None:
    """Why ``value`` cannot be used as text, or None when it can."""
    for position, char in enumerate(value):
        if multiline and char in MULTILINE_ALLOWED:
            continue
        category = unicodedata.category(char)
        if category in REFUSED_CATEGORIES:
            where = "text" if multiline else "printable text on one line"
            return (f"character {position + 1} is {KINDS[category]} (U+{ord(char):04X}); "
                    f"it must be {where}")
    return None
