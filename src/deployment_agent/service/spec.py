"""I describe the model this service scores: its family, task, input columns and outputs.

I am plain data, written by the deployment agent into ``model_spec.json`` beside me and read
once at start-up; the scoring, prediction and recommendation modules take their decisions
from me rather than from generated code. I use the standard library only, so that reading
me never fails for a missing package.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SPEC_FILE = Path(__file__).with_name("model_spec.json")


@dataclass(frozen=True)
class Column:
    """I am one input column of the model, in the order it was trained on."""

    name: str
    type: str  # the JSON type: "int", "float", "bool" or "str"
    dtype: str  # the pandas dtype of a DataFrame column ("float64" when nullable)


@dataclass(frozen=True)
class OnnxInput:
    """I am one input of an ONNX graph: its name, element type and the columns it takes
    (one column, or all of them as a matrix)."""

    name: str
    element: str  # numpy's name of the element type: "float32", "float64", "int64", "str", "bool"
    columns: tuple[int, ...]
    rank: int = 2  # a column input of shape (n, 1), or (n,) when 1


@dataclass(frozen=True)
class Catalogue:
    """I am a recommender's item catalogue: a CSV file, verified by its sha256."""

    file: str  # relative to the service root
    sha256: str
    item_id: str
    item_id_type: str  # "int" or "str"
    columns: tuple[Column, ...]  # what I read of each item, in the model's order
    strategy: str  # "neighbors" or "scorer"
    max_k: int
    default_k: int
    metric: str = "euclidean"  # the neighbors model's distance


@dataclass(frozen=True)
class ModelSpec:
    """I am everything the service needs to know to score the model."""

    family: str  # "sklearn", "skops", "xgboost", "lightgbm", "catboost" or "onnx"
    task: str  # "classification", "regression", "anomaly_detection" or "recommendation"
    columns: tuple[Column, ...]  # the model's input columns, in training order
    dataframe: bool = False  # the model reads a DataFrame of named columns, not a matrix
    classes: tuple[Any, ...] | None = None  # class labels, in the model's column order
    predict_from_proba: bool = False  # predict() is the class of highest probability
    objective: str | None = None  # a booster's objective, e.g. "binary:logistic"
    score_method: str | None = None  # anomaly: "decision_function" or "score_samples"
    threshold: float = 0.0  # anomaly: is_anomaly is score < threshold
    categorical: tuple[int, ...] = ()  # CatBoost's categorical column positions
    onnx_inputs: tuple[OnnxInput, ...] = ()
    onnx_outputs: dict[str, str] = field(default_factory=dict)  # role -> output name
    skops_trusted_types: tuple[str, ...] = ()
    catalogue: Catalogue | None = None
    # Who I am, for logs, readiness and the docs.
    name: str = ""
    version: str = ""
    estimator: str = ""
    runtime: str = ""  # the library that scores me, for people

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The names of my input columns, in order."""
        return tuple(c.name for c in self.columns)

    @property
    def query_columns(self) -> tuple[Column, ...]:
        """The columns a request carries: a scorer recommender's query columns (the item's
        come from the catalogue), else all of mine."""
        if self.catalogue is not None and self.catalogue.strategy == "scorer":
            return self.columns[:len(self.columns) - len(self.catalogue.columns)]
        return self.columns

    def to_json(self) -> str:
        """I serialise myself for ``model_spec.json`` (stable: sorted keys)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """I rebuild myself from my JSON form."""
        values = dict(data)
        values["columns"] = tuple(Column(**c) for c in data["columns"])
        values["classes"] = tuple(data["classes"]) if data.get("classes") is not None else None
        values["categorical"] = tuple(data.get("categorical", ()))
        values["onnx_inputs"] = tuple(OnnxInput(**{**i, "columns": tuple(i["columns"])})
                                      for i in data.get("onnx_inputs", ()))
        values["skops_trusted_types"] = tuple(data.get("skops_trusted_types", ()))
        if data.get("catalogue"):
            catalogue = dict(data["catalogue"])
            catalogue["columns"] = tuple(Column(**c) for c in catalogue["columns"])
            values["catalogue"] = Catalogue(**catalogue)
        return cls(**values)


def load_spec(path: Path = SPEC_FILE) -> ModelSpec:
    """I read the spec the deployment agent wrote."""
    return ModelSpec.from_dict(json.loads(path.read_text(encoding="utf-8")))
