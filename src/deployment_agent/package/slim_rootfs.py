"""I assemble the image's root filesystem: the Python runtime, the virtualenv, nothing else.

I run in the Dockerfile's builder stage (``python3 docker/slim_rootfs.py /opt/venv
/rootfs``); the runtime stage is ``FROM scratch`` plus what I copied. What I take:

- the interpreter and its standard library, without the parts a service never imports
  (tests, IDLE, Tk, turtle demos, ensurepip, lib2to3);
- the virtualenv, without pip, setuptools and the dev tools some packages ship (ONNX
  Runtime's quantization and transformers tools, its C API library that Python does not
  load, numpy's C headers), with symbols stripped from native libraries when ``strip`` is
  available and the stripped library still loads (libraries rewritten by auditwheel's
  patchelf can break when stripped: those keep their symbols);
- every shared library those need, found with ``ldd`` (so nothing is guessed), and the
  loader's cache so that the multiarch library folders are searched;
- a passwd and group file naming the non-root user 10001, an empty ``/tmp``, the CA bundle,
  and ``/data/inference-log`` owned by that user: the inference log's volume mounts on
  ``/data``, and a new named volume takes the folder's owner from the image.

No shell, no package manager, no coreutils: the image runs ``python3 -m api.serve``
and its HEALTHCHECK is ``python3 -m api.probe``. I fail loudly (an exception stops the
build) rather than produce an image that lacks a library.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

# Standard-library folders a prediction service never imports.
STDLIB_UNUSED = ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
                 "pydoc_data", "distutils", "venv")
# Paths inside site-packages that are build or development tools, not runtime code.
VENV_UNUSED = ("pip", "pip-*.dist-info", "setuptools", "setuptools-*.dist-info",
               "pkg_resources", "_distutils_hack", "distutils-precedence.pth", "wheel",
               "wheel-*.dist-info", "onnxruntime/capi/libonnxruntime.so.*",
               "onnxruntime/quantization",
               "onnxruntime/transformers", "onnxruntime/tools", "onnxruntime/datasets",
               "numpy/_core/include", "numpy/_core/lib/pkgconfig")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ssl/certs/ca-certificates.crt")
ACCOUNTS = {"etc/passwd": "root:x:0:0:root:/root:/nonexistent\n"
                          "app:x:10001:10001:app:/tmp:/nonexistent\n",
            "etc/group": "root:x:0:\napp:x:10001:\n"}
USER_ID = 10001
# The inference log's default folder (INFERENCE_LOG_DIR), on the /data volume.
DATA_FOLDER = "data/inference-log"
LIBRARY = re.compile(r"(/\S+\.so[.\d]*)")


def copy(source: Path, rootfs: Path) -> None:
    """I copy one file at the same path; for a symbolic link, the link and, in turn, what
    it points to."""
    target = rootfs / source.relative_to("/")
    if target.exists() or target.is_symlink():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_symlink():
        link = os.readlink(source)
        target.symlink_to(link)
        copy(Path(os.path.normpath(source.parent / link)), rootfs)
    else:
        shutil.copy2(source, target)


def copy_tree(source: Path, rootfs: Path, skip: tuple[str, ...] = ()) -> None:
    """I copy a folder, leaving out the top-level entries named in ``skip``."""
    target = rootfs / source.relative_to("/")
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True,
                    ignore=lambda folder, names: [n for n in names if Path(folder) == source
                                                  and n in skip])


def native_files(folder: Path) -> list[Path]:
    """I list the shared libraries and extension modules under ``folder``."""
    return [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
            and (p.suffix == ".so" or ".so." in p.name)]


def needed_libraries(binaries: list[Path]) -> set[Path]:
    """I list every library the dynamic loader resolves for ``binaries`` (their ``ldd``
    closure)."""
    found: set[Path] = set()
    for binary in binaries:
        result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
        if "not found" in result.stdout:
            raise RuntimeError(f"{binary} needs a library this image lacks:\n{result.stdout}")
        found.update(Path(match) for match in LIBRARY.findall(result.stdout)
                     if not match.startswith(str(binary)))
    return found


def trim_venv(venv: Path) -> None:
    """I remove build tools and dev-only files from the virtualenv, and strip debug
    symbols from its native libraries."""
    site = next(venv.glob("lib/python3*/site-packages"))
    for pattern in VENV_UNUSED:
        for path in site.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    for script in ("pip", "pip3", f"pip{sys.version_info[0]}.{sys.version_info[1]}"):
        (venv / "bin" / script).unlink(missing_ok=True)
    strip = shutil.which("strip")
    if strip:
        for library in native_files(venv):
            strip_if_still_loadable(strip, library)


def loads(library: Path) -> bool:
    """Whether the dynamic loader accepts ``library`` (in a fresh process, so that a
    library that fails to load leaves nothing behind in mine)."""
    probe = f"import ctypes; ctypes.CDLL({str(library)!r})"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def strip_if_still_loadable(strip: str, library: Path) -> None:
    """I strip ``library``'s symbols, and put the original back if the result no longer
    loads."""
    if not loads(library):
        return  # e.g. needs another library first: I leave it as the wheel shipped it
    original = library.with_name(library.name + ".unstripped")
    shutil.copy2(library, original)
    subprocess.run([strip, "--strip-unneeded", str(library)], check=True)
    if loads(library):
        original.unlink()
    else:
        original.replace(library)


def main(venv: Path, rootfs: Path) -> None:
    """I build ``rootfs`` from this interpreter and ``venv``."""
    trim_venv(venv)
    interpreter = Path(sys.executable).resolve()
    stdlib = Path(sysconfig.get_path("stdlib"))
    dynload = Path(sysconfig.get_path("platstdlib")) / "lib-dynload"
    copy(interpreter, rootfs)
    for name in ("python3", "python"):
        alias = interpreter.parent / name
        if alias.exists():
            copy(alias, rootfs)
    copy_tree(stdlib, rootfs, STDLIB_UNUSED)
    if dynload.is_dir():
        copy_tree(dynload, rootfs)
    copy_tree(venv, rootfs)
    # The libraries that wheels vendor (in ``<package>.libs``) are found through the
    # RPATH of the extension modules that load them: I ask ldd about those modules, whose
    # answer includes what the vendored libraries need in turn.
    binaries = [interpreter, *native_files(dynload),
                *(p for p in native_files(venv) if not p.parent.name.endswith(".libs"))]
    for library in needed_libraries(binaries):
        copy(library, rootfs)
    for path in SYSTEM_FILES:
        if Path(path).exists():
            copy(Path(path), rootfs)
    for rel, text in ACCOUNTS.items():
        (rootfs / rel).parent.mkdir(parents=True, exist_ok=True)
        (rootfs / rel).write_text(text)
    (rootfs / "tmp").mkdir(mode=0o1777, exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    for folder in (rootfs / "data", rootfs / DATA_FOLDER):
        folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chown(folder, USER_ID, USER_ID)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
