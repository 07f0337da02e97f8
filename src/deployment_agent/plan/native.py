"""Read what a native model file says about itself: XGBoost, LightGBM, CatBoost and ONNX.

Each reader returns a :class:`NativeModel`: its input columns (count, names where the file
keeps them), its kind of output (classes or values) and what the service needs to score it
(the booster's objective, CatBoost's categorical columns, an ONNX graph's inputs and
outputs). :mod:`.inspection` checks those against the manifest. The libraries are imported
here, lazily: a build only needs the one its model is in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..contract.errors import ModelFileError
from ..service.spec import Column, OnnxInput

# Objectives (and losses) of classifiers and of rankers, by family; any other is a regression.
CLASSIFIER_OBJECTIVES = ("binary", "multi", "multiclass", "multiclassova", "Logloss",
                         "CrossEntropy", "MultiClass", "MultiClassOneVsAll")
RANKING_OBJECTIVES = ("rank", "lambdarank", "rank_xendcg", "YetiRank", "YetiRankPairwise",
                      "PairLogit", "PairLogitPairwise", "QueryRMSE", "QuerySoftMax")
# ONNX element types -> numpy's names; 1: float, 11: double, 7: int64, 8: string, 9: bool.
ONNX_ELEMENTS = {1: "float32", 11: "float64", 7: "int64", 8: "str", 9: "bool"}


@dataclass(frozen=True)
class NativeModel:
    """What a native model file says about itself."""

    estimator: str
    n_features: int | None
    feature_names: list[str] | None
    kind: str  # "classifier", "regressor" or "ranker"
    n_classes: int | None = None
    classes: list[Any] | None = None  # class labels, where the file stores them
    objective: str | None = None
    categorical: tuple[int, ...] = ()
    onnx_inputs: tuple[OnnxInput, ...] = ()
    onnx_outputs: dict[str, str] = field(default_factory=dict)


def _kind(objective: str) -> str:
    head = objective.split(":")[0].split(" ")[0]
    if head in CLASSIFIER_OBJECTIVES or objective in CLASSIFIER_OBJECTIVES:
        return "classifier"
    return "ranker" if head in RANKING_OBJECTIVES else "regressor"


def xgboost_model(path: Path) -> NativeModel:
    """An XGBoost booster's objective, classes and features."""
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(str(path))
    learner = json.loads(booster.save_config())["learner"]
    objective = learner["objective"]["name"]
    kind = _kind(objective)
    classes = int(learner["learner_model_param"].get("num_class") or 0)
    return NativeModel(f"xgboost.Booster ({objective})", booster.num_features(),
                       booster.feature_names, kind,
                       n_classes=(classes or 2) if kind == "classifier" else None,
                       objective=objective)


def lightgbm_model(path: Path) -> NativeModel:
    """A LightGBM booster's objective, classes and features."""
    import lightgbm

    booster = lightgbm.Booster(model_file=str(path))
    objective = str(booster.params.get("objective", "regression"))
    kind = _kind(objective)
    names = booster.feature_name()
    default = [f"Column_{i}" for i in range(booster.num_feature())]
    classes = booster.num_model_per_iteration() if objective.startswith("multiclass") else 2
    return NativeModel(f"lightgbm.Booster ({objective})", booster.num_feature(),
                       None if names == default else names, kind,
                       n_classes=classes if kind == "classifier" else None, objective=objective)


def catboost_model(path: Path) -> NativeModel:
    """A CatBoost model's loss, class names, features and categorical columns."""
    import catboost

    model = catboost.CatBoost()
    model.load_model(str(path))
    loss = str(model.get_all_params().get("loss_function", "RMSE"))
    kind = _kind(loss)
    classes = [c.item() if hasattr(c, "item") else c for c in model.classes_] \
        if kind == "classifier" else None
    names = list(model.feature_names_)
    return NativeModel(f"catboost ({loss})", len(names),
                       None if names == [str(i) for i in range(len(names))] else names, kind,
                       n_classes=len(classes) if classes else None, classes=classes,
                       objective=loss, categorical=tuple(model.get_cat_feature_indices()))


def _element(value_type: Any) -> str | None:
    tensor = value_type.tensor_type if value_type.HasField("tensor_type") else None
    return ONNX_ELEMENTS.get(tensor.elem_type) if tensor is not None else None


