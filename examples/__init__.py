"""The example experiments of this repository: each trains a real scikit-learn model.

Each training script writes its model file and manifest into the folder given as its
argument (the upstream "modelling" step's output): ``model.*`` and
``experiment_manifest.json``, or, for the recommender, ``recommender.*`` and
``recommender.json`` (the seed's second example, beside the churn example's files).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent


class Example(NamedTuple):
    """A training script, the folder it writes to, and the manifest's file name there."""

    script: Path
    out_dir: Path
    manifest: str = "experiment_manifest.json"

    @property
    def target(self) -> Path:
        return self.out_dir / self.manifest


EXAMPLES: dict[str, Example] = {
    "churn": Example(Path("examples/churn/train.py"), Path("artifacts/modeling")),
    "diabetes": Example(Path("examples/diabetes/train.py"),
                        Path("artifacts/examples/diabetes/modeling")),
    "iris_sites": Example(Path("examples/iris_sites/train.py"),
                          Path("artifacts/examples/iris_sites/modeling")),
    "recommender": Example(Path("examples/recommender/train.py"), Path("artifacts/modeling"),
                           "recommender.json"),
}
# The examples that predict from one record (classification, regression).
PREDICTORS = ("churn", "diabetes", "iris_sites")
# The code every training script shares.
SHARED = [Path("examples/experiment.py")]
