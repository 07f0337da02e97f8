"""skl2onnx converters for the gradient-boosting libraries, so that boosters convert alone
and inside scikit-learn pipelines.

XGBoost's and LightGBM's converters come from onnxmltools; CatBoost converts itself
(``convert_to_onnx_object``), and its single tree-ensemble node is copied into the graph.
The three libraries score in float32: each converter runs inside :func:`in_float32`, which
casts a double input to float32 at the booster's door and the booster's outputs back to
double, exactly as the library itself casts what it is given. Upstream steps then keep
their double precision, and the booster sees the very float32 values it would see natively.
Registration is per library, and only for the libraries the model file references.

LightGBM compares a double feature with a double threshold; onnxmltools writes each
threshold as the nearest float32, which can lie above it, so a value between the two goes
down the other branch (a 4-class model differed by 0.00074 on 3 rows of 10,001). I write
instead the largest float32 not above the threshold: a float32 input then goes where
LightGBM sends it, exactly (:func:`round_thresholds_down`).

scikit-learn's HistGradientBoosting has a stock converter in skl2onnx that writes Python
booleans into an integer attribute, which ONNX refuses; I register it again through
skl2onnx's public registration with the attribute made of integers
(:func:`register_hist_gradient_boosting`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache, partial
from typing import Any

import numpy as np

Converter = Callable[[Any, Any, Any], None]
# The ai.onnx.ml operator set the compile step targets (convert.TARGET_OPSET).
TARGET_ML_OPSET = 3
CLASSIFIER_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}


def in_float32(convert: Converter) -> Converter:
    """Wrap a float32-only converter so that it also takes (and gives) doubles."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    def converter(scope: Any, operator: Any, container: Any) -> None:
        source = operator.inputs[0]
        if not isinstance(source.type, DoubleTensorType):
            convert(scope, operator, container)
            return
        floats = scope.declare_local_variable("float_input", FloatTensorType(source.type.shape))
        container.add_node("Cast", source.onnx_name, floats.onnx_name, to=TensorProto.FLOAT,
                           name=scope.get_unique_operator_name("Cast"))
        outputs = list(operator.outputs)
        inner = [scope.declare_local_variable(f"{v.raw_name}_float",
                                              FloatTensorType(v.type.shape))
                 if isinstance(v.type, DoubleTensorType) else v for v in outputs]
        # The operator's variable lists are swapped for the call only (no bookkeeping:
        # the outer graph still sees the double variables).
        list.__setitem__(operator.inputs, 0, floats)
        for i, variable in enumerate(inner):
            list.__setitem__(operator.outputs, i, variable)
        try:
            convert(scope, operator, container)
        finally:
            list.__setitem__(operator.inputs, 0, source)
            for i, variable in enumerate(outputs):
                list.__setitem__(operator.outputs, i, variable)
        for outer, floated in zip(outputs, inner, strict=True):
            if outer is not floated:
                container.add_node("Cast", floated.onnx_name, outer.onnx_name,
                                   to=TensorProto.DOUBLE,
                                   name=scope.get_unique_operator_name("Cast"))

    return converter


def _catboost_parser(scope: Any, model: Any, inputs: Any, custom_parsers: Any = None) -> Any:
    """Declare a CatBoost classifier's outputs: a label and a probability tensor."""
    from skl2onnx._parse import _apply_zipmap, _get_sklearn_operator_name
    from skl2onnx.common.data_types import Int64TensorType, guess_tensor_type

    options = scope.get_options(model, {"zipmap": True})
    operator = scope.declare_local_operator(_get_sklearn_operator_name(type(model)), model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("label", Int64TensorType()))
    operator.outputs.append(scope.declare_local_variable(
        "probabilities", guess_tensor_type(inputs[0].type)))
    if options["zipmap"] is False:
        return operator.outputs
    return _apply_zipmap(options["zipmap"], scope, model, inputs[0].type, operator.outputs)


