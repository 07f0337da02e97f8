"""The compile step: decide which model runtime the service gets, and say why.

``deployment.model.runtime``:

- ``sklearn``: no conversion; the trained model is served.
- ``onnx``: convert and verify; a failed conversion or a disagreement fails the build.
- ``auto`` (default): convert and verify; serve ONNX when the gate passes, else the
  trained model, with the reason (unsupported estimator, conversion error, or the
  disagreement with its worst row).

An unchecked or disagreeing conversion is never served. The ONNX file's sha256 is
recorded, and the service refuses a file that does not match it, as for the trained one.
"""

from __future__ import annotations

import json
from typing import Any

from ..contract.errors import BuildError, ModelFileError
from ..contract.manifest import load_manifest
from ..generate.files import write_if_changed
from ..hashing import sha256_file
from ..plan.inspection import load_model
from ..plan.layout import Layout
from ..plan.planner import read_context
from .convert import PRECISIONS, ConversionError, convert
from .gate import ReferenceFailure, reference_outputs, verify
from .sampling import gate_columns


def _decide(layout: Layout) -> dict[str, Any]:
    context = read_context(layout)
    requested = context.runtimes.model
    if requested == "sklearn":
        return {"runtime": "sklearn", "requested": requested, "gate": None,
                "reason": "deployment.model.runtime is sklearn"}

    manifest = load_manifest(layout.manifest)
    try:
        model = load_model(manifest, context.runtimes.skops_trusted_types)
    except ModelFileError as exc:  # e.g. trained by another scikit-learn than this one
        return _refused(requested, f"the model cannot be loaded here to verify it: {exc}", None)
    columns = gate_columns(context, context.runtimes.gate_rows)
    try:
        reference = reference_outputs(model, context, columns)
    except ReferenceFailure as exc:
        return _refused(requested, "scikit-learn itself fails on inputs the manifest allows "
                        f"({exc}), so there is nothing to verify a conversion against", None)
    refusals = []
    for precision in PRECISIONS:
        outcome = _attempt(model, reference, context, columns, precision)
        if isinstance(outcome, tuple):
            onnx_bytes, report = outcome
            break
        refusals.append(outcome)
    else:
        worst = next((r for r in refusals if r["report"]), refusals[-1])
        return _refused(requested, "; ".join(dict.fromkeys(r["reason"] for r in refusals)),
                        worst["report"])
    layout.compiled_model.parent.mkdir(parents=True, exist_ok=True)
    if not layout.compiled_model.is_file() or layout.compiled_model.read_bytes() != onnx_bytes:
        layout.compiled_model.write_bytes(onnx_bytes)
    return {"runtime": "onnx", "requested": requested, "gate": report,
            "onnx_sha256": sha256_file(layout.compiled_model),
            "reason": f"the ONNX conversion agrees with scikit-learn on {report['rows']} rows "
                      f"(max difference {report['max_abs_diff']:.2g})"}


def _attempt(model: Any, reference: Any, context: Any, columns: list[list[Any]],
             precision: str) -> tuple[bytes, dict[str, Any]] | dict[str, Any]:
    """Convert at one precision and verify: (the ONNX bytes, the gate's report), or why not."""
    import onnxruntime

    try:
        onnx_bytes = convert(model, context, precision)
        session = onnxruntime.InferenceSession(onnx_bytes,
                                               providers=["CPUExecutionProvider"])
    except ConversionError as exc:
        return {"reason": f"conversion error: {exc}", "report": None}
    except Exception as exc:  # onnxruntime refuses some graphs skl2onnx writes
        return {"reason": f"onnxruntime cannot run the {precision} conversion: "
                          f"{type(exc).__name__}: {exc}", "report": None}
    names = [graph_input.name for graph_input in session.get_inputs()]
    expected = len(context.features) if context.model.uses_dataframe else 1
    if len(names) != expected:
        return {"reason": f"the {precision} conversion has {len(names)} inputs, not "
                          f"{expected}", "report": None}
    try:
        report = verify(reference, session, context, columns,
                        context.runtimes.onnx_tolerance, precision, names)
    except Exception as exc:  # a conversion that fails on valid input disagrees, too
        return {"reason": f"the {precision} conversion fails on valid input: "
                          f"{type(exc).__name__}: {exc}", "report": None}
    if not report["passed"]:
        why = (f"{report['label_mismatches']} labels differ" if report["label_mismatches"]
               else f"outputs differ by up to {report['max_abs_diff']:.3g} "
               f"(tolerance {report['tolerance']:g})")
        return {"reason": f"the {precision} conversion disagrees on {report['rows']} rows: "
                          f"{why}; worst row {report['worst_row']['index']}",
                "report": report}
    return onnx_bytes, report


def _refused(requested: str, reason: str, report: dict[str, Any] | None) -> dict[str, Any]:
    if requested == "onnx":
        raise BuildError(f"deployment.model.runtime is onnx, but {reason}. Fix: set it to "
                         "auto or sklearn to serve the trained model")
    return {"runtime": "sklearn", "requested": requested, "gate": report,
            "reason": f"ONNX not served: {reason}"}


def compile_model(layout: Layout) -> dict[str, Any]:
    """Convert and verify as the settings say; write and return the gate report."""
    decision = _decide(layout)
    if decision["runtime"] != "onnx" and layout.compiled_model.exists():
        layout.compiled_model.unlink()  # never leave a stale, unverified conversion behind
    write_if_changed(layout.gate_report, json.dumps(decision, indent=2, ensure_ascii=False,
                                                    default=str) + "\n")
    return decision
