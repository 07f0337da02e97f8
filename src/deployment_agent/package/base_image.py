"""Make the configured base image available, building it from Debian packages if need be.

On a machine that reaches a container registry, ``docker pull`` fetches the configured
image (``python:3.11-slim``). Air-gapped, an equivalent is built locally: a minimal
Debian bookworm root filesystem with Python 3.11 and venv support (``debootstrap
--variant=minbase``), trimmed of documentation, locales and apt caches, imported with
``docker import`` and tagged with the configured name, so every Dockerfile that says
``FROM python:3.11-slim`` builds unchanged.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ..contract.errors import BuildError
from ..plan.layout import Layout
from . import docker

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# binutils: `strip`, with which the image build strips native libraries (builder only).
# libgomp1: OpenMP, which LightGBM's library links against (the ldd closure of the
# runtime takes it only when a served library needs it).
PACKAGES = ("python3", "python3-venv", "ca-certificates", "binutils", "libgomp1")
# Removed from the root filesystem: nothing at run time reads them.
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
        "usr/share/lintian", "var/cache/apt", "var/lib/apt/lists", "var/log")
IMAGE_CONFIG = (
    "ENV LANG=C.UTF-8",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'LABEL org.opencontainers.image.description="Debian bookworm + Python 3.11, built '
    'locally by deployment-agent (air-gapped equivalent of python:3.11-slim)"',
    "LABEL org.deployment-agent.base=local",
    f"LABEL org.deployment-agent.packages={','.join(PACKAGES)}",
    'CMD ["python3"]',
)


def outdated(found: dict[str, object]) -> bool:
    """Whether a base image this module built holds another package list than today's."""
    labels = (found.get("Config") or {}).get("Labels") or {}  # type: ignore[union-attr]
    return labels.get("org.deployment-agent.base") == "local" and \
        labels.get("org.deployment-agent.packages") != ",".join(PACKAGES)


def build_local_base(image: str, mirror: str = MIRROR) -> None:
    """debootstrap a minimal Python root filesystem and ``docker import`` it as ``image``."""
    if shutil.which("debootstrap") is None:
        raise BuildError("debootstrap is not installed. Fix: apt-get install debootstrap "
                         f"(or make {image} available: docker pull / docker load)")
    with tempfile.TemporaryDirectory(prefix="base-rootfs-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
             str(rootfs), mirror], capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise BuildError(f"debootstrap failed (exit {result.returncode}):\n"
                             f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
        for rel in TRIM:
            shutil.rmtree(rootfs / rel, ignore_errors=True)
            (rootfs / rel).mkdir(parents=True, exist_ok=True)
        # The official image's interpreter answers to `python` as well.
        (rootfs / "usr/local/bin/python").symlink_to("/usr/bin/python3")
        docker.import_rootfs(rootfs, image, IMAGE_CONFIG)


def current(image: str) -> bool:
    """Whether ``image`` is present and, if this module built it, built as today."""
    found = docker.inspect(image)
    return found is not None and not outdated(found)


def ensure_base_image(image: str) -> str:
    """Make ``image`` available locally; return how: "present", "pulled" or "built"."""
    found = docker.inspect(image)
    if found is not None and not outdated(found):
        return "present"
    if docker.pull(image):
        return "pulled"
    build_local_base(image)
    return "built"


def ensure_for(layout: Layout) -> str:
    """Make the base image of ``layout``'s plan available; say which and how."""
    image = layout.read_json(layout.context_file)["image"]["base_image"]
    return f"{image}: {ensure_base_image(image)}"
