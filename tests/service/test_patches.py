"""The service's patches of pinned libraries, imported as Python: each still targets the
code it was written for, at the version the generator pins, and installs once."""

from __future__ import annotations

import hashlib
import inspect

import pytest

from deployment_agent.service import patches, patches_bentoml, patches_uvicorn
from deployment_agent.stack import declared_pins

RUNTIMES = {"bentoml": patches_bentoml, "uvicorn": patches_uvicorn}


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_patched_sources_are_the_pinned_versions(runtime: str) -> None:
    """An upgrade of uvicorn, BentoML or circus that changes a patched method fails here,
    naming it, instead of silently breaking the drain or the memory fix."""
    module = RUNTIMES[runtime]
    targets = set()
    for patch in module.PATCHES:
        current = getattr(patch.owner, patch.method)
        # Another test of this process may have installed it: read what it replaced.
        original = current.__wrapped__ if getattr(current, patches.INSTALLED, False) \
            else current
        target = f"{patch.owner.__module__}.{patch.owner.__qualname__}.{patch.method}"
        targets.add(target)
        actual = hashlib.sha256(inspect.getsource(original).encode()).hexdigest()
        assert actual == patch.source_sha256, f"{target} changed since {patch.version}"
        name, version = patch.version.split(" ")[0].split("==")
        assert declared_pins()[name] == version, f"{target}: written for {patch.version}"
    assert "uvicorn.server.Server.shutdown" in targets
    assert ("circus.arbiter.Arbiter.stop" in targets) == (runtime == "bentoml")


def test_installing_twice_changes_nothing() -> None:
    """The entrypoint and every worker's start-up both install: the second is a no-op."""
    every = (*patches_bentoml.PATCHES, *patches_uvicorn.PATCHES)
    saved = {(p.owner, p.method): getattr(p.owner, p.method) for p in every}
    try:
        patches.install(every)
        first = [getattr(p.owner, p.method) for p in every]
        assert all(getattr(f, patches.INSTALLED) for f in first)
        patches.install(every)
        assert first == [getattr(p.owner, p.method) for p in every]
    finally:
        for (owner, method), original in saved.items():
            setattr(owner, method, original)


def test_a_death_is_named_by_its_signal_and_counted(tmp_path: object) -> None:
    assert patches.death_reason(-9) == "SIGKILL"
    assert patches.death_reason(3) == "exit 3"
    folder = str(tmp_path)
    patches.record_worker_death(folder, 1, "SIGKILL")
    patches.record_worker_death(folder, 2, "SIGKILL")
    patches.record_worker_death(folder, 3, "exit 1")
    assert patches.worker_deaths(folder) == {"SIGKILL": 2, "exit 1": 1}
