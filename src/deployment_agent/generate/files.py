"""Write files so that nothing is ever half-written, and unchanged files keep their mtime."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_if_changed(path: Path, text: str) -> bool:
    """Write atomically unless the content is identical (so doit sees no change)."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8",
                                     suffix=".tmp") as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)
    return True


def staging_dir(target: Path) -> Path:
    """A fresh folder beside ``target`` (same filesystem, so the swap is a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))


def swap_in(staging: Path, target: Path, keep: Path | None = None) -> None:
    """Replace ``target`` by ``staging`` with two renames: never a half-written tree. The
    replaced tree is deleted, or kept as ``keep`` (replacing what was kept before)."""
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    if old.exists():
        if keep is None:
            shutil.rmtree(old)
        else:
            if keep.exists():
                shutil.rmtree(keep)
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(old, keep)
