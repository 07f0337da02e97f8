"""A pinned, hashed wheelhouse built on the host, so image builds need no network.

``pip wheel`` fetches (or builds) every wheel that ``requirements.txt`` needs (dependencies
included) for the image's platform; :func:`write_lock` records each with its sha256; and
the wheels plus the lock are packed into a ``FROM scratch`` image that the bento's
Dockerfile copies from in its builder stage (``pip install --no-index --require-hashes``).
The wheels never reach the bento or the runtime image.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ..contract.errors import BuildError
from ..hashing import sha256_file
from ..plan.layout import Layout
from ..plan.runtime import wheelhouse_image
from . import docker

LOCK = "requirements.lock.txt"
WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-.+\.whl$")


def requirement_lines(text: str) -> list[str]:
    """The requirement lines of a requirements file (no comments, no blanks)."""
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def download(requirements: Path, dest: Path, ca_bundle: str | None = None) -> list[Path]:
    """Wheels for ``requirements`` and all their dependencies, into ``dest``.

    ``pip wheel`` rather than ``pip download``: a dependency published only as an sdist
    is built into a wheel here, on the host (same Debian release and Python minor version
    as the base image), so the image build never compiles anything.
    """
    dest.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(dest),
         *(["--cert", ca_bundle] if ca_bundle else []), "-r", str(requirements)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise BuildError(f"pip wheel for the wheelhouse failed:\n{result.stderr[-3000:]}")
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


def build_wheelhouse_image(requirements: Path, workdir: Path,
                           ca_bundle: str | None = None) -> str:
    """Download, lock and pack the wheelhouse of ``requirements``; return the image tag."""
    image = wheelhouse_image(requirement_lines(requirements.read_text()))
    wheels = download(requirements, workdir, ca_bundle)
    write_lock(wheels, workdir / LOCK)
    (workdir / "Dockerfile").write_text("FROM scratch\nCOPY *.whl requirements.lock.txt "
                                        "/wheels/\n")
    docker.build(workdir, image, quiet=True)
    return image


def build_for(layout: Layout) -> str:
    """Build the wheelhouse image of ``layout``'s requirements; say which."""
    ca_bundle = layout.read_json(layout.context_file)["image"]["build_ca_bundle"]
    image = build_wheelhouse_image(layout.deployment / "requirements.txt", layout.wheelhouse,
                                   ca_bundle)
    return f"{image} from {layout.wheelhouse}"
