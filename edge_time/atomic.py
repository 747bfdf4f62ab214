"""Atomic file and folder writes: a reader, or a run killed half-way, never sees half a file.

Every writer here puts the data in a temporary file beside the target, flushes it to disk, gives
it the permissions a new file would get, and renames it over the target (one ``os.replace``).
On failure the temporary file is removed and the old target, if any, is left as it was. Folders
(bundles, task models, checkpoints, a distilled model) are staged the same way by
:func:`staged_folder`. Standard library only, so every room can use it. (``profiler/runner.py`` keeps its own few lines: it is
copied alone to boards.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result is as readable as any new file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Indented UTF-8 JSON; values JSON cannot hold (paths, dates) are written as strings."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def staging_folder(parent: Path, prefix: str) -> Path:
    """A new empty folder ``{prefix}XXXX.tmp`` in ``parent``, as readable as any folder (mkdtemp makes 0700)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent))
    tmp.chmod(0o755)
    return tmp


@contextlib.contextmanager
def staged_folder(final: Path, prefix: str) -> Iterator[Path]:
    """Yield a staging folder beside ``final``; on success rename it into place, on error remove it.

    An existing ``final`` is moved aside first and deleted only after the rename, so a kill at any
    moment leaves either the old folder or the new one under its name, never half of one.
    """
    parent = final.parent if str(final.parent) else Path(".")
    tmp = staging_folder(parent, prefix)
    try:
        yield tmp
        if final.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=parent))
            os.replace(final, backup / "old")
            os.replace(tmp, final)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
