"""The access log written in blocks: every line arrives, whole, in order, soon, and before
any later log line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import select

import pytest

from deployment_agent.service import logs


class Recorder(io.StringIO):
    """A stdout that remembers each write, to check how lines were cut."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.monkeypatch = monkeypatch

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)

    def install(self) -> None:
        """I become sys.stdout, for the access log and the service's handler. (pytest sets
        its own capture again in each phase, so a test calls me in its body.)"""
        self.monkeypatch.setattr("sys.stdout", self)
        logs.configure_logging("info")


@pytest.fixture
def stdout(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    return Recorder(monkeypatch)


def test_lines_wait_for_the_loop_then_arrive_in_order(stdout: Recorder) -> None:
    stdout.install()
    access = logs.AccessLog()

    async def requests() -> list[str]:
        for i in range(3):
            access.write("POST", f"/predict/{i}", 200, 0.5)
        before = stdout.getvalue()
        await asyncio.sleep(access.FLUSH_SECONDS * 3)
        return [before, stdout.getvalue()]

    before, after = asyncio.run(requests())
    assert before == ""
    lines = [json.loads(line) for line in after.splitlines()]
    assert [line["path"] for line in lines] == ["/predict/0", "/predict/1", "/predict/2"]
    assert list(lines[0]) == ["time", "level", "logger", "message", "request_id", "method",
                              "path", "status", "duration_ms"]
    assert len(stdout.writes) == 1  # one write for the three lines


def test_a_full_buffer_is_written_at_once_in_whole_lines_within_pipe_buf(
        stdout: Recorder) -> None:
    stdout.install()
    access = logs.AccessLog()

    async def burst() -> None:
        for i in range(200):
            access.write("POST", "/predict/batch" + "x" * (i % 50), 200, 1.25)
        access.flush()

    asyncio.run(burst())
    assert len(stdout.writes) > 1
    for block in stdout.writes:
        assert len(block.encode()) <= select.PIPE_BUF and block.endswith("\n")
    assert len(stdout.getvalue().splitlines()) == 200


def test_another_log_line_comes_after_the_access_lines_before_it(stdout: Recorder) -> None:
    stdout.install()

    async def request_then_error() -> None:
        logs.ACCESS_LOG.write("POST", "/predict", 500, 3.0)
        logging.getLogger("service.app").error("prediction failed")

    asyncio.run(request_then_error())
    lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["request", "prediction failed"]


def test_without_a_running_loop_a_line_is_written_at_once(stdout: Recorder) -> None:
    stdout.install()
    logs.AccessLog().write("GET", "/health", 200, 0.1)
    assert json.loads(stdout.getvalue())["path"] == "/health"
