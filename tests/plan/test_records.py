"""The records the steps hand each other: typed, one file each, read back as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployment_agent.plan import records
from deployment_agent.plan.layout import layout_for


def test_every_record_reads_back_as_written(tmp_path: Path) -> None:
    layout = layout_for(tmp_path / "m.json", build_dir=tmp_path / "state")
    written = [records.Generated("api:1.0.0-abc", "r/api:1.0.0", "bentoml", "onnx"),
               records.Bento("api:1.0.0-abc", str(tmp_path / "b"), "r/api:1.0.0"),
               records.Image("r/api:1.0.0", "sha256:1", "api:1.0.0-abc", "bentoml", 10, 1.5),
               records.Push("r/api:1.0.0", "sha256:1", "sha256:2", "r/api@sha256:2")]
    for record in written:
        assert not records.exists(layout, type(record))
        records.write(layout, record)
        assert records.read(layout, type(record)) == record
    assert sorted(p.name for p in layout.state.iterdir()) == [
        "bento.json", "generated.json", "image.json", "push.json"]


def test_a_record_not_written_yet_is_an_error_not_a_guess(tmp_path: Path) -> None:
    layout = layout_for(tmp_path / "m.json", build_dir=tmp_path / "state")
    with pytest.raises(FileNotFoundError):
        records.read(layout, records.Bento)
