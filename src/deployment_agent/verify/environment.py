"""The environment the service will have: a virtualenv made only from its locked wheels.

A check that runs in the build's own virtualenv proves nothing about the image: the build
has libraries installed that the deployment's requirements may lack. So the smoke check
serves the deployment from a fresh virtualenv into which exactly the wheelhouse's locked
wheels are installed (``pip install --no-index --require-hashes``), as the image's builder
stage installs them, and nothing else: no system site-packages, no ``PYTHONPATH``.

A virtualenv is made once per lock: it lives under the lock's hash, in the build state
(``envs/``) or in ``DEPLOYMENT_AGENT_ENVS`` (a cache shared by builds), and counts only
once its last step has written the marker file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..contract.errors import BuildError
from ..hashing import sha256_file
from ..package.wheelhouse import LOCK, locked_wheels
from ..plan.layout import Layout

ENVS_ENV = "DEPLOYMENT_AGENT_ENVS"
COMPLETE = ".complete"
# Variables of the build's environment that would let the service see the build's
# libraries, or run it another way than the image does.
LEAKS = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PIP_FIND_LINKS",
         "PYTHONNOUSERSITE")


def envs_root(layout: Layout) -> Path:
    """Where the virtualenvs of ``layout``'s locks live."""
    shared = os.environ.get(ENVS_ENV)
    return Path(shared).resolve() if shared else (layout.state / "envs").resolve()


def isolated(env: dict[str, str]) -> dict[str, str]:
    """``env`` without what would let a child see the build's libraries."""
    clean = {k: v for k, v in env.items() if k not in LEAKS}
    clean["PYTHONNOUSERSITE"] = "1"
    return clean


def interpreter(layout: Layout) -> Path:
    """The Python of the virtualenv made from ``layout``'s locked wheels (made now if
    there is none yet)."""
    wheels = locked_wheels(layout.wheelhouse)
    if not wheels:
        raise BuildError(f"the wheelhouse {layout.wheelhouse} is incomplete. Fix: run "
                         "`doit wheelhouse` again")
    lock = layout.wheelhouse / LOCK
    venv = envs_root(layout) / sha256_file(lock)[:16]
    python = venv / "bin" / "python"
    if (venv / COMPLETE).is_file() and python.is_file():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    base = Path(getattr(sys, "_base_executable", sys.executable))
    for command in ([str(base), "-m", "venv", "--without-pip", str(venv)],
                    [sys.executable, "-m", "pip", "--python", str(python), "install",
                     "--quiet", "--no-index", "--require-hashes", "--no-compile",
                     "--find-links", str(layout.wheelhouse), "-r", str(lock)]):
        # No pip configuration either: its find-links or indexes would add other wheels.
        # --no-compile: what the service imports is compiled when it first does, not every
        # module of every wheel at install (a third of the install's time, measured).
        result = subprocess.run(command, capture_output=True, text=True,
                                env={**isolated(dict(os.environ)), "PIP_CONFIG_FILE": os.devnull})
        if result.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise BuildError(f"the service's environment could not be made from its locked "
                             f"wheels ({' '.join(command[:3])} ... exit {result.returncode}):\n"
                             f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    (venv / COMPLETE).write_text(f"{lock}\n")
    return python
