"""The report's own Python environment: Evidently, pinned, away from the tool's.

Evidently 0.7.23 (the newest release) fails at import with pandas 3, which this tool pins
(``cannot import name 'infer_dtype_from_object' from 'pandas.core.dtypes.common'``), so it
cannot be an extra of the tool's environment. It gets a virtualenv of its own in the build
folder, made once from these pins (from the package index, like the wheelhouse), and the
report is drawn there by ``render.py``, which imports nothing of the tool's. It never enters
the service's image.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

from ..contract.errors import BuildError

# Evidently and the pandas it works with; the rest of what it needs is resolved by pip.
REQUIREMENTS = ("evidently==0.7.23", "pandas==2.3.3")


def report_python(folder: Path) -> Path:
    """The report environment's interpreter in ``folder``, made once (again when the pins
    change); a BuildError names what pip said when it cannot be made."""
    python = folder / "bin" / "python"
    stamp = folder / "requirements.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if python.is_file() and stamp.is_file() and stamp.read_text() == wanted:
        return python
    venv.create(folder, with_pip=True, clear=True)
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", *REQUIREMENTS],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"the report environment could not be made ({sys.executable} -m pip "
                         f"install {' '.join(REQUIREMENTS)}): {done.stderr.strip()[-800:]}. "
                         "Fix: let pip reach the package index, or point PIP_INDEX_URL at "
                         "a mirror")
    stamp.write_text(wanted)
    return python
