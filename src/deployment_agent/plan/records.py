"""The records the build's steps hand each other: one home for each one's name and shape.

Each step writes one record into the build state folder and reads only the records of the
steps before it, never the user-facing ``deployment_manifest.json`` (which the generate
step writes for people and tools, from these same values). A record is a typed tuple;
:func:`write` and :func:`read` are the only code that touches the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from .layout import Layout


class Generated(NamedTuple):
    """What generate made: the bento's tag, the image reference the plan names, the
    runtimes chosen."""

    bento_tag: str
    image: str
    serving: str
    model_runtime: str


class Bento(NamedTuple):
    """What bento built: the tag, where it is, and the image reference it is built for."""

    tag: str
    path: str
    image: str


class Image(NamedTuple):
    """What containerize built: the reference, the image id, the bento it came from."""

    image: str
    id: str
    bento_tag: str
    runtime: str
    size_bytes: int
    build_seconds: float


class Push(NamedTuple):
    """What push sent: the reference, the image id pushed, its digest and the reference by
    digest (what Kubernetes and the runbook's rollback name)."""

    image: str
    image_id: str
    digest: str
    reference: str


Record = TypeVar("Record", Generated, Bento, Image, Push)
# Each record's file in the build state (a Layout attribute).
FILES: dict[type, str] = {Generated: "generated_record", Bento: "bento_record",
                          Image: "image_record", Push: "push_record"}


def path_of(layout: Layout, kind: type) -> Path:
    """The file of record ``kind`` in this build."""
    return Path(getattr(layout, FILES[kind]))


def write(layout: Layout, record: Record) -> Record:
    """Write ``record`` to its file; return it."""
    path = path_of(layout, type(record))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record._asdict(), indent=2) + "\n", encoding="utf-8")
    return record


def read(layout: Layout, kind: type[Record]) -> Record:
    """Read record ``kind`` (a missing file is the step before not having run)."""
    data: dict[str, Any] = json.loads(path_of(layout, kind).read_text(encoding="utf-8"))
    return kind(**{name: data[name] for name in kind._fields})


def exists(layout: Layout, kind: type) -> bool:
    """Whether the step that writes ``kind`` has run."""
    return path_of(layout, kind).is_file()
