"""skl2onnx converters for the gradient-boosting libraries, so that boosters convert alone
and inside scikit-learn pipelines.

XGBoost's and LightGBM's converters come from onnxmltools; CatBoost converts itself
(``convert_to_onnx_object``), and its single tree-ensemble node is copied into the graph.
The three libraries score in float32: each converter runs inside :func:`in_float32`, which
casts a double input to float32 at the booster's door and the booster's outputs back to
double, exactly as the library itself casts what it is given. Upstream steps then keep
their double precision, and the booster sees the very float32 values it would see natively.
Registration is per library, and only for the libraries the model file references.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

Converter = Callable[[Any, Any, Any], None]
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

        return [(lightgbm.LGBMClassifier, "LightGbmLGBMClassifier", "classifier",
                 convert_lightgbm, None),
                (lightgbm.LGBMRegressor, "LightGbmLGBMRegressor", "regressor",
                 convert_lightgbm, None),
                (lightgbm.LGBMRanker, "LightGbmLGBMRanker", "regressor", convert_lightgbm,
                 None)]
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
