"""The compile step: decide which model runtime the service gets, and say why.

``deployment.model.runtime``:

- ``native``: no conversion; the trained model file is served by its own library.
- ``onnx``: convert and verify; a failed conversion or a disagreement fails the build.
- ``auto`` (default): convert and verify; serve ONNX when the gate passes, else the
  trained model, with the reason (unsupported estimator, conversion error, or the
  disagreement with its worst row).

A model that is an ONNX file already is served as it is. An unchecked or disagreeing
conversion is never served. The ONNX file's sha256 is recorded, and the service refuses a
file that does not match it, as for the trained one. A reason is one line of at most
:data:`REASON_LIMIT` characters that names the innermost cause; the full text of every
failed attempt goes to the build log (``compiled/compile.log`` in the build state).
"""

from __future__ import annotations

import dataclasses
import json
import re
import traceback
from importlib import import_module
from typing import Any

from ..contract.errors import BuildError
from ..contract.manifest import load_manifest
from ..generate.files import write_if_changed
from ..hashing import sha256_file
from ..plan.context import Context
from ..plan.layout import Layout
from ..plan.native import onnx_model
from ..plan.planner import read_context
from ..plan.references import referenced_modules
from ..resources import scoring_module
from ..service import scoring_onnx
from ..service.predictor import Predictor
from ..service.recommender import read_catalogue
from ..service.spec import ModelSpec
from .convert import ConversionError, convert, native_object, precisions
from .gate import ReferenceFailure, reference_outputs, verify
from .sampling import gate_rows

REASON_LIMIT = 500