def convert_catboost(scope: Any, operator: Any, container: Any) -> None:
    """Copy CatBoost's own single-node ONNX export into the graph."""
    from catboost.utils import convert_to_onnx_object
    from onnx.helper import get_attribute_value

    exported = convert_to_onnx_object(operator.raw_operator)
    nodes = [n for n in exported.graph.node if n.op_type != "ZipMap"]
    if len(nodes) != 1 or not nodes[0].op_type.startswith("TreeEnsemble") or \
            exported.graph.initializer:
        raise NotImplementedError(f"CatBoost exported {[n.op_type for n in exported.graph.node]}"
                                  ", not one tree ensemble")
    node = nodes[0]
    opsets = {d.domain: d.version for d in exported.opset_import}
    container.add_node(node.op_type, operator.input_full_names, operator.output_full_names,
                       op_domain=node.domain, op_version=opsets.get(node.domain),
                       name=scope.get_unique_operator_name("CatBoost"),
                       **{a.name: get_attribute_value(a) for a in node.attribute})


def lightgbm_thresholds(booster: Any) -> dict[float, float]:
    """For each float32 that the nearest rounding of a LightGBM ``<=`` threshold gives, the
    largest float32 not above that threshold. A float32 shared by thresholds that round
    down differently is left out (it cannot be right for both)."""
    below: dict[float, set[float]] = {}
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_index" not in node:
                continue
            stack += [node["left_child"], node["right_child"]]
            threshold = node["threshold"]
            if node["decision_type"] != "<=" or not isinstance(threshold, int | float):
                continue
            nearest = np.float32(threshold)
            down = nearest if float(nearest) <= threshold else \
                np.nextafter(nearest, np.float32(-np.inf))
            below.setdefault(float(nearest), set()).add(float(down))
    return {nearest: downs.pop() for nearest, downs in below.items() if len(downs) == 1}


def round_thresholds_down(nodes: Iterable[Any], booster: Any) -> int:
    """Rewrite the ``BRANCH_LEQ`` thresholds of the tree-ensemble ``nodes`` (converted from
    ``booster`` by onnxmltools) as the largest float32 not above LightGBM's double; the
    number of thresholds changed."""
    table = lightgbm_thresholds(booster)
    changed = 0
    for node in nodes:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        attributes = {a.name: a for a in node.attribute}
        if "nodes_values" not in attributes or "nodes_modes" not in attributes:
            continue
        values = attributes["nodes_values"].floats
        for i, mode in enumerate(attributes["nodes_modes"].strings):
            if mode == b"BRANCH_LEQ" and values[i] in table and table[values[i]] != values[i]:
                values[i] = table[values[i]]
                changed += 1
    return changed


def thresholds_rounded_down(convert: Converter) -> Converter:
    """Wrap onnxmltools' LightGBM converter so that the nodes it adds compare as LightGBM."""

    def converter(scope: Any, operator: Any, container: Any) -> None:
        before = len(container.nodes)
        convert(scope, operator, container)
        round_thresholds_down(container.nodes[before:], operator.raw_operator.booster_)

    return converter


def _registrations(library: str) -> list[tuple[Any, str, str, Converter, Any]]:
    """(class, alias, output kind, converter, parser) for each estimator of ``library``."""
    if library == "xgboost":
        import xgboost
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost

        return [(xgboost.XGBClassifier, "XGBoostXGBClassifier", "classifier", convert_xgboost,
                 None),
                (xgboost.XGBRegressor, "XGBoostXGBRegressor", "regressor", convert_xgboost,
                 None),
                (xgboost.XGBRanker, "XGBoostXGBRanker", "regressor", convert_xgboost, None)]
    if library == "lightgbm":
        import lightgbm
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        exact = thresholds_rounded_down(convert_lightgbm)
        return [(lightgbm.LGBMClassifier, "LightGbmLGBMClassifier", "classifier", exact, None),
                (lightgbm.LGBMRegressor, "LightGbmLGBMRegressor", "regressor", exact, None),
                (lightgbm.LGBMRanker, "LightGbmLGBMRanker", "regressor", exact, None)]
    if library == "catboost":
        import catboost

        return [(catboost.CatBoostClassifier, "CatBoostCatBoostClassifier", "classifier",
                 convert_catboost, _catboost_parser),
                (catboost.CatBoostRegressor, "CatBoostCatBoostRegressor", "regressor",
                 convert_catboost, None)]
    return []


