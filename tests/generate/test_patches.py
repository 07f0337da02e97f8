"""The generated service's patches of pinned libraries: each still targets the code it was
written for, and installing them twice changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deployment_agent import run_deployment_agent

PROBE = """
import hashlib, inspect, json
from api import patches
found = []
for patch in patches.PATCHES:
    source = inspect.getsource(getattr(patch.owner, patch.method))
    found.append({"target": f"{patch.owner.__module__}.{patch.owner.__qualname__}."
                            f"{patch.method}", "version": patch.version,
                  "expected": patch.source_sha256,
                  "actual": hashlib.sha256(source.encode()).hexdigest()})
patches.install()
first = [getattr(p.owner, p.method) for p in patches.PATCHES]
patches.install()
print(json.dumps({"patches": found, "idempotent": first == [getattr(p.owner, p.method)
                                                            for p in patches.PATCHES]}))
"""


@pytest.mark.parametrize("runtime", ["bentoml", "uvicorn"])
def test_patched_sources_are_the_pinned_versions(experiments: dict[str, Path], tmp_path: Path,
                                                 runtime: str) -> None:
    """An upgrade of uvicorn, BentoML or circus that changes a patched method fails here,
    naming it, instead of silently breaking the drain or the memory fix."""
    out, _ = run_deployment_agent(experiments["churn"], output_dir=tmp_path / runtime,
                                  runtime=runtime)
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=out, capture_output=True,
                            text=True, check=True)
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["idempotent"]
    targets = {p["target"] for p in report["patches"]}
    assert "uvicorn.server.Server.shutdown" in targets
    assert ("circus.arbiter.Arbiter.stop" in targets) == (runtime == "bentoml")
    for patch in report["patches"]:
        assert patch["actual"] == patch["expected"], (
            f"{patch['target']} changed since {patch['version']}: review the patch")
        assert "==" in patch["version"]