def _classifier_labels(graph: Any) -> list[Any] | None:
    """The class labels a classifier node of the graph declares, if any."""
    from onnx.helper import get_attribute_value

    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name in ("classlabels_int64s", "classlabels_strings",
                                  "classlabels_ints"):
                values = get_attribute_value(attribute)
                return [v.decode() if isinstance(v, bytes) else int(v) for v in values]
    return None


def onnx_model(source: Path | bytes, columns: list[Column], task: str | None,
               positional: bool = False) -> NativeModel:
    """An ONNX graph's inputs, matched to the model's columns, and its outputs by role.

    The inputs are one 2-D numeric tensor of all the columns in order, or one input per
    column: named as the column (a modelling step's file), or in column order
    (``positional``: a converter's graph, whose input names it made into identifiers);
    anything else is an error naming both sides."""
    import onnx

    graph = (onnx.load_model_from_string(source) if isinstance(source, bytes)
             else onnx.load(str(source))).graph
    where = "the ONNX conversion" if isinstance(source, bytes) else str(source)
    initialised = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialised]
    names = [c.name for c in columns]
    if len(inputs) == 1:
        dims = inputs[0].type.tensor_type.shape.dim
        width = dims[1].dim_value if len(dims) == 2 else None
        element = _element(inputs[0].type)
        if width == len(columns) and element not in (None, "str"):
            if any(c.type == "str" for c in columns):
                raise ModelFileError(f"{where}: the graph takes one numeric matrix, but "
                                     "input_schema has str features. Fix: export the model "
                                     "with one input per feature")
            matrix = (OnnxInput(inputs[0].name, element, tuple(range(len(columns)))),)
            return _with_outputs(where, graph, matrix, task)
    found = [i.name for i in inputs]
    if positional and len(inputs) == len(columns):
        by_column = dict(zip(names, inputs, strict=True))
    elif sorted(found) == sorted(names):
        by_column = {i.name: i for i in inputs}
    else:
        raise ModelFileError(
            f"{where}: the graph's inputs {found} do not match input_schema {names}. Fix: "
            f"export the model with one 2-D input of {len(names)} columns in input_schema's "
            "order, or one input per feature named as the feature")
    graph_inputs = []
    for position, column in enumerate(columns):
        graph_input = by_column[column.name]
        element = _element(graph_input.type)
        if element is None or (element == "str") != (column.type == "str"):
            raise ModelFileError(
                f"{where}: graph input {graph_input.name!r} is of type {element}, but "
                f"input_schema says {column.type} for {column.name!r}. Fix: make the "
                "feature's type match the graph's input")
        rank = len(graph_input.type.tensor_type.shape.dim)
        graph_inputs.append(OnnxInput(graph_input.name, element, (position,), rank))
    return _with_outputs(where, graph, tuple(graph_inputs), task)


def _with_outputs(where: str, graph: Any, inputs: tuple[OnnxInput, ...], task: str | None
                  ) -> NativeModel:
    """The graph's outputs by role: the label and the probabilities (a tensor, or the
    per-class maps of a ZipMap) of a classifier, an anomaly detector's score (an output
    named like "score", else the first float one), or a value."""
    labels = [o.name for o in graph.output if _element(o.type) in ("int64", "str")]
    maps = [o.name for o in graph.output if o.type.HasField("sequence_type")]
    floats = [o.name for o in graph.output if _element(o.type) in ("float32", "float64")]
    if task == "anomaly_detection":
        named = [n for n in floats if "score" in n.lower()]
        if not (named or floats):
            raise ModelFileError(f"{where}: the graph has no numeric output to use as the "
                                 "anomaly score")
        return NativeModel("ONNX graph", None, None, "detector", onnx_inputs=inputs,
                           onnx_outputs={"score": (named or floats)[0]})
    if labels and task in (None, "classification", "recommendation"):
        roles = {"label": labels[0]}
        if maps or floats:
            roles["probabilities"] = (maps or floats)[0]
        declared = _classifier_labels(graph)
        return NativeModel("ONNX graph", None, None, "classifier",
                           n_classes=len(declared) if declared else None, classes=declared,
                           onnx_inputs=inputs, onnx_outputs=roles)
    if not floats:
        raise ModelFileError(f"{where}: the graph has no numeric output to serve as the "
                             "prediction")
    return NativeModel("ONNX graph", None, None, "regressor", onnx_inputs=inputs,
                       onnx_outputs={"value": floats[0]})
