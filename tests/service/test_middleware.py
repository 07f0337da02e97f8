"""Request ids: 32 hex digits, unique within a process and across forked workers."""

from __future__ import annotations

import os
import re

from deployment_agent.service.middleware import SAFE_REQUEST_ID, RequestIds


def test_ids_are_hex_unique_and_safe_to_log() -> None:
    ids = RequestIds()
    made = [ids.new() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) and SAFE_REQUEST_ID.fullmatch(i) for i in made)


def test_a_forked_worker_draws_its_own_prefix() -> None:
    ids = RequestIds()
    parent = ids.new()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, then exit at once
        os.write(writer, ids.new().encode())
        os._exit(0)
    os.close(writer)
    child = os.read(reader, 64).decode()
    os.waitpid(pid, 0)
    os.close(reader)
    assert child[:16] != parent[:16]
    assert child != ids.new()
