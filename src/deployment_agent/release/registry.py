"""Push the service's image to ``deployment.docker.registry`` and record it by digest.

The digest, not the tag, names what was pushed: a tag can be moved, a digest cannot. It
is recorded in the build state (``push.json``), in the deployment history (which the
runbook's rollback reads) and in ``deployment_manifest.json``; ``doit k8s`` then pins the
Deployment's image to it.
"""

from __future__ import annotations

import json
from typing import Any

from ..contract.errors import BuildError
from ..package import docker
from ..plan.history import record
from ..plan.layout import Layout


def push(layout: Layout) -> dict[str, Any]:
    """``docker push`` the built image; write and return the push record."""
    image = layout.read_json(layout.image_record)
    context = layout.read_json(layout.context_file)
    if not context["image"]["registry"]:
        raise BuildError("deployment.docker.registry is empty, so there is nowhere to push. "
                         "Fix: set REGISTRY=host:port/path (or deployment.docker.registry) "
                         "and rebuild the image")
    digest = docker.push(image["image"])
    repository = image["image"].rsplit(":", 1)[0]
    pushed = {"image": image["image"], "image_id": image["id"], "digest": digest,
              "reference": f"{repository}@{digest}"}
    layout.push_record.write_text(json.dumps(pushed, indent=2) + "\n")
    manifest_path = layout.deployment / "deployment_manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["image_digest"] = pushed["reference"]
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    record(layout, {"image_ref": image["image"], "image_digest": pushed["reference"]})
    return pushed
