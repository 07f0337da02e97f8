"""Monitoring as code: the alert rules, their promtool unit tests, and a Grafana dashboard.

The rules are declared once, here, and rendered into ``monitoring/alerts.yml`` (Prometheus),
``monitoring/alerts_test.yml`` (``promtool test rules``), the Kubernetes PrometheusRule and
the runbook's alert table. Every expression selects ``job="<slug>"``: the scrape job (or
the Kubernetes Service) of this deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..plan.context import Context
from ..service.monitoring.quality import METRICS as QUALITY_METRICS

DRIFT_WARNING = 0.1
DRIFT_CRITICAL = 0.25


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    duration: str | None
    severity: str
    summary: str
    action: str
    # promtool test: input series (series -> values), when to evaluate, expected labels.
    series: dict[str, str]
    eval_time: str
    labels: dict[str, str]


def alerts(context: Context) -> list[Alert]:
    """The alert rules of one deployment, with a firing case for each."""
    job = f'job="{context.api.slug}"'
    slug = context.api.slug
    m = context.monitoring
    drift_for = m.drift_alert_for
    return [
        Alert("ModelNotReady", f"min(model_ready{{{job}}}) == 0", "2m", "critical",
              f"{slug}: a worker has no model loaded",
              "/health/ready answers 503 with the reason (runbook 5.2).",
              {f'model_ready{{{job},instance="a"}}': "0x10"}, "5m", {}),
        Alert("HighErrorRate",
              f'sum(rate(http_requests_total{{{job},status=~"5.."}}[5m])) / '
              f"sum(rate(http_requests_total{{{job}}}[5m])) > {m.error_rate}", "5m", "critical",
              f"{slug}: more than {m.error_rate} of requests fail (5xx)",
              "Find the tracebacks by request_id in the logs (runbook 5.4).",
              {f'http_requests_total{{{job},status="500",endpoint="/predict",method="POST"}}':
               "0+10x30",
               f'http_requests_total{{{job},status="200",endpoint="/predict",method="POST"}}':
               "0+10x30"}, "15m", {}),
        Alert("HighLatencyP99",
              "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket"
              f'{{{job},endpoint="/predict"}}[5m]))) > {m.latency_p99_ms / 1000}', "10m",
              "warning", f"{slug}: /predict p99 above {m.latency_p99_ms:g} ms",
              "Check CPU and WORKERS (runbook 5.5).",
              {f'http_request_duration_seconds_bucket{{{job},endpoint="/predict",le="0.1"}}':
               "0+1x30",
               f'http_request_duration_seconds_bucket{{{job},endpoint="/predict",le="10"}}':
               "0+10x30",
               f'http_request_duration_seconds_bucket{{{job},endpoint="/predict",le="+Inf"}}':
               "0+10x30"}, "20m", {}),
        Alert("InputDriftWarning", f"max(drift_psi{{{job}}}) >= {DRIFT_WARNING}", drift_for,
              "warning", f"{slug}: an input's PSI is at least {DRIFT_WARNING} (moderate shift)",
              "drift_psi names the feature; compare it with its training distribution "
              "(runbook 5.6).",
              {f'drift_psi{{{job},feature="x"}}': "0.15x30"}, "20m", {}),
        Alert("InputDriftCritical", f"max(drift_psi{{{job}}}) >= {DRIFT_CRITICAL}", drift_for,
              "critical", f"{slug}: an input's PSI is at least {DRIFT_CRITICAL} (major shift)",
              "Live inputs no longer look like the training data (runbook 5.6).",
              {f'drift_psi{{{job},feature="x"}}': "0.4x30"}, "20m", {}),
        Alert("PredictionDrift", f"max(drift_prediction_psi{{{job}}}) >= {DRIFT_WARNING}",
              drift_for, "warning", f"{slug}: the predictions' PSI is at least {DRIFT_WARNING}",
              "The model's outputs have shifted from training (runbook 5.6).",
              {f"drift_prediction_psi{{{job}}}": "0.3x30"}, "20m", {}),
        Alert("NoTraffic", f"(sum(rate(predictions_total{{{job}}}[15m])) or vector(0)) == 0",
              "15m", "warning", f"{slug}: no predictions for 15 minutes",
              "Check the clients and the route to the service.",
              {f'predictions_total{{{job},endpoint="/predict"}}': "5x60"}, "40m", {}),
        *_task_alerts(context),
        *_quality_alerts(context),
        Alert("InferenceLogDropping", f"sum(increase(inference_log_dropped_total{{{job}}}"
              "[10m])) > 0", None, "warning",
              f"{slug}: the inference log dropped records",
              "A sink is failing or slow, or the queue is full; inference_log_dropped_total "
              "names the sink and the reason (runbook 5.10).",
              {f'inference_log_dropped_total{{{job},sink="jsonl",reason="failed"}}':
               "0 0 5 5 5 5"}, "4m", {}),
        Alert("WorkerRestarted", f"increase(worker_restarts_total{{{job}}}[10m]) > 0", None,
              "warning", f"{slug}: a worker process died and was replaced",
              "The log names its signal or exit code; repeated OOM kills need a larger "
              "memory limit (runbook 5.8).",
              {f'worker_restarts_total{{{job},reason="SIGKILL"}}': "0 0 1 1 1 1"}, "4m",
              {"job": slug, "reason": "SIGKILL"}),
    ]


# The manifest's names for the quality metrics the service measures (quality.py).
METRIC_ALIASES = {"accuracy_score": "accuracy", "f1_score": "f1", "auc": "roc_auc",
                  "roc_auc_score": "roc_auc", "logloss": "log_loss",
                  "mean_absolute_error": "mae", "root_mean_squared_error": "rmse",
                  "precision_score": "precision", "recall_score": "recall",
                  "hit_rate_at_k": "hit_rate", "ndcg_at_k": "ndcg"}


@dataclass(frozen=True)
class Threshold:
    """A realized quality metric's alert threshold, from the manifest's test metric."""

    metric: str
    baseline: float
    limit: float
    higher_is_better: bool

    @property
    def alert(self) -> str:
        return "ModelQuality" + "".join(part.title() for part in self.metric.split("_"))


def quality_thresholds(context: Context) -> list[Threshold]:
    """For each manifest metric the service also measures live: the value at which its
    alert fires (a score ``margin`` below its test value; an error ``margin`` times above)."""
    measured = QUALITY_METRICS.get(context.model.task, {})
    margin = context.monitoring.quality.margin
    found = []
    for name, value in sorted(context.model.metrics.items()):
        metric = METRIC_ALIASES.get(name.lower(), name.lower())
        if metric not in measured or any(t.metric == metric for t in found):
            continue
        better = measured[metric]
        limit = value - margin if better else value * (1 + margin)
        found.append(Threshold(metric, value, round(limit, 6), better))
    return found


def _quality_alerts(context: Context) -> list[Alert]:
    """A realized metric worse than the manifest's by the margin, on enough labels."""
    job = f'job="{context.api.slug}"'
    slug = context.api.slug
    quality = context.monitoring.quality
    enough = f"on() max(model_quality_labels{{{job}}}) >= {quality.min_labels}"
    found = []
    for t in quality_thresholds(context):
        selector = f'model_quality{{{job},metric="{t.metric}"}}'
        worse = f"min({selector}) < {t.limit}" if t.higher_is_better else \
            f"max({selector}) > {t.limit}"
        bad = round(t.limit - 0.1 if t.higher_is_better else t.limit * 2 + 1, 6)
        found.append(Alert(
            t.alert, f"{worse} and {enough}", quality.alert_for, "critical",
            f"{slug}: realized {t.metric} {'below' if t.higher_is_better else 'above'} "
            f"{t.limit:g} (test: {t.baseline:g})",
            "The model's answers are worse than in its tests, on outcomes fed back: check "
            "drift_psi, the labels' source, and retrain (runbook 5.9).",
            {selector.replace("}", ',instance="a"}'): f"{bad}x40",
             f'model_quality_labels{{{job},instance="a"}}': f"{quality.min_labels}x40"},
            "30m", {}))
    return found


