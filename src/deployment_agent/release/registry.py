"""Push the service's image to ``deployment.docker.registry`` and record it by digest.

The digest, not the tag, names what was pushed: a tag can be moved, a digest cannot. It
is recorded in the build state (``push.json``) and in the deployment history (which the
runbook's rollback reads); ``doit k8s`` then pins the Deployment's image to it. The
generated ``deployment_manifest.json`` is the generate step's alone: pushing never edits
it, so that a push never makes the deployment look changed.
"""

from __future__ import annotations

from ..contract.errors import BuildError
from ..package import docker
from ..plan import records
from ..plan.history import record
from ..plan.layout import Layout


def push(layout: Layout) -> records.Push:
    """``docker push`` the built image; write and return the push record."""
    image = records.read(layout, records.Image)
    context = layout.read_json(layout.context_file)
    if not context["image"]["registry"]:
        raise BuildError("deployment.docker.registry is empty, so there is nowhere to push. "
                         "Fix: set REGISTRY=host:port/path (or deployment.docker.registry) "
                         "and rebuild the image")
    digest = docker.push(image.image)
    repository = image.image.rsplit(":", 1)[0]
    pushed = records.write(layout, records.Push(image.image, image.id, digest,
                                                f"{repository}@{digest}"))
    record(layout, {"image_ref": image.image, "image_digest": pushed.reference})
    return pushed
