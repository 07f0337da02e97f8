"""The history of deployments generated into one folder: what a rollback goes back to."""

from __future__ import annotations

import json
from typing import Any

from ..generate.files import write_if_changed
from .layout import Layout


def read_history(layout: Layout) -> list[dict[str, Any]]:
    """The deployments generated so far for this output folder, oldest first."""
    if not layout.history_file.is_file():
        return []
    return json.loads(layout.history_file.read_text(encoding="utf-8"))


def record(layout: Layout, entry: dict[str, Any]) -> None:
    """Append a deployment, or update the newest one when it is the same image."""
    history = read_history(layout)
    if history and history[-1]["image_ref"] == entry["image_ref"]:
        if history[-1] == {**history[-1], **entry}:
            return
        history[-1] = {**history[-1], **entry}
    else:
        history.append(entry)
    write_if_changed(layout.history_file, json.dumps(history, indent=2, ensure_ascii=False)
                     + "\n")
