"""Random valid experiments for the property tests: hostile names, real fitted models.

:func:`experiments` draws a manifest under the contract (names up to 200 characters of any
printable Unicode, with quotes, backslashes, triple quotes, Jinja braces, ``#``, ``:``,
backticks, pipes, leading digits and Python keywords; 1 to 500 features of every type and
constraint; enum values and class labels made the same way). :func:`write_experiment`
fits a real scikit-learn model to synthetic data of that schema and writes both files.
It also draws how the model was trained: scikit-learn's linear, tree or HistGradientBoosting
estimators (the last fed NaNs, with no imputer), binary and multiclass labels, and the
thread count each library takes (-1, 1, 4, or none given) on the estimator, alone or
inside the pipeline. (A column transformer's own n_jobs is left out: its process pool
made each drawn model 2 to 3 s slower to fit, measured, and serving sets it like any other.)
"""

from __future__ import annotations

import json
import keyword
from pathlib import Path
from typing import Any

import catboost
import joblib
import lightgbm
import numpy as np
import pandas as pd
import sklearn
import xgboost
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

# Everything but what the contract refuses (control characters, lone surrogates, line and
# paragraph separators).
TEXT = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"))
HOSTILE = ['"""', "'''", "{{ x }}", "{% raw %}", "{#", "#", ":", "\\", "\\n", "`", "```",
           "|", "$HOME", "${x}", "<script>", "&amp;", "*", "_", "[a](b)", " ", "\u00a0"]
# How the model is handed over: a scikit-learn pipeline (its own estimator, or a booster
# inside it), or a booster's (or ONNX's) own file.
FAMILIES = ["sklearn", "sklearn", "xgboost-pipeline", "lightgbm-pipeline", "catboost-pipeline",
            "xgboost", "lightgbm", "catboost", "onnx"]
NUMERIC_FAMILIES = ("xgboost", "lightgbm", "onnx")
CODED = ("xgboost-pipeline", "lightgbm-pipeline", "catboost-pipeline", "xgboost", "lightgbm")
KEYWORDS = sorted({*keyword.kwlist, *keyword.softkwlist, "row", "model_config", "int",
                   "None", "self", "Field"})


@st.composite
def names(draw: st.DrawFn, max_size: int = 200) -> str:
    """A name: random Unicode, hostile fragments, keywords, leading digits, long ones."""
    kind = draw(st.sampled_from(["text", "hostile", "keyword", "digits", "long", "mixed"]))
    if kind == "text":
        name = draw(st.text(TEXT, min_size=1, max_size=max_size))
    elif kind == "hostile":
        name = "".join(draw(st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=8)))
    elif kind == "keyword":
        name = draw(st.sampled_from(KEYWORDS))
    elif kind == "digits":
        name = f"{draw(st.integers(0, 999))}{draw(st.text(TEXT, max_size=20))}"
    elif kind == "long":
        name = draw(st.text(TEXT, min_size=max_size - 20, max_size=max_size))
    else:
        parts = draw(st.lists(st.one_of(st.sampled_from(HOSTILE + KEYWORDS),
                                        st.text(TEXT, max_size=30)), min_size=2, max_size=6))
        name = "".join(parts)[:max_size]
    return name if name.strip() else f"{name}x"


def _unique(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen and str(value) not in {str(v) for v in seen}:
            seen.append(value)
    return seen


@st.composite
def feature_specs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["int", "float", "bool", "str"]))
    spec: dict[str, Any] = {"type": kind, "nullable": draw(st.booleans())
                            if kind in ("int", "float") else False}
    if kind in ("int", "float") and draw(st.booleans()):
        low = draw(st.integers(-1000, 1000))
        spec["minimum"] = low
        spec["maximum"] = low + draw(st.integers(1, 5000))
    if kind == "str" or (kind == "int" and draw(st.booleans())):
        values = draw(st.lists(names(40) if kind == "str" else st.integers(-50, 50),
                               min_size=1, max_size=5))
        if kind == "int" and "minimum" in spec:
            values = [min(max(v, spec["minimum"]), spec["maximum"]) for v in values]
        spec["enum"] = _unique(values)
    if draw(st.booleans()):
        spec["description"] = draw(st.one_of(names(120),
                                             st.text(st.characters(exclude_categories=(
                                                 "Cs", "Zl", "Zp"), include_characters="\n"),
                                                 max_size=80).filter(_is_description)))
    return spec


