"""Build the service's image, offline: ``bentoml containerize`` of the bento, or
``docker build`` of the deployment folder, as the serving runtime says.

Both build the Dockerfile that the generate step wrote (for BentoML, as the bento's
``dockerfile_template``, which renders to the same text). Two of BentoML's path checks
shape how it is called: the template must lie under the working directory and on no
hidden path (BentoML issue 5566), so it runs inside the build-state folder with TMPDIR
pointing into it.
"""

from __future__ import annotations

import subprocess
import sys
import time

from ..contract.errors import BuildError
from ..plan import records
from ..plan.layout import Layout
from ..plan.runtime import SERVING
from . import docker
from .bento import bentoml_env
from .wheelhouse import ensure_image


def _containerize_bento(layout: Layout, tag: str, image: str) -> None:
    """``bentoml containerize`` with the classic builder and no network."""
    tmp = layout.state / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**bentoml_env(layout.bento_store), "TMPDIR": str(tmp.resolve()),
           **docker.CLASSIC_BUILDER}
    result = subprocess.run(
        [sys.executable, "-m", "bentoml", "containerize", tag, "--backend", "docker",
         "--image-tag", image, "--opt", "network=none"],
        cwd=layout.state, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"bentoml containerize {tag} failed (exit {result.returncode}):\n"
                         f"{result.stdout[-3000:]}{result.stderr[-3000:]}")


def build(layout: Layout) -> records.Image:
    """Build the image for the configured serving runtime; record its id, size and time."""
    bento = records.read(layout, records.Bento)
    serving = SERVING[records.read(layout, records.Generated).serving]
    ensure_image(layout)  # the locked wheels, packed for the Dockerfile's builder stage
    started = time.perf_counter()
    if serving.builds_from_bento:
        _containerize_bento(layout, bento.tag, bento.image)
    else:
        docker.build(layout.deployment, bento.image)
    seconds = time.perf_counter() - started
    built = docker.image_id(bento.image)
    if built is None:
        raise BuildError(f"the {serving.label} build of {bento.image} produced no image")
    return records.write(layout, records.Image(
        bento.image, built, bento.tag, serving.name, docker.image_size(bento.image),
        round(seconds, 1)))
