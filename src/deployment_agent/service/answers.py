"""I am the answers of one model call: one per record, kept ready to encode.

Building a Python dict per record (and another for its probabilities) cost more than the
model call itself: about 0.9 ms for 1,000 records. So my records are msgspec structs,
built column by column by C functions (``map`` over the model's output columns), which
msgspec encodes to JSON directly; a dict is built only when one answer is read
(``answers[i]``, e.g. by ``/predict`` or BentoML's endpoints).

Beside them I keep what the monitoring reads without looking at each answer: the value the
drift monitor watches per record (``watched``), and the count of the task's own events
(``events``: anomalies flagged, recommendations shorter than asked for); and the model's
output columns the answers were built from (``columns``: each answer field's values in
record order, the probabilities as one array), which the Open Inference Protocol answers
with as they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import msgspec

ENCODE = msgspec.json.Encoder().encode

class Answers(Sequence[dict[str, Any]]):
    """I am a sequence of answers (dicts when read), encodable as they are."""

    __slots__ = ("items", "watched", "events", "columns", "encoded")

    def __init__(self, items: list[Any], watched: list[Any], events: int = 0,
                 columns: dict[str, Any] | None = None) -> None:
        """I keep the encodable answers (msgspec structs or dicts), the watched value of
        each (None: not counted), the task's event count and the output columns (none for
        a recommender, whose answers are ranked lists)."""
        self.items = items
        self.watched = watched
        self.events = events
        self.columns = columns or {}
        self.encoded: bytes | None = None

    def json(self) -> bytes:
        """I return my answers as one JSON array, encoded once: the batch route answers
        with these bytes and the inference log writes them, so neither encodes again."""
        if self.encoded is None:
            self.encoded = ENCODE(self.items)
        return self.encoded

    def __len__(self) -> int:
        """I count the answers."""
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]:
        """I return one answer."""

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]:
        """I return several answers."""

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        """I return an answer as a plain dict (its JSON form), or a list of them."""
        if isinstance(index, slice):
            return [msgspec.to_builtins(item) for item in self.items[index]]
        return msgspec.to_builtins(self.items[index])  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """I yield each answer as a plain dict."""
        return (msgspec.to_builtins(item) for item in self.items)

    def __eq__(self, other: object) -> bool:
        """I equal any sequence of the same answers (a list of dicts, say)."""
        if not isinstance(other, Sequence):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        """I show the answers as the dicts they read as."""
        return f"Answers({list(self)!r})"


def answer_type(name: str, fields: Sequence[tuple[str, Any]],
                rename: dict[str, str] | None = None) -> type[msgspec.Struct]:
    """I define one answer's struct: positional fields in order, JSON names by ``rename``,
    no garbage-collector tracking (answers hold no cycles)."""
    return msgspec.defstruct(name, list(fields), rename=rename, gc=False)
