"""I record every answer the service gives, without ever slowing one down.

A route hands me what it answered (:meth:`InferenceLog.submit`: the endpoint, the request
id, the validated rows and the answers): I only append that to a bounded queue. A
background thread wakes every FLUSH_SECONDS, turns what waits into entries and writes them
to the sinks (``sinks.py``) and the prediction store (``store.py``). When the queue is full,
what does not fit is dropped and counted (``inference_log_dropped_total{sink="queue"}``);
a sink that fails drops its records and counts them too, and the predictions go on. On a
graceful stop (SIGTERM) the app closes me and I write everything still queued: the
records logged then equal the records answered.

One entry per request, as KServe's logger has one event per request: its ``request_id``,
``time`` (UTC, ISO 8601), ``endpoint``, the model's ``name``, ``version`` and ``sha256``,
how many ``records`` it held and whether it was a ``single`` record (the prediction ids:
the request id for ``/predict``; ``<request id>-<index>`` for each record of a batch or of
an Open Inference Protocol infer), the features, and the ``answers``. The features of a
``/predict`` or ``/predict/batch`` body are the ``request`` itself, its JSON exactly as
received (as KServe's logger sends the payload): I copy its bytes, I never encode them
again, because formatting a batch's floats as JSON cost more than a third of serving it
(measured: 0.26 ms for 1,000 churn records). Any other request (the Open Inference
Protocol's, a recommender's query), or any request while features are dropped or hashed
(INFERENCE_LOG_DROP_FEATURES left out, INFERENCE_LOG_HASH_FEATURES replaced by the sha256
of their JSON), has the ``feature_names`` and each record's validated ``features`` instead.
An entry's answers are encoded once for the store and the files; the entries of a write are
encoded a few hundred records per call, in C (``sinks.chunks``). :func:`records` turns an
entry into one dict per record.
``INFERENCE_LOG_MODE`` keeps only the features (``request``) or only the answers
(``response``) in the sinks; ``INFERENCE_LOG_SAMPLE_RATE`` keeps that share of the
requests in the sinks. The store keeps every request's answers, sampled or not, so that
any prediction can be given its outcome.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import math
import random
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
from prometheus_client import Counter

from ..metrics import REGISTRY
from .sinks import Sink, decoded, features_of
from .store import Store, packed

logger = logging.getLogger("service.inference_log")
FLUSH_SECONDS = 0.2
PRUNE_SECONDS = 60.0
ENCODE = msgspec.json.Encoder().encode

LOGGED = Counter("inference_log_records_total", "Records written by each inference log sink.",
                 ["sink"], registry=REGISTRY)
DROPPED = Counter("inference_log_dropped_total",
                  "Records an inference log sink could not take (queue full, sink failed).",
                  ["sink", "reason"], registry=REGISTRY)


def prediction_ids(request_id: str, count: int, single: bool) -> list[str]:
    """I name a request's records: its request id for a single record, else the request
    id and each record's index."""
    return [request_id] if single else [f"{request_id}-{i}" for i in range(count)]


