"""I draw the report in its own environment (``environment.py``): ``python render.py
PAYLOAD OUTPUT``.

I import only pandas, Evidently and Plotly (Evidently's own), never the deployment agent,
whose pandas I cannot share. The payload (``build.py``) holds the logged records with their
outcomes, where the reference sample is, and the quality per hour. I write one HTML page:
realized quality over time beside the manifest's test metrics (Plotly), then Evidently's
drift report (live records against the reference sample) and its quality report (the
records with an outcome), each kept whole in a frame of its own. What I cannot show (no
reference sample, no outcome yet) is said on the page, not left out silently.
"""

from __future__ import annotations

import html
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from evidently import (
    BinaryClassification,
    DataDefinition,
    Dataset,
    MulticlassClassification,
    Regression,
    Report,
)
from evidently.presets import ClassificationPreset, DataDriftPreset, RegressionPreset


def evidently_html(report: Report, current: pd.DataFrame, reference: pd.DataFrame | None,
                   definition: DataDefinition) -> str:
    """I run ``report`` and return its page."""
    snapshot = report.run(Dataset.from_pandas(current, data_definition=definition),
                          Dataset.from_pandas(reference, data_definition=definition)
                          if reference is not None else None)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.html"
        snapshot.save_html(str(path))
        return path.read_text(encoding="utf-8")


def frame(title: str, page: str) -> str:
    """I keep one Evidently page whole, in a frame of its own."""
    return (f"<h2>{html.escape(title)}</h2><iframe style='width:100%;height:1400px;"
            f"border:0' srcdoc=\"{html.escape(page, quote=True)}\"></iframe>")


def quality_chart(series: list[dict[str, Any]], baseline: dict[str, float]) -> str:
    """I plot each metric per hour, with its test value as a dotted line."""
    figure = go.Figure()
    metrics = [k for k in (series[0] if series else {}) if k not in ("hour", "labels")]
    for metric in metrics:
        figure.add_trace(go.Scatter(x=[s["hour"] for s in series],
                                    y=[s.get(metric) for s in series], name=metric,
                                    mode="lines+markers"))
        if metric in baseline:
            figure.add_hline(y=baseline[metric], line_dash="dot",
                             annotation_text=f"{metric} (test)")
    figure.update_layout(title="Realized quality per hour served (outcomes fed back)",
                         xaxis_title="hour", yaxis_title="value")
    return figure.to_html(full_html=False, include_plotlyjs=True)


def main(payload_path: str, output: str) -> None:
    """I read the payload and write the page."""
    payload = json.loads(Path(payload_path).read_text(encoding="utf-8"))
    features, task = payload["features"], payload["task"]
    numerical, categorical = payload["numerical"], payload["categorical"]
    current = pd.DataFrame(payload["current"])
    notes: list[str] = list(payload["notes"])
    labelled = current[current["target"].notna()] if "target" in current else current[:0]
    parts = [f"<h1>{html.escape(payload['title'])}</h1>",
             f"<p>{len(current)} records logged; {len(labelled)} with an outcome.</p>"]
    parts.append(quality_chart(payload["quality"], payload["baseline"]) if payload["quality"]
                 else "<p>No outcome has been fed back yet: realized quality cannot be shown "
                      "(POST /feedback, runbook section 4).</p>")
    columns = dict(numerical_columns=[f for f in features if f in numerical],
                   categorical_columns=[f for f in features if f in categorical])
    reference = None
    if payload["reference_path"]:
        path = Path(payload["reference_path"])
        reference = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if reference is not None and len(current):
        drift = Report([DataDriftPreset(columns=features)])
        parts.append(frame("Drift per feature: live records against the reference sample",
                           evidently_html(drift, current[features], reference[features],
                                          DataDefinition(**columns))))
    elif reference is None:
        notes.append("No reference sample in the manifest (reference_path): drift per "
                     "feature is not drawn here; /metrics publishes each feature's PSI "
                     "against its feature_stats.")
    if len(labelled) and task in ("classification", "regression"):
        if task == "regression":
            definition = DataDefinition(**columns, regression=[Regression(
                target="target", prediction="prediction")])
            preset: Any = RegressionPreset()
        else:
            probas = [c for c in labelled.columns if c.startswith("proba_")]
            kind = BinaryClassification if len(payload["classes"] or []) == 2 else \
                MulticlassClassification
            labels = {"prediction_labels": "prediction"}
            if probas and kind is BinaryClassification:
                labels = {"prediction_probas": probas[-1],
                          "pos_label": payload["classes"][-1]}
            definition = DataDefinition(**columns, classification=[kind(
                target="target", **labels)])
            preset = ClassificationPreset()
        parts.append(frame("Realized quality on the records with an outcome",
                           evidently_html(Report([preset]), labelled, None, definition)))
    elif len(labelled):
        notes.append(f"Evidently has no quality preset for {task}: its realized metrics are "
                     "in the chart above.")
    parts += [f"<p><em>{html.escape(note)}</em></p>" for note in notes]
    Path(output).write_text("<!doctype html><html><head><meta charset='utf-8'><title>"
                            f"{html.escape(payload['title'])}</title></head><body>"
                            + "".join(parts) + "</body></html>", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