@cache
def register(library: str) -> None:
    """Teach skl2onnx the estimators of ``library`` (once per process)."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    for cls, alias, kind, convert, parser in _registrations(library):
        classifier = kind == "classifier"
        update_registered_converter(
            cls, alias,
            calculate_linear_classifier_output_shapes if classifier else
            calculate_linear_regressor_output_shapes,
            in_float32(convert), parser=parser,
            options=CLASSIFIER_OPTIONS if classifier else None)


def _float_outputs(add_node: Callable[..., Any], scope: Any) -> Callable[..., Any]:
    """Wrap ``container.add_node`` so that a tree ensemble of a double graph compares in
    double but gives its scores as float32, cast back to double for the graph: ONNX
    Runtime runs ``TreeEnsembleClassifier``/``Regressor`` (ai.onnx.ml 3) on double inputs
    and thresholds, but with float32 outputs only."""
    from onnx import TensorProto

    def add(op_type: str, inputs: Any, outputs: Any, *args: Any, **attributes: Any) -> Any:
        doubles = any(k.endswith("_as_tensor") for k in attributes) or any(
            getattr(v, "dtype", None) == np.float64 for v in attributes.values())
        if not (op_type.startswith("TreeEnsemble") and doubles):
            return add_node(op_type, inputs, outputs, *args, **attributes)
        names = [outputs] if isinstance(outputs, str) else list(outputs)
        scores = len(names) - 1  # a classifier's label (first) stays as it is
        floats = scope.get_unique_variable_name(f"{names[scores]}_float")
        added = add_node(op_type, inputs, [*names[:scores], floats], *args, **attributes)
        add_node("Cast", floats, names[scores], to=TensorProto.DOUBLE,
                 name=scope.get_unique_operator_name("Cast"))
        return added

    return add


def integer_flags(convert: Converter) -> Converter:
    """Wrap skl2onnx's HistGradientBoosting converter: its missing-value flags become
    integers (it mixes Python and NumPy booleans, which ONNX refuses), a double graph's
    ensemble compares in double (:func:`_float_outputs`), and a model with categorical
    splits is refused by name (skl2onnx reads them as numeric thresholds)."""
    flags = "nodes_missing_value_tracks_true"

    def converter(scope: Any, operator: Any, container: Any) -> None:
        categorical = getattr(operator.raw_operator, "is_categorical_", None)
        if categorical is not None and np.any(categorical):
            raise NotImplementedError("skl2onnx does not convert HistGradientBoosting's "
                                      "categorical splits")
        add_node = _float_outputs(container.add_node, scope)

        def add(op_type: str, *args: Any, **attributes: Any) -> Any:
            if flags in attributes:
                attributes[flags] = [int(flag) for flag in attributes[flags]]
            return add_node(op_type, *args, **attributes)

        container.add_node = add
        try:
            convert(scope, operator, container)
        finally:
            del container.add_node

    return converter


@cache
def register_hist_gradient_boosting() -> None:
    """Register skl2onnx's own HistGradientBoosting converters again, wrapped by
    :func:`integer_flags`, for ai.onnx.ml 3 (whose tree ensembles take double thresholds;
    the stock registration asks for version 1, whose thresholds are float32), once per
    process."""
    from skl2onnx import update_registered_converter
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter, get_shape_calculator
    from skl2onnx.operator_converters.random_forest import (
        convert_sklearn_random_forest_classifier,
        convert_sklearn_random_forest_regressor_converter,
    )
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    for cls, convert in ((HistGradientBoostingClassifier,
                          convert_sklearn_random_forest_classifier),
                         (HistGradientBoostingRegressor,
                          convert_sklearn_random_forest_regressor_converter)):
        alias = sklearn_operator_name_map[cls]
        update_registered_converter(
            cls, alias, get_shape_calculator(alias),
            integer_flags(partial(convert, op_version=TARGET_ML_OPSET)),
            options=get_converter(alias).get_allowed_options(), overwrite=True)
