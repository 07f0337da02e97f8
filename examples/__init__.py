"""The example experiments of this repository: each trains a real scikit-learn model.

Each training script writes ``model.*`` and ``experiment_manifest.json`` into the folder
given as its argument (the upstream "modelling" step's output).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
# name -> (training script, folder it writes model.* and experiment_manifest.json to)
EXAMPLES: dict[str, tuple[Path, Path]] = {
    "churn": (Path("examples/churn/train.py"), Path("artifacts/modeling")),
    "diabetes": (Path("examples/diabetes/train.py"),
                 Path("artifacts/examples/diabetes/modeling")),
    "iris_sites": (Path("examples/iris_sites/train.py"),
                   Path("artifacts/examples/iris_sites/modeling")),
}
# The code every training script shares.
SHARED = [Path("examples/experiment.py")]
