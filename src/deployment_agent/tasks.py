"""The actions and up-to-date checks of the doit tasks (``dodo.py`` only wires them).

Each action returns ``None`` on success and a :class:`doit.exceptions.TaskFailed` carrying
the error's message (which names the problem and the fix) on an expected failure, so doit
prints a clear message and exits non-zero instead of a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from doit.exceptions import TaskFailed

from .errors import DeploymentAgentError
from .hashing import sha256_file
from .layout import Layout
from .manifest import ExperimentManifest
from .settings import load_settings


def guarded(step: Callable[..., Any], *args: Any) -> Callable[[], TaskFailed | None]:
    """A doit python-action running ``step(*args)``, failing cleanly on our errors."""

    def action() -> TaskFailed | None:
        try:
            step(*args)
        except DeploymentAgentError as exc:
            return TaskFailed(str(exc))
        return None

    action.__name__ = getattr(step, "__name__", "action")
    return action


def validate(layout: Layout) -> None:
    """Validate manifest, model and settings; write the context."""
    from .build import validate as run_validate

    run_validate(layout, load_settings())
    print(f"{layout.manifest}: valid; context in {layout.context_file}")


def generate(layout: Layout) -> None:
    """Render, check and swap in the deployment."""
    from .build import generate as run_generate

    manifest = run_generate(layout)
    print(f"generated {len(manifest['files'])} files in {layout.deployment} "
          f"(bento {manifest['bento_tag']})")


def bento(layout: Layout) -> None:
    """Build the bento and write the Dockerfile that containerizing it uses."""
    from .bento import build_bento
    from .container import write_containerfile

    record = build_bento(layout)
    if layout.context()["docker"]["runtime"] == "bentoml":
        write_containerfile(layout, record["tag"])
    print(f"bento {record['tag']} in {record['path']}")


def base_image(layout: Layout) -> None:
    """Make the configured base image available (pull, or build from Debian packages)."""
    from .base_image import ensure_base_image

    image = layout.context()["docker"]["base_image"]
    print(f"base image {image}: {ensure_base_image(image)}")


def wheelhouse(layout: Layout) -> None:
    """Build the pinned, hashed wheelhouse image of the deployment's requirements."""
    from .wheelhouse import build_wheelhouse_image

    docker = layout.context()["docker"]
    image = build_wheelhouse_image(layout.deployment / "requirements.txt", layout.wheelhouse,
                                   docker["build_ca_bundle"])
    print(f"wheelhouse {image} from {layout.wheelhouse}")


def containerize(layout: Layout) -> None:
    """`bentoml containerize` the bento into the API's image, without network access."""
    from .container import containerize as build_image

    image = build_image(layout)
    print(f"image {image['image']}: {image['size_bytes'] / 1e6:.0f} MB, built in "
          f"{image['build_seconds']} s")


def smoke(layout: Layout) -> None:
    """Serve the bento on a free port, check every endpoint, stop it, write the report."""
    from .server import ServiceProcess
    from .smoke import check_service

    record = json.loads(layout.bento_record.read_text())
    context = layout.context()
    with ServiceProcess.bento(record["tag"]) as server:
        try:
            seconds = server.wait_for("/health/ready", timeout=120)
        except (RuntimeError, TimeoutError) as exc:
            raise DeploymentAgentError(f"bento {record['tag']} did not become ready: {exc}") \
                from None
        observed = check_service(server.base_url, context)
    report = {"tag": record["tag"], "ready_seconds": round(seconds, 2), "observed": observed}
    layout.smoke_report.write_text(json.dumps(report, indent=2) + "\n")
    print(f"bento {record['tag']} served and checked: ready in {seconds:.1f} s, "
          f"{len(observed)} checks passed")


def serve(layout: Layout) -> None:
    """Serve the built bento in the foreground on the configured host and port."""
    from .bento import bentoml_env

    record = json.loads(layout.bento_record.read_text())
    api = load_settings().api
    subprocess.run([sys.executable, "-m", "bentoml", "serve", record["tag"], "--host",
                    api.host, "--port", str(api.port)], env=bentoml_env(), check=False)


def model_unchanged(layout: Layout) -> Callable[[], bool]:
    """Up to date while the model file still hashes to what the context recorded.

    The model's path is inside the manifest, so it cannot be a static file_dep.
    """

    def check() -> bool:
        if not layout.context_file.is_file() or not layout.manifest.is_file():
            return False
        context = layout.context()
        try:
            model_path = ExperimentManifest.model_validate_json(
                layout.manifest.read_text()).model_path
        except ValueError:
            return False  # let validate report the problem
        model = Path(model_path) if Path(model_path).is_absolute() else \
            layout.manifest.parent / model_path
        return model.is_file() and sha256_file(model) == context["model"]["sha256"]

    return check


def record_matches(record: Path, source: Path, key: str) -> Callable[[], bool]:
    """Up to date while ``record[key]`` equals ``source[key]`` (e.g. the bento tag)."""

    def check() -> bool:
        if not record.is_file() or not source.is_file():
            return False
        return json.loads(record.read_text()).get("tag") == json.loads(
            source.read_text()).get(key)

    return check


def bento_current(layout: Layout) -> Callable[[], bool]:
    """The bento is current when its record's tag is the deployment manifest's bento_tag
    (and the bento and its Dockerfile are still there)."""
    check = record_matches(layout.bento_record, layout.deployment / "deployment_manifest.json",
                           "bento_tag")
    return lambda: check() and (layout.deployment / "Dockerfile").is_file() and \
        Path(json.loads(layout.bento_record.read_text())["path"]).is_dir()


def base_image_present(layout: Layout) -> Callable[[], bool]:
    """Up to date while the configured base image exists locally."""
    from .base_image import image_exists

    def check() -> bool:
        return layout.context_file.is_file() and image_exists(
            layout.context()["docker"]["base_image"])

    return check


def wheelhouse_present(layout: Layout) -> Callable[[], bool]:
    """Up to date while the wheelhouse image of the current requirements exists."""
    from .base_image import image_exists
    from .wheelhouse import requirement_lines, wheelhouse_image

    def check() -> bool:
        requirements = layout.deployment / "requirements.txt"
        return requirements.is_file() and image_exists(
            wheelhouse_image(requirement_lines(requirements.read_text())))

    return check


def image_current(layout: Layout) -> Callable[[], bool]:
    """Up to date while the image recorded for the current bento still exists unchanged."""
    from .container import image_id

    def check() -> bool:
        if not layout.image_record.is_file() or not layout.bento_record.is_file():
            return False
        image = json.loads(layout.image_record.read_text())
        bento = json.loads(layout.bento_record.read_text())
        return image["bento_tag"] == bento["tag"] and image_id(image["image"]) == image["id"]

    return check


def smoke_current(layout: Layout) -> Callable[[], bool]:
    """The smoke report is current when it checked the bento that is built now."""
    return record_matches(layout.smoke_report, layout.bento_record, "tag")


def export_schema(path: str) -> None:
    """Write the manifest contract as JSON Schema."""
    from .manifest import manifest_json_schema

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(manifest_json_schema(), indent=2) + "\n")
