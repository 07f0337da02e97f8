"""The wheelhouse: requirement lines, the hashed lock, the image tag."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from deployment_agent.contract.errors import BuildError
from deployment_agent.hashing import sha256_file
from deployment_agent.package.wheelhouse import download, requirement_lines, write_lock
from deployment_agent.plan.runtime import wheelhouse_image


def test_requirement_lines_skip_comments_and_blanks() -> None:
    text = "# pinned\n\nnumpy==2.4.6\n  fastapi==0.165.0  \n# end\n"
    assert requirement_lines(text) == ["numpy==2.4.6", "fastapi==0.165.0"]


def test_the_lock_pins_every_wheel_with_its_sha256(tmp_path: Path) -> None:
    wheels = []
    for name in ("numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl",
                 "fastapi-0.165.0-py3-none-any.whl"):
        wheel = tmp_path / name
        wheel.write_bytes(name.encode())
        wheels.append(wheel)
    text = write_lock(sorted(wheels), tmp_path / "lock.txt")
    digest = hashlib.sha256(b"fastapi-0.165.0-py3-none-any.whl").hexdigest()
    assert f"fastapi==0.165.0 --hash=sha256:{digest}" in text.splitlines()
    assert (tmp_path / "lock.txt").read_text() == text
    broken = tmp_path / "broken.whl"
    broken.write_bytes(b"")
    with pytest.raises(BuildError, match="unexpected wheel file name"):
        write_lock([broken], tmp_path / "lock.txt")


def test_the_image_tag_is_a_hash_of_the_requirements() -> None:
    one = wheelhouse_image(["a==1", "b==2"])
    assert one == wheelhouse_image(["a==1", "b==2"]) != wheelhouse_image(["a==1", "b==3"])
    assert one.startswith("deployment-agent/wheelhouse:")


def test_a_shared_wheel_cache_resolves_each_set_of_requirements_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYMENT_AGENT_WHEELS", str(tmp_path / "shared"))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("iniconfig==2.3.1\n")
    first = download(requirements, tmp_path / "one")
    assert [w.name for w in first] == ["iniconfig-2.3.1-py3-none-any.whl"]
    # The second build of the same requirements asks no index: with none (and no local
    # wheels), pip would fail.
    (tmp_path / "nothing").mkdir()
    for name, value in (("PIP_CONFIG_FILE", os.devnull), ("PIP_NO_INDEX", "1"),
                        ("PIP_FIND_LINKS", str(tmp_path / "nothing"))):
        monkeypatch.setenv(name, value)
    second = download(requirements, tmp_path / "two")
    assert [sha256_file(w) for w in second] == [sha256_file(w) for w in first]
    # Other requirements (or another CA bundle) are resolved: here, they fail.
    requirements.write_text("iniconfig==2.3.0\n")
    with pytest.raises(BuildError, match="pip wheel"):
        download(requirements, tmp_path / "three")
