"""Checks every frame reader makes before opening a file, and the one-line messages they give.

A frame path can be missing, a folder, a broken or looping symbolic link, a
FIFO or device (reading one would block or never end), unreadable for the
user, empty, or a file of another format under the wrong extension (a PNG
saved as ``.exr``). Each case gets a message that names the file and the fix,
instead of the library's own words or a traceback.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["file_problem", "sniff_format", "sniff_bytes", "read_problem", "FORMAT_EXTENSIONS"]

# Magic numbers at the start of the formats a render folder holds.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x76\x2f\x31\x01", "exr"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"SDPX", "dpx"),
    (b"XPDS", "dpx"),
    (b"BM", "bmp"),
    (b"GIF8", "gif"),
    (b"8BPS", "psd"),
)
# The extension to suggest for a sniffed format.
FORMAT_EXTENSIONS = {"exr": ".exr", "png": ".png", "jpeg": ".jpg", "tiff": ".tif", "dpx": ".dpx", "bmp": ".bmp",
                     "gif": ".gif", "psd": ".psd"}


def sniff_format(path: str | os.PathLike[str]) -> str | None:
    """The format a file's first bytes announce ("exr", "png", "jpeg", "tiff", ...), or None.

    Reads 8 bytes; an unreadable file gives None.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return None
    return sniff_bytes(head)


def sniff_bytes(head: bytes) -> str | None:
    """The format the first bytes of a file announce, or None (see :func:`sniff_format`)."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a frame file, as the end of a one-line message; None if it can.

    Follows symbolic links; says which case it is (missing, broken link, link
    loop, folder, not a regular file, empty) and what to do.
    """
    try:
        st = os.stat(path)
    except OSError as err:
        return read_problem(path, err)
    if stat.S_ISDIR(st.st_mode):
        return "it is a folder, not a file; give a file (or a pattern such as shot.####.exr)"
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file (a FIFO, socket or device); give a frame file"
    if st.st_size == 0:
        return "the file is empty (0 bytes); the render or copy did not finish: re-render or re-copy it"
    return None


def read_problem(path: Path, err: OSError) -> str:
    """The end of a one-line message for an OSError met while reading ``path``."""
    code = err.errno
    if code == errno.ENOENT:
        if os.path.islink(path):
            try:
                target = f" (to {os.readlink(path)})"
            except OSError:
                target = ""
            return f"it is a broken symbolic link{target}; fix the link or re-copy the file"
        return "file not found; check the path (and the frame number, for a frame)"
    if code == errno.ELOOP:
        return "it is a symbolic link loop (a link that leads back to itself); fix the link"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied; make the file readable for you (chmod) or copy it somewhere you can read"
    if code == errno.EISDIR:
        return "it is a folder, not a file; give a file (or a pattern such as shot.####.exr)"
    if code == errno.ENOTDIR:
        return "part of the path is a file, not a folder; check the path"
    if code == errno.ENAMETOOLONG:
        return "the path is too long; check it"
    if code == errno.EIO:
        return "the disk reported an I/O error; re-copy the file or check the storage"
    return f"{err.strerror or err}; check the file"
