"""Real models of every family and task, as a modelling step hands them over.

Each case trains a model here, saves it in its family's format (a joblib pickle, XGBoost's
JSON, LightGBM's text model, CatBoost's .cbm, an ONNX file), writes the experiment manifest,
and keeps the model in memory: :meth:`Case.expected` answers records with the library
itself, the reference the served predictions are compared with.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import catboost
import joblib
import lightgbm
import numpy as np
import xgboost
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

NAMES = ["tenure", "spend", "visits", "score", "age"]
SCHEMA = {name: {"type": "float", "minimum": -10, "maximum": 10} for name in NAMES}


@dataclass
class Case:
    """One trained model: its manifest, and the library's own answers to records."""

    manifest: Path
    answer: Callable[[np.ndarray], list[dict[str, Any]]]
    task: str

    def expected(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The trained model's answers to ``records``, computed by its own library."""
        features = json.loads(self.manifest.read_text())["input_schema"]
        return self.answer(np.array([[r[n] for n in features] for r in records], dtype=float))


def data(n: int = 600, classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n, len(NAMES), n_informative=3, n_classes=classes,
                               random_state=0)
    return np.clip(X, -10, 10), y


def classified(model: Any, labels: list[Any]) -> Callable[[np.ndarray], list[dict[str, Any]]]:
    """Answers of a classifier whose predict_proba columns are ``labels``."""

    def answer(X: np.ndarray) -> list[dict[str, Any]]:
        proba = np.asarray(model.predict_proba(X), dtype=float)
        return [{"prediction": labels[int(np.argmax(p))],
                 "probabilities": {str(c): float(v) for c, v in zip(labels, p, strict=True)}}
                for p in proba]

    return answer


def regressed(predict: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray],
                                                                 list[dict[str, Any]]]:
    return lambda X: [{"prediction": float(v)} for v in np.ravel(predict(X))]


def manifest(folder: Path, model_file: str, model_type: str, **fields: Any) -> Path:
    path = folder / "experiment_manifest.json"
    sha = hashlib.sha256((folder / model_file).read_bytes()).hexdigest()
    body = {"model_path": model_file, "model_type": model_type, "model_sha256": sha,
            "model_name": f"{model_type}-model", "input_schema": SCHEMA,
            "example_input": {n: 0.5 for n in NAMES},
            "framework_versions": {"xgboost": xgboost.__version__,
                                   "lightgbm": lightgbm.__version__,
                                   "catboost": catboost.__version__}, **fields}
    path.write_text(json.dumps(body, indent=1))
    return path


def xgboost_pickle(folder: Path) -> Case:
    X, y = data()
    model = make_pipeline(StandardScaler(), xgboost.XGBClassifier(n_estimators=30,
                                                                  max_depth=3)).fit(X, y)
    joblib.dump(model, folder / "model.joblib")
    return Case(manifest(folder, "model.joblib", "sklearn"), classified(model, [0, 1]),
                "classification")


def lightgbm_pickle(folder: Path) -> Case:
    X, y = make_regression(600, len(NAMES), random_state=0)
    model = lightgbm.LGBMRegressor(n_estimators=30, verbose=-1).fit(np.clip(X, -10, 10), y)
    joblib.dump(model, folder / "model.joblib")
    return Case(manifest(folder, "model.joblib", "sklearn"), regressed(model.predict),
                "regression")


def catboost_pickle(folder: Path) -> Case:
    X, y = data(classes=3)
    model = make_pipeline(StandardScaler(), catboost.CatBoostClassifier(
        iterations=30, verbose=0, allow_writing_files=False)).fit(X, y)
    joblib.dump(model, folder / "model.joblib")
    return Case(manifest(folder, "model.joblib", "sklearn"), classified(model, [0, 1, 2]),
                "classification")


