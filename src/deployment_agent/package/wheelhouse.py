"""A pinned, hashed wheelhouse built on the host, so that image builds need no network.

``pip wheel`` fetches (or builds) every wheel that ``requirements.txt`` needs (dependencies
included) for the image's platform, and :func:`write_lock` records each with its sha256.
The same wheels, and nothing else, make the smoke check's environment
(:mod:`deployment_agent.verify.environment`) and, packed into a ``FROM scratch`` image, the
image's (its Dockerfile's builder stage runs ``pip install --no-index --require-hashes``).
The wheels never reach the bento or the runtime image.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from ..contract.errors import BuildError
from ..hashing import sha256_file
from ..plan.layout import Layout
from ..plan.runtime import wheelhouse_image
from . import docker

LOCK = "requirements.lock.txt"
WHEEL_LIST = "wheels.txt"  # the wheel files of the lock, one per line
# The first line of WHEEL_LIST: the CA bundle the wheels were downloaded with.
CA_HEADER = "# build_ca_bundle: "
WHEELS_ENV = "DEPLOYMENT_AGENT_WHEELS"
COMPLETE = ".complete"
WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-.+\.whl$")


def requirement_lines(text: str) -> list[str]:
    """The requirement lines of a requirements file (no comments, no blanks)."""
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def shared_copy(requirements: Path, ca_bundle: str | None) -> Path | None:
    """Where the wheels of these requirements live in ``DEPLOYMENT_AGENT_WHEELS`` (a cache
    shared by builds, by the requirements' lines, the CA bundle and this Python), or None
    when no cache is set."""
    shared = os.environ.get(WHEELS_ENV)
    if not shared:
        return None
    key = "\n".join([*requirement_lines(requirements.read_text()), ca_bundle or "",
                     sys.version, sysconfig.get_platform()])
    return Path(shared).resolve() / hashlib.sha256(key.encode()).hexdigest()[:16]


def copy_wheels(source: Path, dest: Path) -> list[Path]:
    """I put ``source``'s wheels in ``dest`` (hard links where the file system allows)."""
    dest.mkdir(parents=True, exist_ok=True)
    for wheel in source.glob("*.whl"):
        target = dest / wheel.name
        try:
            os.link(wheel, target)
        except OSError:
            shutil.copy2(wheel, target)
    return sorted(dest.glob("*.whl"))


def download(requirements: Path, dest: Path, ca_bundle: str | None = None) -> list[Path]:
    """Wheels for ``requirements`` and all their dependencies, into ``dest``.

    ``pip wheel`` rather than ``pip download``: a dependency published only as an sdist
    is built into a wheel here, on the host (same Debian release and Python minor version
    as the base image), so the image build never compiles anything. With
    ``DEPLOYMENT_AGENT_WHEELS`` set, the same requirements are resolved once: pip asks the
    index about every package each time (about 9 s for the churn service's 83 wheels,
    measured), and the tests build the same requirements dozens of times.
    """
    cached = shared_copy(requirements, ca_bundle)
    if cached is not None and (cached / COMPLETE).is_file():
        return copy_wheels(cached, dest)
    dest.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(dest),
         *(["--cert", ca_bundle] if ca_bundle else []), "-r", str(requirements)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise BuildError(f"pip wheel for the wheelhouse failed:\n{result.stderr[-3000:]}")
    if cached is not None:  # filled aside, then renamed: a cache entry is whole or absent
        filling = cached.with_name(f"{cached.name}.{os.getpid()}")
        shutil.rmtree(filling, ignore_errors=True)
        copy_wheels(dest, filling)
        (filling / COMPLETE).write_text(f"{requirements}\n")
        try:
            filling.rename(cached)
        except OSError:  # another build filled it first
            shutil.rmtree(filling, ignore_errors=True)
    return sorted(dest.glob("*.whl"))


def write_lock(wheels: list[Path], lock: Path) -> str:
    """``name==version --hash=sha256:...`` for every wheel; return the lock's text."""
    lines = []
    for wheel in wheels:
        match = WHEEL_NAME.match(wheel.name)
        if not match:
            raise BuildError(f"unexpected wheel file name {wheel.name}")
        lines.append(f"{match['name']}=={match['version']} --hash=sha256:{sha256_file(wheel)}")
    text = "# Every wheel of the image, pinned and hashed (pip --require-hashes).\n" + \
        "\n".join(sorted(lines)) + "\n"
    lock.write_text(text)
    return text


def lock_file(layout: Layout) -> Path:
    """The wheelhouse's lock of ``layout``."""
    return layout.wheelhouse / LOCK


def locked_wheels(folder: Path) -> list[Path]:
    """The wheels of a complete wheelhouse (its lock, and every wheel it listed), else []."""
    listing = folder / WHEEL_LIST
    if not (folder / LOCK).is_file() or not listing.is_file():
        return []
    lines = listing.read_text().splitlines()
    wheels = [folder / name for name in lines if name and not name.startswith("#")]
    return wheels if wheels and all(w.is_file() for w in wheels) else []


def downloaded_with(folder: Path) -> str | None:
    """The CA bundle the wheelhouse in ``folder`` was downloaded with ("" for none; None
    when there is no wheelhouse)."""
    listing = folder / WHEEL_LIST
    if not listing.is_file():
        return None
    first = listing.read_text().split("\n", 1)[0]
    return first.removeprefix(CA_HEADER) if first.startswith(CA_HEADER) else None


def planned_ca_bundle(layout: Layout) -> str | None:
    """The CA bundle the plan names for downloads (None: the system's)."""
    bundle: str | None = layout.read_json(layout.context_file)["image"]["build_ca_bundle"]
    return bundle


def current(layout: Layout) -> bool:
    """Every locked wheel is there, downloaded with the CA bundle the plan names."""
    return bool(locked_wheels(layout.wheelhouse)) and \
        downloaded_with(layout.wheelhouse) == (planned_ca_bundle(layout) or "")


def build_for(layout: Layout) -> str:
    """Download and lock the wheels of ``layout``'s requirements; say how many."""
    ca_bundle = planned_ca_bundle(layout)
    if layout.wheelhouse.is_dir():
        shutil.rmtree(layout.wheelhouse)  # only the wheels of these requirements
    wheels = download(layout.deployment / "requirements.txt", layout.wheelhouse, ca_bundle)
    lock = lock_file(layout)
    lines = write_lock(wheels, lock).splitlines()
    (layout.wheelhouse / WHEEL_LIST).write_text(
        "\n".join([f"{CA_HEADER}{ca_bundle or ''}", *(w.name for w in wheels)]) + "\n")
    return f"{len(lines) - 1} wheels locked in {lock}"


def ensure_image(layout: Layout) -> str:
    """The wheelhouse image of ``layout``'s requirements: present, or packed now from the
    locked wheels (``FROM scratch``: the wheels and the lock, nothing else)."""
    requirements = requirement_lines((layout.deployment / "requirements.txt").read_text())
    image = wheelhouse_image(requirements)
    if docker.image_exists(image):
        return image
    if not locked_wheels(layout.wheelhouse):
        raise BuildError(f"the wheelhouse {layout.wheelhouse} is incomplete. Fix: run "
                         "`doit wheelhouse` (or `deployment-agent containerize`) again")
    (layout.wheelhouse / "Dockerfile").write_text(
        "FROM scratch\nCOPY *.whl requirements.lock.txt /wheels/\n")
    docker.build(layout.wheelhouse, image, quiet=True)
    return image