def _is_description(text: str) -> bool:
    from deployment_agent.contract.text import check_text

    return check_text(text, multiline=True) is None


@st.composite
def experiments(draw: st.DrawFn) -> dict[str, Any]:
    """A manifest (without model_path/sha) and the fitting recipe."""
    count = draw(st.one_of(st.integers(1, 12), st.integers(13, 500),
                           st.sampled_from([100, 250, 500])))
    feature_names = []
    for name in draw(st.lists(names(), min_size=count, max_size=count)):
        while name in feature_names:  # keep the count: a repeated name gets a suffix
            name = f"{name}_{len(feature_names)}"
        feature_names.append(name)
    schema = {name: draw(feature_specs()) for name in feature_names}
    family = draw(st.sampled_from(FAMILIES))
    task = draw(st.sampled_from(["classification", "regression", "anomaly_detection"]
                                if family == "sklearn" else ["classification", "regression"]))
    if family in NUMERIC_FAMILIES:  # their files read numbers only: a str feature is a float
        schema = {name: spec if spec["type"] != "str" else {"type": "float", "nullable": False}
                  for name, spec in schema.items()}
    if family.startswith("catboost") and all(len(spec.get("enum", ())) == 1
                                             for spec in schema.values()):
        # CatBoost refuses to train when no feature varies ("All features are either
        # constant or ignored"): no user can hold such a model, so one feature varies.
        first = next(iter(schema))
        schema[first] = {"type": "float", "nullable": False}
    classes = None
    if task == "classification":
        labels = draw(st.one_of(st.lists(names(60), min_size=2, max_size=4),
                                st.lists(st.integers(-5, 5), min_size=2, max_size=4)))
        classes = sorted(_unique(labels), key=lambda c: (str(type(c)), c))
        if len(classes) < 2:
            classes = [*classes, f"{classes[0]}-other"] if isinstance(classes[0], str) \
                else [classes[0], classes[0] + 1]
    return {
        "model_name": draw(names()),
        "model_version": draw(st.one_of(names(60), st.just("1.0.0"))),
        "target": draw(names(60)),
        "task": task,
        "classes": classes,
        "input_schema": schema,
        "estimator": draw(st.sampled_from(["linear", "tree", "hist"])),
        "threads": draw(st.sampled_from([None, -1, 1, 4])),
        "family": family,
        "seed": draw(st.integers(0, 2**16)),
    }


def _column(spec: dict[str, Any], n: int, rng: np.random.Generator) -> pd.Series:
    if spec.get("enum"):
        values: Any = [spec["enum"][i] for i in rng.integers(0, len(spec["enum"]), n)]
        return pd.Series(values, dtype="object" if spec["type"] == "str" else "int64")
    if spec["type"] == "bool":
        return pd.Series(rng.integers(0, 2, n).astype(bool), dtype="bool")
    if spec["type"] == "str":
        return pd.Series([f"v{i}" for i in rng.integers(0, 3, n)], dtype="object")
    low, high = spec.get("minimum", -100), spec.get("maximum", 100)
    values = rng.uniform(low, high, n)
    if spec["type"] == "int":
        values = np.round(values)
    series = pd.Series(values, dtype="float64" if spec["type"] == "float" or
                       spec["nullable"] else "int64")
    if spec["nullable"]:
        series[rng.random(n) < 0.1] = np.nan
    return series


def _threads(recipe: dict[str, Any], parameter: str) -> dict[str, int]:
    """The thread parameter the recipe trains with, if it gives one."""
    return {} if recipe.get("threads") is None else {parameter: recipe["threads"]}


def _final(recipe: dict[str, Any]) -> Any:
    """The recipe's final estimator: scikit-learn's, or a booster of its family, trained
    with the recipe's thread count."""
    family, classify = recipe["family"], recipe["task"] == "classification"
    if recipe["task"] == "anomaly_detection":
        return IsolationForest(n_estimators=20, random_state=0, **_threads(recipe, "n_jobs"))
    if family.startswith("xgboost"):
        return (xgboost.XGBClassifier if classify else xgboost.XGBRegressor)(
            n_estimators=5, max_depth=3, **_threads(recipe, "n_jobs"))
    if family.startswith("lightgbm"):
        return (lightgbm.LGBMClassifier if classify else lightgbm.LGBMRegressor)(
            n_estimators=5, min_child_samples=2, verbose=-1, **_threads(recipe, "n_jobs"))
    if family.startswith("catboost"):
        return (catboost.CatBoostClassifier if classify else catboost.CatBoostRegressor)(
            iterations=5, depth=3, verbose=0, allow_writing_files=False,
            **_threads(recipe, "thread_count"))
    if recipe["estimator"] == "hist":
        return (HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor)(
            max_iter=5, min_samples_leaf=2, random_state=0)
    if classify:
        return LogisticRegression(max_iter=200) if recipe["estimator"] == "linear" \
            else DecisionTreeClassifier(max_depth=3, random_state=0)
    return Ridge() if recipe["estimator"] == "linear" else \
        DecisionTreeRegressor(max_depth=3, random_state=0)