def catboost_threads(folder: Path) -> Case:
    """A CatBoost pipeline trained with its own thread count (CatBoost refuses any
    parameter change once fitted)."""
    X, y = data(classes=3)
    model = make_pipeline(StandardScaler(), catboost.CatBoostClassifier(
        iterations=30, verbose=0, allow_writing_files=False, thread_count=4)).fit(X, y)
    joblib.dump(model, folder / "model.joblib")
    return Case(manifest(folder, "model.joblib", "sklearn"), classified(model, [0, 1, 2]),
                "classification")


def hist_gradient_boosting(folder: Path) -> Case:
    """scikit-learn's recommended booster: three string classes, NaNs in training, and the
    two features that had them nullable."""
    X, y = data(n=1000, classes=3)
    X[:, :2][np.random.default_rng(5).random((len(X), 2)) < 0.15] = np.nan
    labels = np.array(["low", "mid", "high"], dtype=object)[y]
    model = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(X, labels)
    schema = {name: {**spec, "nullable": i < 2} for i, (name, spec) in
              enumerate(SCHEMA.items())}
    joblib.dump(model, folder / "model.joblib")
    return Case(manifest(folder, "model.joblib", "sklearn", input_schema=schema),
                classified(model, list(model.classes_)), "classification")


def wide_multiclass(n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Four classes over five features of a wide range (hundreds to a thousand)."""
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(0, 300, n), rng.uniform(-1e3, 1e3, n),
                         rng.normal(size=n) * 1e3, rng.normal(size=n),
                         rng.uniform(-1e3, 1e3, n)]).clip(-1000, 1000)
    y = np.digitize(X[:, 0] / 300 + X[:, 1] / 1000 + X[:, 2] / 1e3 + rng.normal(size=n),
                    [-1, 0, 1])
    return X, y


def lightgbm_multiclass(folder: Path) -> Case:
    """Four classes in LightGBM's text file, on features of a wide range: its double
    thresholds, written as the nearest float32, sent rows down the other branch."""
    X, y = wide_multiclass()
    model = lightgbm.LGBMClassifier(n_estimators=300, num_leaves=63, verbose=-1).fit(X, y)
    model.booster_.save_model(folder / "model.txt")
    labels = ["north", "east", "south", "west"]
    schema = {name: {"type": "float", "minimum": -1000, "maximum": 1000} for name in NAMES}
    return Case(manifest(folder, "model.txt", "lightgbm", classes=labels, input_schema=schema),
                classified(model, labels), "classification")


def xgboost_json(folder: Path) -> Case:
    X, y = data(classes=3)
    model = xgboost.XGBClassifier(n_estimators=30, max_depth=3).fit(X, y)
    model.save_model(folder / "model.json")
    labels = ["bronze", "silver", "gold"]
    return Case(manifest(folder, "model.json", "xgboost", classes=labels),
                classified(model, labels), "classification")


def lightgbm_text(folder: Path) -> Case:
    X, y = data()
    model = lightgbm.LGBMClassifier(n_estimators=30, verbose=-1).fit(X, y)
    model.booster_.save_model(folder / "model.txt")
    return Case(manifest(folder, "model.txt", "lightgbm", classes=["stay", "churn"]),
                classified(model, ["stay", "churn"]), "classification")


def catboost_cbm(folder: Path) -> Case:
    X, y = make_regression(600, len(NAMES), random_state=1)
    model = catboost.CatBoostRegressor(iterations=30, verbose=0, allow_writing_files=False)
    model.fit(np.clip(X, -10, 10), y)
    model.save_model(str(folder / "model.cbm"))
    return Case(manifest(folder, "model.cbm", "catboost"), regressed(model.predict),
                "regression")


def onnx_file(folder: Path) -> Case:
    from skl2onnx import to_onnx

    X, y = data()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X.astype(np.float32), y)
    exported = to_onnx(model, X[:1].astype(np.float32), target_opset={"": 17, "ai.onnx.ml": 3},
                       options={"zipmap": False})
    (folder / "model.onnx").write_bytes(exported.SerializeToString())
    return Case(manifest(folder, "model.onnx", "onnx", task="classification", classes=[0, 1]),
                lambda X: classified(model, [0, 1])(X.astype(np.float32)), "classification")


def isolation_forest(folder: Path) -> Case:
    X, _ = data()
    model = IsolationForest(random_state=0, contamination=0.05).fit(X)
    joblib.dump(model, folder / "model.joblib")

    def answer(X: np.ndarray) -> list[dict[str, Any]]:
        return [{"anomaly_score": float(s), "is_anomaly": bool(s < 0)}
                for s in model.decision_function(X)]

    return Case(manifest(folder, "model.joblib", "sklearn", task="anomaly_detection"), answer,
                "anomaly_detection")


def _catalogue(folder: Path, header: list[str], rows: list[list[Any]]) -> str:
    with (folder / "items.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return hashlib.sha256((folder / "items.csv").read_bytes()).hexdigest()


def neighbours(folder: Path) -> Case:
    rng = np.random.default_rng(3)
    items = rng.uniform(-5, 5, size=(80, len(NAMES))).round(6)
    model = NearestNeighbors(metric="euclidean").fit(items)
    joblib.dump(model, folder / "model.joblib")
    sha = _catalogue(folder, ["sku", *NAMES], [[f"sku-{i}", *v] for i, v in
                                               enumerate(items.tolist())])

    def answer(X: np.ndarray) -> list[dict[str, Any]]:
        distances, indices = model.kneighbors(X, n_neighbors=10)
        return [{"items": [{"item_id": f"sku-{i}", "score": 1 / (1 + d)} for i, d in
                           zip(row_i, row_d, strict=True)]}
                for row_i, row_d in zip(indices.tolist(), distances.tolist(), strict=True)]

    path = manifest(folder, "model.joblib", "sklearn", task="recommendation", recommendation={
        "strategy": "neighbors", "catalog_path": "items.csv", "catalog_sha256": sha,
        "item_id": "sku", "max_k": 20, "default_k": 10})
    return Case(path, answer, "recommendation")


def ranker(folder: Path) -> Case:
    """An XGBRanker scoring (query, item) rows: query features, then the item's price."""
    rng = np.random.default_rng(4)
    prices = rng.uniform(0, 10, 25).round(3)
    queries = rng.uniform(-10, 10, size=(40, len(NAMES)))
    rows = np.array([[*q, p] for q in queries for p in prices])
    relevance = (np.abs(rows[:, -1] - (rows[:, 0] + 10) / 2) < 2).astype(int)
    model = xgboost.XGBRanker(n_estimators=20, max_depth=3).fit(
        rows, relevance, qid=np.repeat(np.arange(40), 25))
    joblib.dump(model, folder / "model.joblib")
    sha = _catalogue(folder, ["item", "price"], [[i, p] for i, p in enumerate(prices.tolist())])

    def answer(X: np.ndarray) -> list[dict[str, Any]]:
        result = []
        for query in X:
            scores = model.predict(np.array([[*query, p] for p in prices]))
            order = np.argsort(-scores, kind="stable")[:10]
            result.append({"items": [{"item_id": int(i), "score": float(scores[i])}
                                     for i in order]})
        return result

    path = manifest(folder, "model.joblib", "sklearn", task="recommendation", recommendation={
        "strategy": "scorer", "catalog_path": "items.csv", "catalog_sha256": sha,
        "item_id": "item", "item_id_type": "int", "item_features": {"price": "float"},
        "default_k": 10})
    return Case(path, answer, "recommendation")


CASES: dict[str, Callable[[Path], Case]] = {
    "xgboost-pickle": xgboost_pickle, "lightgbm-pickle": lightgbm_pickle,
    "catboost-pipeline": catboost_pickle, "catboost-threads": catboost_threads,
    "hist-gradient-boosting": hist_gradient_boosting, "xgboost-json": xgboost_json,
    "lightgbm-multiclass": lightgbm_multiclass,
    "lightgbm-text": lightgbm_text, "catboost-cbm": catboost_cbm, "onnx-file": onnx_file,
    "isolation-forest": isolation_forest, "neighbours": neighbours, "ranker": ranker,
}


def train(name: str, folder: Path) -> Case:
    """Train case ``name`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return CASES[name](folder)
