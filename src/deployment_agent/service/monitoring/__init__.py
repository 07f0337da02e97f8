"""I am the service's life after the first day: what it answered, and whether it is right.

- ``inference_log.py``: every answered record, off the hot path, to its sinks;
- ``sinks.py``: rotated, compressed JSON Lines files, and CloudEvents over HTTP in
  KServe's logger format;
- ``store.py``: the predictions and their true outcomes, in one database every worker and
  replica shares (SQLite in the log's volume, or PostgreSQL);
- ``feedback.py``: ``POST /feedback``, the ground truth, validated whole before any of it
  is applied;
- ``quality.py``: the task's own metrics over the last outcomes, as Prometheus gauges;
- ``drift.py``: the inputs and predictions against their training distributions (PSI).
"""
