"""Atomic file output: write to a hidden temporary beside the destination, then rename.

A reader (a compositor, a farm task, a resumed run) never sees a half-written
frame: the final name appears only once the bytes are complete and synced.
A writer that is killed leaves at most a hidden ``.<name>.ff-tmp-*`` file,
which :func:`is_temp_name` recognises and :func:`remove_stale_temps` clears.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from framefill.errors import InputError

__all__ = [
    "TEMP_MARKER",
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "is_temp_name",
    "remove_stale_temps",
]

TEMP_MARKER = ".ff-tmp-"

# ``.{name}.ff-tmp-{pid}-{token}{suffix}``; the name part may be shortened.
_TEMP_NAME = re.compile(r"^\..*\.ff-tmp-\d+-[0-9a-f]{8,}(\.[^.]*)?$")

# Most file systems cap a name at 255 bytes; keep room for the temp decoration.
_MAX_NAME_BYTES = 255


def is_temp_name(name: str | os.PathLike[str]) -> bool:
    """True for a temporary file name made by :func:`atomic_output` (any pid)."""
    return bool(_TEMP_NAME.match(os.path.basename(os.fspath(name))))


def _temp_path(dest: Path) -> Path:
    suffix = dest.suffix
    token = secrets.token_hex(4)
    tail = f"{TEMP_MARKER}{os.getpid()}-{token}{suffix}"
    name = dest.name
    # Shorten the copied name, never the marker or the suffix the writer needs.
    budget = _MAX_NAME_BYTES - len(tail.encode()) - 1
    while len(name.encode()) > budget:
        name = name[:-1]
    return dest.with_name(f".{name}{tail}")


def _fsync_file(path: Path) -> None:
    # O_RDWR rather than O_RDONLY: Windows refuses to flush a read-only handle.
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it (POSIX)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems (e.g. certain network mounts) refuse it
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; move it onto ``dest`` when the block succeeds.

    The temporary is ``.{name}.ff-tmp-{pid}-{random}{suffix}`` in the same folder
    (same file system, so the rename is atomic) and keeps the real suffix so
    writers that pick a format by extension (OpenCV, OpenEXR) still work.
    Parent folders are created. On success the file is fsynced and renamed
    with ``os.replace``, then the folder is fsynced. On any exception,
    KeyboardInterrupt included, the temporary is removed and the exception
    re-raised; an existing ``dest`` is left untouched.

    Raises:
        InputError: the folder cannot be created, or the block wrote nothing.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create folder {dest.parent} for {dest.name}: {err.strerror or err}") from None
    tmp = _temp_path(dest)
    try:
        yield tmp
        if not tmp.exists():
            raise InputError(f"nothing was written for {dest}")
        _fsync_file(tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(dest.parent)


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically (see :func:`atomic_output`).

    Raises:
        InputError: the file cannot be written.
    """
    dest = Path(dest)
    try:
        with atomic_output(dest) as tmp, open(tmp, "wb") as fh:
            fh.write(data)
    except OSError as err:
        raise InputError(f"cannot write {dest}: {err.strerror or err}") from None


def atomic_write_text(dest: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``dest`` atomically, with ``\\n`` line ends on every platform.

    Raises:
        InputError: the file cannot be written.
    """
    atomic_write_bytes(dest, text.encode(encoding))


def remove_stale_temps(folder: str | os.PathLike[str], older_than_s: float) -> list[Path]:
    """Delete framefill temporaries in ``folder`` last modified more than ``older_than_s`` ago.

    A writer that was killed leaves its temporary behind; a live writer's is
    younger than any sensible ``older_than_s``. Returns the removed paths;
    files that vanish or cannot be removed meanwhile are skipped.
    """
    root = Path(folder)
    cutoff = time.time() - older_than_s
    removed: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        if not is_temp_name(entry.name):
            continue
        try:
            if entry.is_file() and entry.stat().st_mtime <= cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return sorted(removed)
