"""Turn a bento into a Docker image with ``bentoml containerize``, offline.

BentoML renders the image's Dockerfile from the bento's ``dockerfile_template``
(``docker/Dockerfile.template`` of the deployment) in a temporary build context. Two of
its path checks shape how it is called here: the template must lie under the working
directory and on no hidden path (BentoML issue 5566), so both commands run inside the
build-state folder with TMPDIR pointing into it. The classic builder is used
(``DOCKER_BUILDKIT=0``: Debian's docker.io has no buildx) with ``--network=none``, which
proves the build needs no registry and no package index. The uvicorn runtime builds the
deployment folder's own Dockerfile with ``docker build --network=none`` instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .bento import BENTOML_HOME, bentoml_env
from .errors import BuildError
from .layout import Layout

DOCKERFILE = "Dockerfile"


def _bentoml(layout: Layout, args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bentoml ARGS`` under the build-state folder (see module docstring)."""
    tmp = layout.state / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**bentoml_env(home), "TMPDIR": str(tmp.resolve()), "DOCKER_BUILDKIT": "0"}
    return subprocess.run([sys.executable, "-m", "bentoml", *args], cwd=layout.state, env=env,
                          capture_output=True, text=True)


def write_containerfile(layout: Layout, tag: str, home: Path = BENTOML_HOME) -> Path:
    """Write the Dockerfile ``bentoml containerize`` builds the bento with into the deployment."""
    target = layout.deployment / DOCKERFILE
    script = ("import sys, bentoml; bentoml.container.get_containerfile("
              "sys.argv[1], sys.argv[2], enable_buildkit=False)")
    tmp = layout.state / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", script, tag, str(target.resolve())], cwd=layout.state,
        env={**bentoml_env(home), "TMPDIR": str(tmp.resolve())}, capture_output=True, text=True,
    )
    if result.returncode != 0 or not target.is_file():
        raise BuildError(f"rendering the Dockerfile of {tag} failed:\n{result.stderr[-3000:]}")
    return target


def image_id(image: str) -> str | None:
    """The local image's id, or None when it does not exist."""
    result = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", image],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def image_size(image: str) -> int:
    """The image's size in bytes."""
    result = subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", image],
                            capture_output=True, text=True, check=True)
    return int(result.stdout.strip())


def _docker_build(layout: Layout, image: str) -> subprocess.CompletedProcess[str]:
    """The uvicorn runtime: ``docker build`` of the deployment folder's own Dockerfile."""
    return subprocess.run(
        ["docker", "build", "--network=none", "-t", image, str(layout.deployment)],
        env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture_output=True, text=True,
    )


def containerize(layout: Layout, home: Path = BENTOML_HOME) -> dict[str, Any]:
    """Build the service's image for the configured runtime; record its id, size, time."""
    record = json.loads(layout.bento_record.read_text())
    runtime = layout.context()["docker"]["runtime"]
    started = time.perf_counter()
    if runtime == "uvicorn":
        result = _docker_build(layout, record["image"])
    else:
        result = _bentoml(layout, ["containerize", record["tag"], "--backend", "docker",
                                   "--image-tag", record["image"], "--opt", "network=none"],
                          home)
    seconds = time.perf_counter() - started
    built = image_id(record["image"])
    if result.returncode != 0 or built is None:
        raise BuildError(f"building the {runtime} image of {record['tag']} failed "
                         f"(exit {result.returncode}):\n{result.stdout[-3000:]}"
                         f"{result.stderr[-3000:]}")
    image = {"image": record["image"], "id": built, "bento_tag": record["tag"], "runtime": runtime,
             "size_bytes": image_size(record["image"]), "build_seconds": round(seconds, 1)}
    layout.image_record.write_text(json.dumps(image, indent=2) + "\n")
    return image
