"""Write an experiment's model and manifest: the upstream "modelling" step's output.

Every example trains a real scikit-learn model and calls :func:`write_experiment`,
which records what the deployment agent needs: where the model is, how to load it,
the input schema, metrics and the exact library versions it was trained with.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
import skops.io


def created_at() -> str:
    """Training time, or SOURCE_DATE_EPOCH when set, so reruns can be reproducible."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def feature_stats(columns: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Mean, std, min and max of each numeric training column (the drift baseline)."""
    stats = {}
    for name, values in columns.items():
        arr = np.asarray(values)
        if arr.dtype.kind in "biuf":
            arr = arr.astype(float)
            arr = arr[~np.isnan(arr)]
            stats[name] = {
                "mean": round(float(arr.mean()), 6),
                "std": round(float(arr.std()), 6),
                "min": round(float(arr.min()), 6),
                "max": round(float(arr.max()), 6),
            }
    return stats


def write_experiment(
    out_dir: Path, model: Any, model_type: str, manifest: dict[str, Any]
) -> Path:
    """Save ``model`` in ``out_dir`` and write ``experiment_manifest.json`` beside it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if model_type == "skops":
        model_file = out_dir / "model.skops"
        skops.io.dump(model, model_file)
    else:
        model_file = out_dir / "model.joblib"
        joblib.dump(model, model_file)
    full = {
        "model_path": model_file.name,
        "model_type": model_type,
        **manifest,
        "model_sha256": hashlib.sha256(model_file.read_bytes()).hexdigest(),
        "framework_versions": {
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "joblib": joblib.__version__,
            "python": platform.python_version(),
            **({"skops": skops.__version__} if model_type == "skops" else {}),
        },
        "created_at": created_at(),
    }
    path = out_dir / "experiment_manifest.json"
    path.write_text(json.dumps(full, indent=2) + "\n")
    print(f"wrote {model_file} and {path}")
    return path
