"""What the report is drawn from: the inference log's records, their outcomes, the reference.

I read every entry of the log's JSON Lines files (a file cut short by a crash is read up to
its last whole frame), join each record to its outcome in the prediction store, and bucket
the joined records by the hour they were served to measure the task's quality over time
with the service's own metrics (``service/monitoring/quality.py``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from ..service.monitoring.inference_log import records
from ..service.monitoring.quality import measure
from ..service.monitoring.sinks import read_entries
from ..service.monitoring.store import Store


def outcomes(store: Store) -> dict[str, Any]:
    """Every outcome the store holds, by prediction id."""
    with store.transaction(write=False) as cursor:
        cursor.execute("SELECT prediction_id, outcome FROM outcomes")
        return {prediction_id: json.loads(outcome) for prediction_id, outcome in
                cursor.fetchall()}


def label(answer: dict[str, Any], task: str) -> Any:
    """The one value of an answer the report plots: a label, a value, a flag or the
    top-ranked item."""
    if task == "anomaly_detection":
        return answer.get("is_anomaly")
    if task == "recommendation":
        items = answer.get("items") or []
        return items[0]["item_id"] if items else None
    return answer.get("prediction")


def current(folder: Path, store: Store | None, task: str) -> list[dict[str, Any]]:
    """One row per logged record: its features, ``prediction``, ``time``, and ``target``
    when an outcome was fed back (the answer's probabilities as ``proba_<class>``)."""
    truth = outcomes(store) if store is not None else {}
    rows = []
    for entry in read_entries(folder):
        for record in records(entry):
            answer = record.get("answer") or {}
            row = {**(record.get("features") or {}), "prediction": label(answer, task),
                   "time": record["time"], "prediction_id": record["prediction_id"]}
            for key, value in (answer.get("probabilities") or {}).items():
                row[f"proba_{key}"] = value
            if record["prediction_id"] in truth:
                row["target"] = truth[record["prediction_id"]]
                row["answer"] = answer
            rows.append(row)
    return rows


def quality_over_time(rows: list[dict[str, Any]], task: str, classes: list[Any] | None
                      ) -> list[dict[str, Any]]:
    """The task's metrics per hour served, over the records that have an outcome."""
    hours: dict[str, list[tuple[dict[str, Any], Any]]] = defaultdict(list)
    for row in rows:
        if "target" in row:
            hour = datetime.fromisoformat(row["time"]).strftime("%Y-%m-%d %H:00")
            hours[hour].append((row["answer"], row["target"]))
    return [{"hour": hour, "labels": len(pairs), **measure(task, pairs, classes)}
            for hour, pairs in sorted(hours.items())]
