"""Files written whole: atomic output (a hidden temporary beside the destination, then rename),
and the sha256 that proves a file's bytes.

A reader (a compositor, a farm task, a resumed run) never sees a half-written
frame: the final name appears only once the bytes are complete and synced.
A writer that is killed leaves at most a hidden ``.<name>.ff-tmp-*`` file,
which :func:`is_temp_name` recognises and :func:`remove_stale_temps` clears.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from framefill.errors import InputError

__all__ = [
    "TEMP_MARKER",
    "file_sha256",
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "is_temp_name",
    "remove_stale_temps",
    "write_error",
    "write_errno",
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


# Windows refuses to replace a file that another process has open (a reader, a virus
# scanner, the indexer) with a sharing violation for a moment: retry for up to ~2 s.
_REPLACE_TRIES = 40
_REPLACE_WAIT_S = 0.05


def _replace(tmp: Path, dest: Path) -> None:
    """``os.replace``, retried on Windows while ``dest`` is held open by another process."""
    for attempt in range(_REPLACE_TRIES):
        try:
            os.replace(tmp, dest)
            return
        except PermissionError:
            if os.name != "nt" or attempt == _REPLACE_TRIES - 1:
                raise
            time.sleep(_REPLACE_WAIT_S)


# errno values that only a write can cause: raised inside an atomic_output block
# they are about the output, whatever call raised them.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
# Errors whose text (e.g. from a C library's message) names the cause; checked in this order.
_KNOWN_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                 errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ENOENT)


def _blocking_file(folder: Path) -> Path | None:
    """The nearest ancestor of ``folder`` (itself included) that exists but is not a folder."""
    for candidate in (folder, *folder.parents):
        try:
            if candidate.exists():
                return None if candidate.is_dir() else candidate
        except OSError:
            return None
    return None


def write_error(dest: str | os.PathLike[str], reason: OSError | str) -> InputError:
    """The one-line error for a failed write of ``dest``: what happened, where, and what to do.

    ``reason`` is the OSError, or the text of a library's error (OpenEXR and
    FFmpeg put the system's message, e.g. "No space left on device", in it).
    The message names ``dest`` itself, never the hidden temporary.
    """
    dest = Path(dest)
    folder = dest.parent
    code = write_errno(reason)
    detail = (reason.strerror or str(reason)) if isinstance(reason, OSError) else " ".join(str(reason).split())
    if code == errno.EROFS:
        hint = f"the folder {folder} is on a read-only file system; choose another --out folder"
    elif code in (errno.EACCES, errno.EPERM):
        hint = (f"permission denied: the folder {folder} is not writable for you; "
                "choose another --out folder or fix its permissions")
    elif code == errno.ENOSPC:
        hint = (f"the disk is full (no space left on the device that holds {folder}); "
                "free some space or choose another --out folder")
    elif code == errno.EDQUOT:
        hint = (f"the disk quota is used up on the device that holds {folder}; "
                "free some space or choose another --out folder")
    elif code == errno.EFBIG:
        hint = "the file is larger than the file system allows; choose another --out folder"
    elif code == errno.EISDIR:
        hint = "a folder of that name is in the way; remove or rename it, or choose another output name"
    elif code == errno.ENOTDIR or (code in (errno.ENOENT, errno.EEXIST) and _blocking_file(folder)):
        blocker = _blocking_file(folder)
        where = f"{blocker} is a file, not a folder" if blocker else "part of the path is a file, not a folder"
        hint = f"{where}; choose another --out folder"
    elif code == errno.ENAMETOOLONG:
        hint = "the name is too long for the file system; choose a shorter output name"
    elif code == errno.ENOENT:
        hint = f"the folder {folder} went away while writing; check the output folder and run again"
    else:
        hint = f"{detail}; check the output folder, or choose another with --out"
    return InputError(f"cannot write {dest}: {hint}")


def write_errno(reason: OSError | str) -> int | None:
    """The errno behind a failed write: the OSError's own, or the one whose system message is in ``reason``.

    None when the text names no cause framefill knows (then the library's own words are the best message).
    """
    if isinstance(reason, OSError):
        return reason.errno
    lowered = str(reason).lower()
    return next((c for c in _KNOWN_ERRNOS if os.strerror(c).lower() in lowered), None)


def _is_write_failure(err: OSError, tmp: Path, dest: Path) -> bool:
    if err.errno in _WRITE_ERRNOS:
        return True
    names = {os.fspath(tmp), os.fspath(dest)}
    return any(isinstance(f, (str, os.PathLike)) and os.fspath(f) in names for f in (err.filename, err.filename2))


@contextlib.contextmanager
def atomic_output(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; move it onto ``dest`` when the block succeeds.

    The temporary is ``.{name}.ff-tmp-{pid}-{random}{suffix}`` in the same folder
    (same file system, so the rename is atomic) and keeps the real suffix so
    writers that pick a format by extension (OpenCV, OpenEXR) still work.
    Parent folders are created, and the folder is checked to take a new file
    before the block runs, so a read-only or full folder fails with one line
    naming ``dest`` before any writer starts. On success the file is fsynced
    and renamed with ``os.replace``, then the folder is fsynced. On any
    exception, KeyboardInterrupt included, the temporary is removed and the
    exception re-raised, except an OSError about the output (disk full,
    read-only, permission denied on the temporary or ``dest``), which becomes
    the :func:`write_error` line; an existing ``dest`` is left untouched.

    Raises:
        InputError: the folder cannot be created or written, ``dest`` is a
            folder, the disk is full, or the block wrote nothing.
    """
    dest = Path(dest)
    if dest.is_dir():
        raise write_error(dest, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        blocker = _blocking_file(dest.parent)
        if blocker is not None:
            raise InputError(
                f"cannot write {dest}: cannot create folder {dest.parent}: {blocker} is a file, not a folder; "
                f"choose another --out folder"
            ) from None
        raise write_error(dest, err) from None
    tmp = _temp_path(dest)
    try:
        # A new empty file tells a read-only, full or forbidden folder apart
        # before a writer library reports it in its own words (or names the temporary).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise write_error(dest, err) from None
    try:
        yield tmp
        if not tmp.exists():
            raise InputError(f"nothing was written for {dest}")
        _fsync_file(tmp)
        _replace(tmp, dest)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if _is_write_failure(err, tmp, dest):
            raise write_error(dest, err) from None
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(dest.parent)


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically (see :func:`atomic_output`).

    Raises:
        InputError: the file cannot be written (the message names ``dest`` and the fix).
    """
    dest = Path(dest)
    try:
        with atomic_output(dest) as tmp, open(tmp, "wb") as fh:
            fh.write(data)
    except OSError as err:
        raise write_error(dest, err) from None


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


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