def records(entry: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """I yield an entry's records, one dict each: ``prediction_id``, ``time``,
    ``request_id``, ``endpoint``, ``model``, ``features`` (by name) and ``answer``."""
    features = features_of(entry)
    answers = decoded(entry.get("answers"))
    for i, prediction_id in enumerate(prediction_ids(entry["request_id"], entry["records"],
                                                     entry["single"])):
        record = {key: entry[key] for key in ("time", "request_id", "endpoint", "model")}
        record["prediction_id"] = prediction_id
        if features is not None:
            record["features"] = features[i]
        if answers is not None:
            record["answer"] = answers[i]
        yield record


def one_line(body: bytes) -> bytes:
    """I return a JSON body on one line, its line breaks deleted: outside a string a line
    break is whitespace, which JSON never needs between tokens, and inside one JSON
    escapes it. A body without any is returned as it is."""
    return body.translate(None, b"\r\n")


class Clock:
    """I write a time as ISO 8601 in UTC, formatting its date and second once per
    second: a log of single records asks thousands of times a second."""

    def __init__(self) -> None:
        """I have formatted no second yet."""
        self.second = -1
        self.prefix = ""

    def iso(self, at: float) -> str:
        """I return ``at`` (seconds since the epoch) as ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``,
        as ``datetime.isoformat`` writes it, always with the microseconds."""
        second = int(at)
        if second != self.second:
            self.second = second
            self.prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        # %-formatting: a third of an f-string's time here (measured); %d truncates
        return self.prefix + ".%06d+00:00" % ((at - second) * 1e6)  # noqa: UP031


class Privacy:
    """I remove or hash the features an operator named, before an entry leaves me."""

    def __init__(self, names: Sequence[str], drop: Sequence[str], hashed: Sequence[str]
                 ) -> None:
        """I keep the positions to drop and to hash among the features ``names``."""
        dropped = set(drop)
        self.keep = [i for i, n in enumerate(names) if n not in dropped]
        self.hashed = {i for i, n in enumerate(names) if n in set(hashed) - dropped}
        self.names = [names[i] for i in self.keep]
        self.active = len(self.keep) < len(names) or bool(self.hashed)

    def apply(self, rows: Sequence[Any]) -> list[Any]:
        """I return ``rows`` without the dropped features, the hashed ones as sha256."""
        if not self.active:
            return list(rows)
        return [None if row is None else
                [f"sha256:{hashlib.sha256(ENCODE(row[i])).hexdigest()}"
                 if i in self.hashed else row[i] for i in self.keep] for row in rows]


class InferenceLog:
    """I am the bounded queue of answered requests, and the thread that writes them."""

    def __init__(self, sinks: Sequence[Sink], store: Store | None, model: dict[str, str],
                 feature_names: Sequence[str], mode: str = "all", sample_rate: float = 1.0,
                 privacy: Privacy | None = None, queue_size: int = 10_000,
                 requests_as_received: bool = True,
                 retention_seconds: float = math.inf) -> None:
        """I keep my sinks, the store (None: no feedback), who the model is (name, version,
        sha256), the features' names, what to keep, and whether a record route's body may
        stand for its features (``requests_as_received``: not for a recommender, whose
        body is a query), and how long the store keeps a prediction."""
        self.sinks = list(sinks)
        self.store = store
        self.model = model
        self.keep_features = mode in ("all", "request")
        self.keep_answer = mode in ("all", "response")
        self.sample_rate = sample_rate
        self.privacy = privacy or Privacy(feature_names, (), ())
        self.as_received = requests_as_received and not self.privacy.active
        self.clock = Clock()
        self.retention_seconds = retention_seconds
        self.pruned_at = -math.inf  # the first turn prunes what a previous run left
        self.queue_size = queue_size
        self.pending: collections.deque[tuple[Any, ...]] = collections.deque()
        self.queued = 0  # records waiting
        self.counting = threading.Lock()  # guards ``queued`` (two threads change it)
        self.lock = threading.Lock()  # one drain at a time
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.counters = {s.name: LOGGED.labels(s.name) for s in self.sinks}
        # Every series a dashboard reads exists from the start, at 0 (in multiprocess
        # mode a counter appears only once a child of it is made).
        for sink, reason in [*((s.name, r) for s in self.sinks for r in ("failed", "full")),
                             ("queue", "full"), ("store", "failed")]:
            DROPPED.labels(sink, reason)
        for sink in self.sinks:  # a sink that writes from its own thread reports back
            if hasattr(sink, "on_sent"):
                sink.on_sent = self.counters[sink.name].inc
                sink.on_dropped = DROPPED.labels(sink.name, "failed").inc

    def start(self) -> None:
        """I start my writer thread (once per worker process)."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="inference-log",
                                           daemon=True)
            self.thread.start()

    def submit(self, endpoint: str, request_id: str, rows: Sequence[Any],
               answers: Sequence[Any], single: bool = False, body: bytes | None = None
               ) -> None:
        """I queue one request's answers (encodable structs or dicts, or their JSON array as
        a ``msgspec.Raw``) and its features: its ``body`` when it is a record route's JSON
        and may stand for them, else its validated rows; this is all a request pays. I
        hold no more than I will write (a batch's rows are thousands of Python objects,
        which cost more to keep and free than to serve). What does not fit in the queue
        is dropped and counted."""
        count = len(rows)
        with self.counting:
            if self.queued + count > self.queue_size:
                DROPPED.labels("queue", "full").inc(count)
                return
            self.queued += count
        if not self.keep_features:
            features: Any = None
        elif body is not None and self.as_received:
            features = body  # bytes: the request as received
        else:
            features = rows
        self.pending.append((endpoint, request_id, time.time(), count, features, answers,
                             single))

    def _run(self) -> None:
        """I write what waits, every FLUSH_SECONDS, until I am stopped, and delete what
        the store no longer keeps every PRUNE_SECONDS."""
        while not self.stop.wait(FLUSH_SECONDS):
            try:
                self.flush()
                if time.monotonic() - self.pruned_at >= PRUNE_SECONDS:
                    self.prune()
            except Exception:  # never let the writer die: the next turn tries again
                logger.exception("inference log write failed")

    def prune(self) -> None:
        """I delete the store's predictions older than the retention, and their
        outcomes (every worker does: the second finds nothing to delete)."""
        self.pruned_at = time.monotonic()
        if self.store is None or math.isinf(self.retention_seconds):
            return
        try:
            deleted = self.store.prune(time.time() - self.retention_seconds)
        except Exception as exc:
            logger.error("prediction store prune failed: %s", exc)
            return
        if deleted:
            logger.info("prediction store: %d requests past FEEDBACK_RETENTION_DAYS deleted",
                        deleted)

    def _entries(self, batch: list[tuple[Any, ...]]) -> tuple[list[dict[str, Any]],
                                                               list[tuple[Any, ...]]]:
        """I build the sinks' entries (sampled, private) and the store's rows of
        ``batch``."""
        entries: list[dict[str, Any]] = []
        stored: list[tuple[Any, ...]] = []
        version = self.model["version"]
        for endpoint, request_id, served_at, count, features, answers, single in batch:
            # once, for the store and the sinks (a route may hand them encoded: kept as
            # they are, since a copy of a batch's costs more than using it)
            encoded = answers if isinstance(answers, msgspec.Raw) else msgspec.Raw(
                ENCODE(answers))
            if self.store is not None:
                stored.append((request_id, served_at, version, count, int(single),
                               packed(encoded)))
            if not self.sinks or (self.sample_rate < 1.0 and
                                  random.random() >= self.sample_rate):
                continue
            entry: dict[str, Any] = {
                "request_id": request_id, "endpoint": endpoint, "model": self.model,
                "time": self.clock.iso(served_at), "records": count, "single": single}
            if isinstance(features, bytes):
                entry["request"] = msgspec.Raw(one_line(features))
            elif features is not None:
                entry["feature_names"] = self.privacy.names
                # a recommender's query carries its row (checked once: one kind a request)
                entry["features"] = self.privacy.apply(
                    [r.row for r in features] if features and hasattr(features[0], "row")
                    else features)
            if self.keep_answer:
                entry["answers"] = encoded
            entries.append(entry)
        return entries, stored

    def flush(self) -> None:
        """I write everything queued now: to each sink, then to the store (feedback calls
        me first, so that a prediction this worker just made can be joined)."""
        with self.lock:
            batch = []
            while self.pending:
                batch.append(self.pending.popleft())
            if not batch:
                return
            count = sum(item[3] for item in batch)
            with self.counting:
                self.queued -= count
            entries, stored = self._entries(batch)
            logged = sum(e["records"] for e in entries)
            for sink in self.sinks:
                try:
                    failed = sink.write(entries)
                except Exception as exc:
                    failed = logged
                    logger.error("inference log sink %s failed: %s", sink.name, exc)
                if failed:
                    DROPPED.labels(sink.name, "full" if hasattr(sink, "on_sent") else
                                   "failed").inc(failed)
                if logged - failed and not hasattr(sink, "on_sent"):
                    self.counters[sink.name].inc(logged - failed)
            if self.store is not None and stored:
                try:
                    self.store.add_requests(stored)
                except Exception as exc:
                    DROPPED.labels("store", "failed").inc(count)
                    logger.error("prediction store write failed: %s", exc)

    def close(self, grace: float = 10.0) -> None:
        """I stop my thread and write what is left, then close my sinks (a remote one
        posts what it still holds for at most ``grace`` seconds)."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
        self.flush()
        for sink in self.sinks:
            try:
                sink.close(grace)
            except Exception as exc:
                logger.error("inference log sink %s did not close: %s", sink.name, exc)