def _task_alerts(context: Context) -> list[Alert]:
    """The alerts only one task has: too many anomalies, too short recommendations."""
    job = f'job="{context.api.slug}"'
    slug = context.api.slug
    model = context.model
    share = "sum(rate({metric}{{" + job + "}}[15m])) / sum(rate(predictions_total{{" + job + \
        "}}[15m]))"
    if model.task == "anomaly_detection" and model.anomaly_rate is not None:
        limit = round(min(0.9, 3 * model.anomaly_rate), 6)
        return [Alert(
            "AnomalyRateHigh", f"{share.format(metric='anomalies_total')} > {limit}", "15m",
            "warning", f"{slug}: more than {limit} of records are anomalies (3x the expected "
            f"{model.anomaly_rate})", "Look at what changed upstream; compare drift_psi per "
            "feature (runbook 5.6).",
            {f'anomalies_total{{{job}}}': "0+10x40",
             f'predictions_total{{{job},endpoint="/predict"}}': "0+10x40"}, "35m", {})]
    if model.task == "recommendation":
        return [Alert(
            "RecommendationsShort", f"{share.format(metric='recommendations_short_total')} > "
            "0.05", "15m", "warning", f"{slug}: more than 5% of answers hold fewer items "
            "than asked", "Exclusions or a small catalogue leave fewer than k items; check "
            "the clients' exclude lists and the catalogue (runbook 1).",
            {f'recommendations_short_total{{{job}}}': "0+2x40",
             f'predictions_total{{{job},endpoint="/predict"}}': "0+10x40"}, "35m", {})]
    return []


