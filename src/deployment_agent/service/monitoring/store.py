"""I keep what the service predicted and what turned out to be true, in one database.

Every worker of a server, and every replica behind one address, writes its predictions
here and reads every outcome from here, so feedback sent to any of them joins the
prediction it is about, even across a restart. The default is SQLite in the inference log's
volume (one machine; Python's own ``sqlite3``); ``FEEDBACK_DATABASE_URL`` names a
PostgreSQL database for several replicas (``postgresql://user:password@host:5432/db``,
through ``psycopg``, which the image carries when the build names such a database). Both
speak DB-API 2 and the same SQL (``INSERT ... ON CONFLICT ... DO UPDATE``), so I hold one
code path and no ORM (SQLAlchemy would add about 30 MB to every image for two tables).

A request's answers are one row (a batch of 1,000 is one insert, not 1,000), keyed by its
request id, their JSON array kept as bytes: Zstandard-compressed when it is over
COMPRESS_BYTES (a batch's 60 KB become a few, and the database writes that much less: the
store's insert was the larger part of the log's cost on a batch, measured), as it is
otherwise (a single answer is smaller than a compressed frame). An outcome is one row
keyed by the prediction id, with the request and the position it resolves to. Writing
either again replaces it (an outcome sent twice, or corrected, is counted once). What is
older than FEEDBACK_RETENTION_DAYS is deleted (:meth:`Store.prune`, called by the inference
log's writer), so the store's size follows the traffic of that period, not the service's
age.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import zstandard

TABLES = (
    "CREATE TABLE IF NOT EXISTS requests (request_id VARCHAR(300) PRIMARY KEY, "
    "served_at DOUBLE PRECISION NOT NULL, model_version VARCHAR(200) NOT NULL, "
    "records INTEGER NOT NULL, single INTEGER NOT NULL, answers {binary} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS requests_served_at ON requests (served_at)",
    "CREATE TABLE IF NOT EXISTS outcomes (prediction_id VARCHAR(320) PRIMARY KEY, "
    "request_id VARCHAR(300) NOT NULL, position INTEGER NOT NULL, "
    "received_at DOUBLE PRECISION NOT NULL, outcome TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS outcomes_received_at ON outcomes (received_at)",
)
COLUMNS = {"requests": ("request_id", "served_at", "model_version", "records", "single",
                        "answers"),
           "outcomes": ("prediction_id", "request_id", "position", "received_at", "outcome")}
# Ids per IN (...) query: well under every database's parameter limit.
CHUNK = 500
ROWS_PER_INSERT = 100  # rows of one INSERT (600 parameters at most)
POSTGRES = ("postgresql://", "postgres://")
COMPRESS_BYTES = 1024
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # how a Zstandard frame starts (a JSON array: "[")


_compressors = threading.local()


def packed(answers: bytes | msgspec.Raw) -> bytes:
    """I return a request's answers (a JSON array, or its ``msgspec.Raw``) as the store
    keeps them. Each thread keeps its compressor: a new one allocates its tables afresh
    on every call."""
    if len(answers) <= COMPRESS_BYTES:
        return bytes(answers)
    compressor = getattr(_compressors, "zstd", None)
    if compressor is None:
        compressor = _compressors.zstd = zstandard.ZstdCompressor(level=1)
    return compressor.compress(answers)


def unpacked(stored: bytes) -> Any:
    """I return the answers the store kept as ``stored``, decoded."""
    data = bytes(stored)
    if data.startswith(ZSTD_MAGIC):
        data = zstandard.ZstdDecompressor().decompress(data)
    return json.loads(data)


class StoreError(Exception):
    """I am raised when the database URL cannot be used, with what to do about it."""


class Store:
    """I am the predictions and outcomes of one model, in the database at ``url``."""

    def __init__(self, url: str) -> None:
        """I connect (one connection per thread that uses me) and create my tables if
        they are missing; every worker may try at once, which the SQL allows."""
        self.url = url
        self.postgres = url.startswith(POSTGRES)
        if not self.postgres and not url.startswith("sqlite:///"):
            raise StoreError(f"FEEDBACK_DATABASE_URL {url.split(':', 1)[0]}://... is neither "
                             "sqlite:///path nor postgresql://...")
        self.mark = "%s" if self.postgres else "?"
        self.local = threading.local()
        with self.transaction() as cursor:
            for statement in TABLES:
                cursor.execute(statement.format(binary="BYTEA" if self.postgres else "BLOB"))

    def _connect(self) -> Any:
        """I open a connection of this thread."""
        if self.postgres:
            try:
                import psycopg
            except ImportError:
                raise StoreError("this image has no PostgreSQL driver: name the database "
                                 "in deployment.monitoring.feedback.database_url when "
                                 "building it") from None
            return psycopg.connect(self.url)
        path = Path(self.url.removeprefix("sqlite:///"))
        connection = sqlite3.connect(path, timeout=30, isolation_level=None)
        # WAL: readers and one writer at once, as several workers share the file.
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Any]:
        """I give a cursor inside one transaction: committed whole, or rolled back. A
        writing one takes SQLite's write lock at once (waiting for it, not failing)."""
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = self._connect()
        cursor = connection.cursor()
        try:
            if not self.postgres:
                cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield cursor
            connection.commit() if self.postgres else cursor.execute("COMMIT")
        except BaseException:
            connection.rollback()
            raise
        finally:
            cursor.close()

    def _upsert(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        """I insert ``rows`` (tuples in COLUMNS' order), each replacing the row of its key
        (of two rows with one key, the later), ROWS_PER_INSERT rows per statement: a
        statement per row would release and take back Python's lock once per row, and
        under load each such handover waits for the serving thread (measured: the
        writer's CPU per single record nearly doubled in a server)."""
        if not rows:
            return
        columns = COLUMNS[table]
        unique = list({row[0]: row for row in rows}.values())  # a key twice: the later
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        one = f"({', '.join([self.mark] * len(columns))})"
        with self.transaction() as cursor:
            for start in range(0, len(unique), ROWS_PER_INSERT):
                chunk = unique[start:start + ROWS_PER_INSERT]
                cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                               f"{', '.join([one] * len(chunk))} ON CONFLICT ({columns[0]}) "
                               f"DO UPDATE SET {updates}",
                               [value for row in chunk for value in row])

    def add_requests(self, rows: Sequence[tuple[str, float, str, int, int, bytes]]) -> None:
        """I record requests' answers, each a tuple (``request_id``, ``served_at``,
        ``model_version``, ``records``, ``single``: 1 for /predict, ``answers``: a JSON
        array's bytes, as :func:`packed` keeps them). Tuples, not dicts: the inference
        log's writer calls me for every request served."""
        self._upsert("requests", rows)

    def add_outcomes(self, rows: Sequence[dict[str, Any]]) -> None:
        """I record outcomes (``prediction_id``, ``request_id``, ``position``,
        ``received_at``, ``outcome``) in one transaction: all of them, or none."""
        self._upsert("outcomes", [tuple(r[c] for c in COLUMNS["outcomes"]) for r in rows])

    def _requests(self, cursor: Any, ids: Sequence[str], columns: str) -> list[tuple[Any, ...]]:
        """I select ``columns`` of the requests ``ids``, a chunk at a time."""
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start:start + CHUNK])
            cursor.execute(f"SELECT {columns} FROM requests WHERE request_id IN "
                           f"({', '.join([self.mark] * len(chunk))})", chunk)
            found += cursor.fetchall()
        return found

    def resolve(self, ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        """I return the request and position of each prediction id I know: a /predict
        answer's id is its request id; a batch's record is ``<request id>-<index>``."""
        wanted = list(dict.fromkeys(ids))
        candidates: dict[str, list[tuple[str, int, bool]]] = {}
        for prediction_id in wanted:
            options = [(prediction_id, 0, True)]
            head, _, tail = prediction_id.rpartition("-")
            if head and tail.isdigit() and len(tail) < 10:
                options.append((head, int(tail), False))
            candidates[prediction_id] = options
        names = list(dict.fromkeys(r for options in candidates.values() for r, _, _ in options))
        with self.transaction(write=False) as cursor:
            known = {r: (records, bool(single)) for r, records, single in
                     self._requests(cursor, names, "request_id, records, single")}
        found = {}
        for prediction_id, options in candidates.items():
            for request_id, position, single in options:
                if request_id in known and known[request_id][1] == single and \
                        position < known[request_id][0]:
                    found[prediction_id] = (request_id, position)
                    break
        return found

    def window(self, size: int) -> list[tuple[Any, str, float, float]]:
        """I return the last ``size`` outcomes received, each with the answer it is about:
        (answer, outcome JSON, served at, received at), newest first. Each request's
        answers are read once, however many of its records have outcomes."""
        with self.transaction(write=False) as cursor:
            cursor.execute("SELECT request_id, position, outcome, received_at FROM outcomes "
                           f"ORDER BY received_at DESC LIMIT {int(size)}")
            outcomes = cursor.fetchall()
            requests = {r: (unpacked(answers), served_at) for r, answers, served_at in
                        self._requests(cursor, list({o[0] for o in outcomes}),
                                       "request_id, answers, served_at")}
        return [(requests[r][0][position], outcome, requests[r][1], received_at)
                for r, position, outcome, received_at in outcomes if r in requests]

    def prune(self, before: float) -> int:
        """I delete the requests served before ``before`` (seconds since the epoch) and the
        outcomes received before it, in one transaction; I return how many requests went.
        Both deletions walk an index on time: a prune costs what it deletes."""
        with self.transaction() as cursor:
            cursor.execute(f"DELETE FROM requests WHERE served_at < {self.mark}", (before,))
            deleted = cursor.rowcount
            cursor.execute(f"DELETE FROM outcomes WHERE received_at < {self.mark}", (before,))
        return max(deleted, 0)

    def served_since(self, since: float) -> int:
        """I count the predictions served from ``since`` on."""
        with self.transaction(write=False) as cursor:
            cursor.execute("SELECT COALESCE(SUM(records), 0) FROM requests WHERE served_at >= "
                           f"{self.mark}", (since,))
            return int(cursor.fetchone()[0])
