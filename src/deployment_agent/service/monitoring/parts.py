"""I build the inference log, the prediction store and the feedback from the settings.

Nothing of it exists unless ``INFERENCE_LOG_ENABLED`` is true. A store that cannot be
opened (a read-only or missing volume, a database that does not answer) never stops the
service: predictions go on, the reason is logged, and ``/feedback`` answers 503 with it.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

from ..spec import ModelSpec
from .feedback import Feedback
from .inference_log import InferenceLog, Privacy
from .sinks import CloudEvents, JsonLines, Sink
from .store import Store

logger = logging.getLogger("service.inference_log")
MB = 1_000_000


def store_url_for(log_dir: str, database_url: str | None) -> str:
    """I name the prediction store's database: ``database_url``, else SQLite in the log's
    folder."""
    return database_url or f"sqlite:///{Path(log_dir) / 'feedback.sqlite3'}"


def store_url(settings: Any) -> str:
    """I name the prediction store's database of these settings."""
    return store_url_for(settings.inference_log_dir, settings.feedback_database_url)


def open_store(settings: Any) -> tuple[Store | None, str | None]:
    """I open the store, or return None and why I could not."""
    url = store_url(settings)
    try:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return Store(url), None
    except Exception as exc:
        reason = f"the prediction store cannot be opened: {type(exc).__name__}: {exc}"
        logger.error(reason)
        return None, reason


def build(settings: Any, spec: ModelSpec, schemas: Any, sha256: str, handle: Any
          ) -> tuple[InferenceLog | None, Feedback | None, str | None]:
    """I return the inference log, the feedback, and why feedback is unavailable (None:
    it is available)."""
    if not settings.inference_log_enabled:
        return None, None, "the inference log is off (INFERENCE_LOG_ENABLED=false)"
    sinks: list[Sink] = []
    if settings.inference_log_files:
        sinks.append(JsonLines(Path(settings.inference_log_dir),
                               settings.inference_log_rotate_mb * MB,
                               settings.inference_log_max_mb * MB))
    if settings.inference_log_url:
        sinks.append(CloudEvents(settings.inference_log_url, settings.inference_log_mode,
                                 f"http://{socket.gethostname()}:{settings.port}", spec.name))
    store, reason = open_store(settings)
    names = schemas.FEATURE_NAMES
    log = InferenceLog(sinks, store, {"name": spec.name, "version": spec.version,
                                      "sha256": sha256},
                       names, settings.inference_log_mode, settings.inference_log_sample_rate,
                       Privacy(names, settings.inference_log_drop_features,
                               settings.inference_log_hash_features),
                       settings.inference_log_queue_records,
                       requests_as_received=spec.task != "recommendation",
                       retention_seconds=settings.feedback_retention_days * 86_400)

    def unknown_items(ids: list[Any]) -> list[Any]:
        """I return the chosen items the catalogue lacks (a recommender's)."""
        return handle.recommender.unknown(ids) if handle.recommender is not None else []

    feedback = Feedback(spec, store, settings.quality_window,
                        unknown_items if spec.catalogue is not None else None) \
        if store is not None else None
    return log, feedback, reason
