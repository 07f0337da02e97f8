"""Which modules a model file needs, read from the file itself, without running any of it.

- A pickle (plain or joblib, compressed or not) names every class and function it needs
  as a global reference (``xgboost.sklearn XGBClassifier``). I read them with an
  unpickler that imports nothing: each global becomes an inert stand-in that accepts any
  arguments and state, so no code of the file runs and no library need be installed.
  Only numpy's ``dtype``/``ndarray`` and joblib's array wrapper are real, so that joblib
  can step over the array bytes it writes between the pickle's opcodes.
- A skops file lists the module of every object in its ``schema.json``.
- A native model file (XGBoost, LightGBM, CatBoost, ONNX) needs its own library.
"""

from __future__ import annotations

import json
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

from ..contract.errors import ModelFileError

# The library that loads each native model format.
NATIVE_MODULES: dict[str, str] = {"xgboost": "xgboost", "lightgbm": "lightgbm",
                                  "catboost": "catboost", "onnx": "onnxruntime"}
# Modules whose classes work only with an optional library at hand: XGBoost's and
# LightGBM's scikit-learn wrappers (XGBRanker, LGBMClassifier, ...) fall back to dummy base
# classes without scikit-learn, and fail on load ("'super' object has no attribute
# 'get_params'"). Their packages declare it as the extra "scikit-learn".
NEEDS_ALSO: dict[str, tuple[str, ...]] = {"xgboost.sklearn": ("sklearn",),
                                          "lightgbm.sklearn": ("sklearn",)}
# Globals a joblib file needs as they are, to read its arrays: data types and containers,
# which run no code of the file's.
REAL_GLOBALS = {("numpy", "dtype"), ("numpy", "ndarray"),
                ("joblib.numpy_pickle", "NumpyArrayWrapper")}


class _Inert:
    """A stand-in for a global the pickle names: it takes any arguments, items and state,
    and does nothing with them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return _Inert()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass

    def add(self, value: Any) -> None:
        pass


@cache
def _stand_in(module: str, name: str) -> type:
    return type(name, (_Inert,), {"__module__": module})


def pickle_globals(path: Path) -> set[tuple[str, str]]:
    """Every ``(module, name)`` global of a pickle or joblib file (any joblib compression)."""
    import numpy
    from joblib import numpy_pickle
    from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

    found: set[tuple[str, str]] = set()

    class Reader(numpy_pickle.NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            found.add((module, name))
            if (module, name) in REAL_GLOBALS:
                return {"dtype": numpy.dtype, "ndarray": numpy.ndarray,
                        "NumpyArrayWrapper": numpy_pickle.NumpyArrayWrapper}[name]
            return _stand_in(module, name)

        def persistent_load(self, pid: Any) -> Any:
            return _Inert()

    with path.open("rb") as raw, _validate_fileobject_and_memmap(raw, str(path), None) as (
            stream, _):
        if isinstance(stream, str):  # joblib < 0.10: arrays in companion files
            raise ModelFileError(f"{path}: a joblib file older than joblib 0.10. Fix: load it "
                                 "and dump it again with a current joblib")
        Reader(str(path), stream, ensure_native_byte_order=False).load()
    return found


def _schema_modules(node: Any, found: set[str]) -> None:
    """The ``__module__`` (and function ``module_path``) of every node of a skops schema."""
    if isinstance(node, dict):
        for key in ("__module__", "module_path"):
            if isinstance(node.get(key), str):
                found.add(node[key])
        for value in node.values():
            _schema_modules(value, found)
    elif isinstance(node, list):
        for value in node:
            _schema_modules(value, found)


def skops_modules(path: Path) -> set[str]:
    """The modules of every object stored in a skops file."""
    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
    found: set[str] = set()
    _schema_modules(schema, found)
    return found


def referenced_modules(path: Path, model_type: str) -> set[str]:
    """The top-level modules that loading the model file needs (standard library
    included; :mod:`.dependencies` sorts them out)."""
    try:
        if model_type == "sklearn":
            modules = {module for module, _ in pickle_globals(path)}
        elif model_type == "skops":
            modules = skops_modules(path) | {"skops"}
        else:
            modules = {NATIVE_MODULES[model_type]}
    except ModelFileError:
        raise
    except Exception as exc:  # a truncated or foreign file fails in many ways
        raise ModelFileError(
            f"{path}: cannot read the references of this {model_type} file "
            f"({type(exc).__name__}: {exc}). Fix: check model_type matches the file, and "
            "re-export the model") from None
    modules |= {also for module in modules for also in NEEDS_ALSO.get(module, ())}
    return {module.split(".")[0] for module in modules}
