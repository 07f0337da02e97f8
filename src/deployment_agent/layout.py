"""Where a build reads and writes: one :class:`Layout` per experiment manifest.

``artifacts/modeling/experiment_manifest.json`` deploys to ``artifacts/deployment/``;
any manifest inside a folder named ``modeling`` deploys to its sibling ``deployment``
folder, any other to a ``deployment`` folder beside it. Build state (the validated
context, the bento record, history) lives in a sibling ``deployment-build`` folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MANIFEST = Path("artifacts/modeling/experiment_manifest.json")
MANIFEST_ENV = "DEPLOYMENT_AGENT_MANIFEST"


@dataclass(frozen=True)
class Layout:
    """Paths of one build."""

    manifest: Path
    deployment: Path

    @property
    def state(self) -> Path:
        return self.deployment.parent / "deployment-build"

    @property
    def context_file(self) -> Path:
        return self.state / "context.json"

    def context(self) -> dict[str, Any]:
        """The validated template context (written by the validate step)."""
        return json.loads(self.context_file.read_text())

    @property
    def history_file(self) -> Path:
        return self.deployment.parent / "deployment_history.json"

    @property
    def bento_record(self) -> Path:
        return self.state / "bento.json"

    @property
    def image_record(self) -> Path:
        return self.state / "image.json"

    @property
    def wheelhouse(self) -> Path:
        return self.state / "wheelhouse"

    @property
    def smoke_report(self) -> Path:
        return self.state / "smoke.json"


def layout_for(manifest: str | Path | None = None, output_dir: str | Path | None = None) -> Layout:
    """The layout of ``manifest`` (default: env DEPLOYMENT_AGENT_MANIFEST, then the example)."""
    path = Path(manifest or os.environ.get(MANIFEST_ENV) or DEFAULT_MANIFEST)
    if output_dir:
        out = Path(output_dir)
    elif path.parent.name == "modeling":
        out = path.parent.parent / "deployment"
    else:
        out = path.parent / "deployment"
    return Layout(manifest=path, deployment=out)