def innermost(exc: BaseException) -> str:
    """The innermost cause of ``exc`` on one line: its type and the first line of its
    message, whitespace collapsed, at most :data:`REASON_LIMIT` characters."""
    while exc.__cause__ is not None or (exc.__context__ is not None and
                                        not exc.__suppress_context__):
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return one_line(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def one_line(text: str, limit: int = REASON_LIMIT) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


class Log:
    """The build log of one compile step: every attempt's full text."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def failure(self, what: str, exc: BaseException) -> dict[str, Any]:
        """Record the full traceback of a failed attempt; return its refusal: what failed
        and its innermost cause."""
        self.lines += [f"== {what}", *traceback.format_exception(exc)]
        return {"what": what, "cause": innermost(exc), "report": None}


def _onnx_spec(native: ModelSpec, onnx_bytes: bytes, positional: bool) -> ModelSpec:
    """The spec of an ONNX conversion: the native spec with the graph's inputs and
    outputs (inputs by position: converters rename columns that are not identifiers)."""
    found = onnx_model(onnx_bytes, list(native.columns), native.task, positional)
    return dataclasses.replace(native, family="onnx", onnx_inputs=found.onnx_inputs,
                               onnx_outputs=dict(found.onnx_outputs))


def _decide(layout: Layout, log: Log) -> dict[str, Any]:
    context = read_context(layout)
    model = context.model
    requested = context.runtimes.model
    if model.type == "onnx":
        return {"runtime": "onnx", "requested": requested, "gate": None, "spec": model.spec,
                "reason": "the model file is ONNX: served by ONNX Runtime as it is"}
    if requested == "native":
        return _native(context, "deployment.model.runtime is native")
    if not model.verified:
        return _refused(context, "the build cannot load the model to verify a conversion ("
                        f"{model.unverified_reason})", None)
    catalogue = model.spec.catalogue
    if catalogue is not None and catalogue.strategy == "neighbors":
        return _refused(context, "a neighbors search calls the model's kneighbors(), which "
                        "has no verified ONNX form", None)
    manifest = load_manifest(layout.manifest)
    native = model.spec
    module = import_module(f"deployment_agent.service.{scoring_module(native.family)}")
    reference_model = Predictor(module.load(manifest.model_file, native), native)
    items = read_catalogue(manifest.catalog_file, catalogue).rows \
        if catalogue is not None and manifest.catalog_file is not None else None
    rows = gate_rows(context, context.runtimes.gate_rows, items)
    try:
        reference = reference_outputs(reference_model, rows)
    except ReferenceFailure as exc:
        return _refused(context, f"{native.family} itself fails on inputs the manifest allows "
                        f"({one_line(str(exc))}), so there is nothing to verify a conversion "
                        "against", None)
    libraries = referenced_modules(manifest.model_file, native.family)
    refusals = []
    for precision in precisions(native.family):
        outcome = _attempt(native_object(reference_model.scorer), reference, context, rows,
                           precision, libraries, log)
        if isinstance(outcome, tuple):
            onnx_bytes, report, spec = outcome
            break
        refusals.append(outcome)
    else:
        worst = next((r for r in refusals if r["report"]), refusals[-1])
        return _refused(context, _summary(refusals), worst["report"])
    layout.compiled_model.parent.mkdir(parents=True, exist_ok=True)
    if not layout.compiled_model.is_file() or layout.compiled_model.read_bytes() != onnx_bytes:
        layout.compiled_model.write_bytes(onnx_bytes)
    return {"runtime": "onnx", "requested": requested, "gate": report, "spec": spec,
            "onnx_sha256": sha256_file(layout.compiled_model),
            "reason": f"the ONNX conversion agrees with the trained {model.estimator} on "
                      f"{report['rows']} rows (max difference {report['max_abs_diff']:.2g})"}


def _attempt(model: Any, reference: Any, context: Context, rows: list[tuple[Any, ...]],
             precision: str, libraries: set[str], log: Log
             ) -> tuple[bytes, dict[str, Any], ModelSpec] | dict[str, Any]:
    """Convert at one precision and verify: (the ONNX bytes, the gate's report, the ONNX
    spec), or why not."""
    native = context.model.spec
    try:
        onnx_bytes = convert(model, native, precision, libraries)
        spec = _onnx_spec(native, onnx_bytes, positional=True)
        candidate = Predictor(scoring_onnx.load(onnx_bytes, spec), spec)
    except ConversionError as exc:
        return log.failure(f"{precision} conversion error", exc)
    except Exception as exc:  # onnxruntime refuses some graphs the converters write
        return log.failure(f"onnxruntime cannot run the {precision} conversion", exc)
    try:
        report = verify(reference, candidate, rows,
                        [c.name for c in native.columns], context.runtimes.onnx_tolerance,
                        context.runtimes.onnx_rtol, precision,
                        [i.name for i in spec.onnx_inputs])
    except Exception as exc:  # a conversion that fails on valid input disagrees, too
        return log.failure(f"the {precision} conversion fails on valid input", exc)
    if not report["passed"]:
        why = (f"{report['label_mismatches']} labels differ" if report["label_mismatches"]
               else f"outputs differ by up to {report['max_abs_diff']:.3g} "
               f"(tolerance {report['tolerance']:g} + {report['rtol']:g} x the largest "
               "output)")
        return {"what": f"the {precision} conversion disagrees on {report['rows']} rows",
                "cause": f"{why}; worst row {report['worst_row']['index']}", "report": report}
    return onnx_bytes, report, spec


def _summary(refusals: list[dict[str, Any]]) -> str:
    """The attempts' refusals in one line: attempts that failed for the same cause are
    named together (``float64 and float32 conversion error: ...``)."""
    causes: dict[str, list[str]] = {}
    for refusal in refusals:
        causes.setdefault(refusal["cause"], []).append(refusal["what"])
    parts = []
    for cause, whats in causes.items():
        if len(whats) > 1 and all(w.endswith(" conversion error") for w in whats):
            precisions_ = " and ".join(w.removesuffix(" conversion error") for w in whats)
            parts.append(f"{precisions_} conversion error: {cause}")
        else:
            parts.extend(f"{what}: {cause}" for what in whats)
    return "; ".join(parts)


def _native(context: Context, reason: str, report: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    return {"runtime": "native", "requested": context.runtimes.model, "gate": report,
            "spec": context.model.spec, "reason": one_line(reason)}


def _refused(context: Context, reason: str, report: dict[str, Any] | None) -> dict[str, Any]:
    if context.runtimes.model == "onnx":
        raise BuildError(f"deployment.model.runtime is onnx, but {one_line(reason)}. Fix: set "
                         "it to auto or native to serve the trained model")
    return _native(context, f"ONNX not served: {reason}", report)


def compile_model(layout: Layout) -> dict[str, Any]:
    """Convert and verify as the settings say; write and return the gate report (and the
    attempts' full text to the build log)."""
    log = Log()
    decision = _decide(layout, log)
    if decision["runtime"] != "onnx" and layout.compiled_model.exists():
        layout.compiled_model.unlink()  # never leave a stale, unverified conversion behind
    decision["spec"] = dataclasses.asdict(decision["spec"])
    write_if_changed(layout.gate_report, json.dumps(decision, indent=2, ensure_ascii=False,
                                                    default=str) + "\n")
    layout.compile_log.parent.mkdir(parents=True, exist_ok=True)
    layout.compile_log.write_text("\n".join(log.lines) or "no failed attempt\n",
                                  encoding="utf-8")
    return decision
