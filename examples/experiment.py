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


def _shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {key: round(count / total, 6) for key, count in counts.items()}


def decile_bins(values: np.ndarray) -> dict[str, list[float]] | None:
    """Decile edges of a numeric column and the share of values in each bin (the drift
    reference; ties can merge edges, then there are fewer bins)."""
    edges = sorted({round(float(e), 6) for e in np.quantile(values, np.linspace(0.1, 0.9, 9))})
    if not edges:
        return None
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    fractions = [round(float(c) / len(values), 6) for c in counts]
    fractions[-1] = round(1 - sum(fractions[:-1]), 6)
    return {"edges": edges, "fractions": fractions}


def feature_stats(columns: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each training column's statistics, the drift monitor's reference: mean, std, min,
    max and decile bins of a numeric column; the frequencies of a categorical or boolean
    one; the share of nulls."""
    stats: dict[str, dict[str, Any]] = {}
    for name, values in columns.items():
        arr = np.asarray(values)
        if arr.dtype.kind == "b":
            stats[name] = {"frequencies": _shares(
                {"true": int(arr.sum()), "false": int((~arr).sum())}), "null_rate": 0.0}
        elif arr.dtype.kind in "iuf":
            arr = arr.astype(float)
            present = arr[~np.isnan(arr)]
            stats[name] = {
                "mean": round(float(present.mean()), 6),
                "std": round(float(present.std()), 6),
                "min": round(float(present.min()), 6),
                "max": round(float(present.max()), 6),
                "null_rate": round(1 - len(present) / len(arr), 6),
                "bins": decile_bins(present),
            }
        else:
            present = [str(v) for v in arr.tolist() if v is not None and v == v]
            counts: dict[str, int] = {}
            for value in present:
                counts[value] = counts.get(value, 0) + 1
            stats[name] = {"frequencies": _shares(counts),
                           "null_rate": round(1 - len(present) / len(arr), 6)}
    return stats


def prediction_stats(model: Any, X: Any, classes: list[Any] | None) -> dict[str, Any]:
    """The distribution of the model's predictions on training data (drift reference)."""
    predicted = np.asarray(model.predict(X))
    if classes is None:
        return {"bins": decile_bins(predicted.astype(float))}
    counts = {str(c): int((predicted == c).sum()) for c in classes}
    return {"frequencies": _shares(counts)}


def write_reference(out_dir: Path, columns: dict[str, Any], target: str, y: Any,
                    name: str = "reference") -> dict[str, str]:
    """Write a reference sample (held-out rows with their target) as ``<name>.csv`` in
    ``out_dir``; the manifest fields that name it and its sha256."""
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.csv"
    pd.DataFrame({**columns, target: y}).to_csv(path, index=False)
    return {"reference_path": path.name,
            "reference_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def write_experiment(
    out_dir: Path, model: Any, model_type: str, manifest: dict[str, Any],
    name: str = "experiment_manifest",
) -> Path:
    """Save ``model`` in ``out_dir`` and write ``<name>.json`` beside it (the model file is
    ``model.*``, or ``<name>.*`` for another manifest name, so that experiments can share
    a folder)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "model" if name == "experiment_manifest" else name
    if model_type == "skops":
        model_file = out_dir / f"{stem}.skops"
        skops.io.dump(model, model_file)
    else:
        model_file = out_dir / f"{stem}.joblib"
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
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(full, indent=2) + "\n")
    print(f"wrote {model_file} and {path}")
    return path
