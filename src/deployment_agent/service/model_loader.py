"""I load the model, verify it, and keep it ready for every request of this process.

I know nothing about HTTP: I turn validated rows into answers, and the web layer
(``main.py``) maps my exceptions to status codes. How the file is deserialised and scored
is the scoring module's business (``scoring.py``, chosen for the model's family when the
deployment was generated); what the answers look like is the predictor's (``predictor.py``).

I guard loading three ways, because a wrong model serves wrong answers silently: the
file's sha256 (and a recommender's catalogue's) must match the one recorded when it was
built; the library refuses a file from another version; and a self-check on the example
input must give an answer the service can serve before I report ready.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from .digest import sha256_of
from .predictor import Predictor
from .spec import ModelSpec

logger = logging.getLogger("service.model")


class ModelLoadError(Exception):
    """I am raised when the model file is missing, altered, unreadable, or fails its
    self-check; my message is the reason /health/ready reports."""


class ModelNotReadyError(Exception):
    """I am raised when a prediction is asked for before the model finished loading."""


class UnknownItems(Exception):
    """I am raised when a recommendation request names item ids the catalogue lacks."""

    def __init__(self, field: str, ids: list[Any]) -> None:
        """I keep the request field and the unknown ids, for the 422 that names them."""
        super().__init__(f"unknown item ids {ids}")
        self.field = field
        self.ids = ids


def verified(path: Path, expected_sha256: str, what: str) -> Path:
    """I return ``path`` once its hash matches: I never open an unverified file, because
    unpickling one can run arbitrary code."""
    if not path.is_file():
        raise ModelLoadError(f"{what} {path} not found")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ModelLoadError(f"{what} {path} has sha256 {actual}, expected {expected_sha256}: "
                             "refusing to load")
    return path


class ModelHandle:
    """I hold the loaded model and its readiness, shared by every request of this process."""

    def __init__(self, path: Path, sha256: str, spec: ModelSpec, scoring: ModuleType,
                 example: Sequence[object], root: Path) -> None:
        """I start empty and not ready; ``load`` fills me. ``scoring`` is the module that
        loads and runs this model's family; ``example`` the self-check's row; ``root``
        where the catalogue's relative path starts."""
        self.path = path
        self.sha256 = sha256
        self.spec = spec
        self.scoring = scoring
        self.example = tuple(example)
        self.root = root
        self.predictor: Predictor | None = None
        self.recommender: Any = None
        # The self-check's answer: what an answer of this model holds.
        self.checked: dict[str, Any] | None = None
        self.ready = False
        self.error: str | None = "model not loaded yet"
        self.load_seconds: float | None = None
        self.loaded_at: float | None = None
        # Set once the first load attempt has finished, whether it worked or not.
        self.first_attempt_done = threading.Event()

    def load(self) -> None:
        """I load and self-check the model (and a recommender's catalogue); only then do I
        mark myself ready."""
        started = time.perf_counter()
        path = verified(self.path, self.sha256, "model file")
        try:
            predictor = Predictor(self.scoring.load(path, self.spec), self.spec)
        except self.scoring.IncompatibleModel as exc:
            raise ModelLoadError(str(exc)) from None
        except getattr(self.scoring, "ThreadSetupError", ()) as exc:
            raise ModelLoadError(f"the model was read, but setting it to one thread failed: "
                                 f"{exc}") from exc
        except Exception as exc:  # truncated or corrupt files fail in many ways
            raise ModelLoadError(f"cannot load {path}: {type(exc).__name__}: {exc}") from exc
        recommender = None
        try:
            if self.spec.catalogue is not None:
                from .recommender import Recommender, read_catalogue

                catalogue = self.spec.catalogue
                items = read_catalogue(verified(self.root / catalogue.file, catalogue.sha256,
                                                "catalogue file"), catalogue)
                recommender = Recommender(predictor, items, catalogue)
                checked = recommender.check(self.example)
            else:
                checked = predictor.check(self.example)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"self-check failed: {type(exc).__name__}: {exc}") from exc
        self.predictor, self.recommender, self.checked = predictor, recommender, checked
        self.load_seconds = time.perf_counter() - started
        self.loaded_at = time.time()
        self.error = None
        self.ready = True
        logger.info("model loaded", extra={"model": self.spec.name,
                                           "version": self.spec.version,
                                           "seconds": self.load_seconds})

    def load_until_ready(self, retry_seconds: float, stop: threading.Event) -> None:
        """I try to load until it works or ``stop`` is set (in a background thread).

        Retrying lets a model arrive late (a volume mounted after start) without a
        restart; meanwhile liveness stays 200 and readiness 503 with the reason.
        """
        while not stop.is_set():
            try:
                self.load()
                return
            except Exception as exc:
                self.error = str(exc)
                logger.error("model not loaded, retrying in %.0f s: %s", retry_seconds, exc)
            finally:
                self.first_attempt_done.set()
            stop.wait(retry_seconds)

    def predict(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """I answer validated rows (recommendation queries for a recommender), in order; I
        raise if not ready, and UnknownItems for ids the catalogue lacks."""
        if not self.ready or self.predictor is None:
            raise ModelNotReadyError(self.error or "model not ready")
        if self.recommender is None:
            return self.predictor.predict(rows)
        named = {"item_id": [q.item_id for q in rows if q.item_id is not None],
                 "exclude": [i for q in rows for i in q.exclude]}
        for field, ids in named.items():
            unknown = self.recommender.unknown(ids)
            if unknown:
                raise UnknownItems(field, sorted(set(unknown), key=str))
        return self.recommender.recommend(rows)
