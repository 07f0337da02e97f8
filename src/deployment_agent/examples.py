"""The example experiments shipped in ``examples/``: each trains a model and writes a manifest."""

from __future__ import annotations

from pathlib import Path

from .layout import DEFAULT_MANIFEST

# name -> (training script, folder it writes model.* and experiment_manifest.json to)
EXAMPLES: dict[str, tuple[Path, Path]] = {
    "churn": (Path("examples/churn/train.py"), DEFAULT_MANIFEST.parent),
    "diabetes": (Path("examples/diabetes/train.py"),
                 Path("artifacts/examples/diabetes/modeling")),
    "iris_sites": (Path("examples/iris_sites/train.py"),
                   Path("artifacts/examples/iris_sites/modeling")),
}