def rule(alert: Alert) -> dict[str, Any]:
    body: dict[str, Any] = {"alert": alert.name, "expr": alert.expr}
    if alert.duration:
        body["for"] = alert.duration
    body["labels"] = {"severity": alert.severity}
    body["annotations"] = {"summary": alert.summary, "description": alert.action}
    return body


def rules_document(context: Context) -> dict[str, Any]:
    """``alerts.yml``: one rule group named after the deployment."""
    return {"groups": [{"name": context.api.slug,
                        "rules": [rule(a) for a in alerts(context)]}]}


def rules_tests(context: Context) -> dict[str, Any]:
    """``alerts_test.yml``: for every rule, series that make it fire, and the alert
    expected then (labels and annotations)."""
    tests = []
    for alert in alerts(context):
        tests.append({
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in alert.series.items()],
            "alert_rule_test": [{
                "eval_time": alert.eval_time, "alertname": alert.name,
                "exp_alerts": [{"exp_labels": {**alert.labels, "severity": alert.severity},
                                "exp_annotations": {"summary": alert.summary,
                                                    "description": alert.action}}],
            }],
        })
    return {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": tests}


def _panel(panel_id: int, title: str, exprs: list[tuple[str, str]], unit: str,
           y: int) -> dict[str, Any]:
    return {
        "id": panel_id, "type": "timeseries", "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * ((panel_id - 1) % 2), "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"expr": expr, "legendFormat": legend, "refId": chr(65 + i)}
                    for i, (expr, legend) in enumerate(exprs)],
    }


def dashboard(context: Context) -> dict[str, Any]:
    """A Grafana dashboard: requests, latency quantiles, errors, readiness, PSI."""
    job = f'job="{context.api.slug}"'
    panels = [
        ("Requests per second by endpoint",
         [(f"sum by (endpoint) (rate(http_requests_total{{{job}}}[5m]))", "{{endpoint}}")],
         "reqps"),
        ("Latency quantiles of /predict",
         [(f"histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket"
           f'{{{job},endpoint="/predict"}}[5m])))', f"p{int(q * 100)}")
          for q in (0.5, 0.9, 0.99)], "s"),
        ("Errors (5xx share) and invalid input (422 share)",
         [(f'sum(rate(http_requests_total{{{job},status=~"5.."}}[5m])) / '
           f"sum(rate(http_requests_total{{{job}}}[5m]))", "5xx"),
          (f'sum(rate(http_requests_total{{{job},status="422"}}[5m])) / '
           f"sum(rate(http_requests_total{{{job}}}[5m]))", "422")], "percentunit"),
        ("Readiness and worker restarts",
         [(f"min(model_ready{{{job}}})", "ready"),
          (f"sum(increase(worker_restarts_total{{{job}}}[10m]))", "restarts (10 min)")],
         "short"),
        ("Input drift: PSI per feature (0.1 moderate, 0.25 major)",
         [(f"drift_psi{{{job}}}", "{{feature}}"),
          (f"drift_prediction_psi{{{job}}}", "predictions")], "short"),
        ("Null rate per feature",
         [(f"drift_null_rate{{{job}}}", "{{feature}}")], "percentunit"),
        ("Realized quality on outcomes fed back",
         [(f"max by (metric) (model_quality{{{job}}})", "{{metric}}"),
          *[(f"vector({t.baseline})", f"{t.metric} (test)")
            for t in quality_thresholds(context)]], "short"),
        ("Outcomes in the quality window, and the share of predictions labelled",
         [(f"max(model_quality_labels{{{job}}})", "outcomes"),
          (f"max(model_quality_labelled_ratio{{{job}}})", "labelled share")], "short"),
        ("Inference log: records written and dropped per second",
         [(f"sum by (sink) (rate(inference_log_records_total{{{job}}}[5m]))",
           "written {{sink}}"),
          (f"sum by (sink, reason) (rate(inference_log_dropped_total{{{job}}}[5m]))",
           "dropped {{sink}} ({{reason}})")], "short"),
    ]
    return {
        "title": f"{context.api.title} ({context.api.slug})",
        "uid": context.api.slug[:40],
        "schemaVersion": 39, "version": 1, "editable": True,
        "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
        "tags": ["deployment-agent", "ml-serving"],
        "templating": {"list": [{"name": "datasource", "type": "datasource",
                                 "query": "prometheus", "label": "Prometheus"}]},
        "panels": [_panel(i + 1, title, exprs, unit, 8 * (i // 2))
                   for i, (title, exprs, unit) in enumerate(panels)],
    }