def _save(recipe: dict[str, Any], frame: pd.DataFrame, y: Any, folder: Path
          ) -> tuple[str, str, Any]:
    """Fit and save the model as its family's modelling step would: (file, model_type,
    the fitted model). Boosters are fitted on label codes (their files keep no labels)."""
    family = recipe["family"]
    final = _final(recipe)
    text = [name for name, spec in recipe["input_schema"].items() if spec["type"] == "str"]
    numeric = [name for name in recipe["input_schema"] if name not in text]
    if family == "catboost":
        table = frame.copy()
        for name in numeric:
            table[name] = table[name].astype("float64")
        final.set_params(cat_features=[frame.columns.get_loc(n) for n in text] or None)
        model = final.fit(table.values.tolist(), y)
        model.save_model(str(folder / "model.cbm"))
        return "model.cbm", "catboost", model
    if family in ("xgboost", "lightgbm", "onnx"):
        matrix = frame.astype("float64").to_numpy()
        if family == "onnx":
            from skl2onnx import to_onnx

            model = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                                  final).fit(matrix, y)
            exported = to_onnx(model, matrix[:1].astype(np.float32), target_opset={
                "": 17, "ai.onnx.ml": 3}, options={id(final): {"zipmap": False}}
                if hasattr(final, "classes_") else None)
            (folder / "model.onnx").write_bytes(exported.SerializeToString())
            return "model.onnx", "onnx", model
        model = final.fit(matrix, y)
        if family == "xgboost":
            model.save_model(folder / "model.json")
            return "model.json", "xgboost", model
        model.booster_.save_model(folder / "model.txt")
        return "model.txt", "lightgbm", model
    steps = []
    if numeric:  # HistGradientBoosting takes the NaNs itself
        steps.append(("numbers", "passthrough" if recipe["estimator"] == "hist" else
                      SimpleImputer(strategy="median", keep_empty_features=True), numeric))
    if text:
        steps.append(("words", OneHotEncoder(handle_unknown="ignore"), text))
    dense = {"sparse_threshold": 0} if recipe["estimator"] == "hist" else {}
    model = make_pipeline(ColumnTransformer(steps, **dense), final).fit(frame, y)
    joblib.dump(model, folder / "model.joblib")
    return "model.joblib", "sklearn", model


def write_experiment(recipe: dict[str, Any], folder: Path) -> Path:
    """Fit a real model of the recipe's family to synthetic data of its schema; write the
    model file and the manifest."""
    rng = np.random.default_rng(recipe["seed"])
    schema = recipe["input_schema"]
    n = 40
    frame = pd.DataFrame({name: _column(spec, n, rng) for name, spec in schema.items()})
    family, classes = recipe["family"], recipe["classes"]
    if recipe["task"] == "classification":
        codes = [i % len(classes) for i in range(n)]
        # XGBoost and LightGBM learn class codes (their files keep no labels: the
        # manifest's name them); the others learn the labels themselves.
        y: Any = codes if family in CODED else [classes[i] for i in codes]
    else:
        y = rng.normal(size=n)
    folder.mkdir(parents=True, exist_ok=True)
    model_file, model_type, model = _save(recipe, frame, y, folder)
    labelled = recipe["task"] == "classification"
    if labelled and model_type == "sklearn":
        classes = [c.item() if hasattr(c, "item") else c for c in model.classes_]
    manifest = {
        "model_path": model_file,
        "model_type": model_type,
        "model_name": recipe["model_name"],
        "model_version": recipe["model_version"],
        "target": recipe["target"],
        "task": recipe["task"],
        **({"classes": classes} if labelled else {}),
        "input_schema": schema,
        "framework_versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "created_at": "2026-01-01T00:00:00Z",
    }
    path = folder / "experiment_manifest.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return path
