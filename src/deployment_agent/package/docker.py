"""Every call to the Docker CLI: images are inspected, built, imported, tagged and pushed here.

The classic builder is used (``DOCKER_BUILDKIT=0``: Debian's docker.io has no buildx), and
builds run with ``--network=none``, which proves they need no registry or package index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from ..contract.errors import BuildError

CLASSIC_BUILDER = {"DOCKER_BUILDKIT": "0"}


def docker(*args: str, check: bool = False, timeout: float | None = None,
           stdin: IO[bytes] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``docker ARGS``; a missing client is a clear error."""
    if shutil.which("docker") is None:
        raise BuildError("the docker client is not installed. Fix: apt-get install docker.io "
                         "(and start dockerd), or use scripts/with-docker.sh")
    result = subprocess.run(["docker", *args], capture_output=True, text=stdin is None,
                            timeout=timeout, stdin=stdin,
                            env={**os.environ, **CLASSIC_BUILDER})
    if check and result.returncode != 0:
        raise BuildError(f"docker {' '.join(args[:3])} failed (exit {result.returncode}):\n"
                         f"{_text(result.stdout)[-2000:]}{_text(result.stderr)[-3000:]}")
    return result


def _text(data: str | bytes) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def inspect(image: str) -> dict[str, Any] | None:
    """``docker image inspect`` of a local image, or None when it does not exist."""
    result = docker("image", "inspect", image)
    return json.loads(result.stdout)[0] if result.returncode == 0 else None


def image_exists(image: str) -> bool:
    return inspect(image) is not None


def image_id(image: str) -> str | None:
    found = inspect(image)
    return found["Id"] if found else None


def image_size(image: str) -> int:
    found = inspect(image)
    if found is None:
        raise BuildError(f"image {image} does not exist")
    return int(found["Size"])


def build(context: Path, tag: str, dockerfile: Path | None = None, quiet: bool = False) -> None:
    """``docker build --network=none`` of ``context``."""
    docker("build", "--network=none", *(["--quiet"] if quiet else []),
           *(["-f", str(dockerfile)] if dockerfile else []), "-t", tag, str(context), check=True)


def import_rootfs(rootfs: Path, image: str, changes: Sequence[str]) -> None:
    """``docker import`` a root filesystem folder as ``image`` with Dockerfile ``changes``."""
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
                           stdout=subprocess.PIPE)
    assert tar.stdout is not None
    options = [arg for line in changes for arg in ("--change", line)]
    result = docker("import", *options, "-", image, stdin=tar.stdout)
    tar.stdout.close()  # if import failed early, tar gets SIGPIPE instead of blocking
    tar.wait()
    if result.returncode != 0 or tar.returncode != 0:
        raise BuildError(f"docker import of {image} failed: {_text(result.stderr)}")


def pull(image: str, timeout: float = 60.0) -> bool:
    """``docker pull``; False when no registry answers (air-gapped) or it times out."""
    try:
        return docker("pull", image, timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def tag(source: str, target: str) -> None:
    docker("tag", source, target, check=True)


def push(image: str) -> str:
    """``docker push``; return the digest the registry gave the manifest."""
    result = docker("push", image, check=True)
    for line in result.stdout.splitlines():
        if "digest: sha256:" in line:
            return "sha256:" + line.split("digest: sha256:")[1].split()[0]
    raise BuildError(f"docker push {image} printed no digest:\n{result.stdout[-2000:]}")


def remove(image: str) -> None:
    docker("image", "rm", "--force", image)
