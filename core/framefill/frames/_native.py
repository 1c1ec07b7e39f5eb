"""Quiet calls into the OpenEXR library: what it prints becomes part of one error line.

The bindings print warnings through Python's stdout and the C core prints
errors on file descriptor 2; :func:`quiet_native` captures both during a call
so :mod:`framefill.frames.exr` can turn them into one-line errors.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from framefill.frames import _exrlayout

__all__ = ["quiet_native", "first_note", "clean_note"]


_NATIVE_LOCK = threading.Lock()


class _ThreadCapture(io.TextIOBase):
    """Stands in for sys.stdout: keeps what one thread prints, passes the rest on."""

    def __init__(self, real: Any, owner: int) -> None:
        self.real = real
        self.owner = owner
        self.captured: list[str] = []

    def write(self, text: str) -> int:
        if threading.get_ident() == self.owner:
            self.captured.append(text)
            return len(text)
        return int(self.real.write(text))

    def flush(self) -> None:
        self.real.flush()

    def isatty(self) -> bool:
        return bool(self.real.isatty())

    def fileno(self) -> int:
        return int(self.real.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.real, "encoding", "utf-8"))


@contextlib.contextmanager
def quiet_native() -> Iterator[list[str]]:
    """Collect what the OpenEXR library prints during a call instead of showing it.

    The bindings print warnings through Python's stdout and the C core prints
    errors on file descriptor 2. Both are captured for the error message;
    anything else written to fd 2 meanwhile (another thread) is passed on.
    """
    notes: list[str] = []
    with _NATIVE_LOCK:
        real_stdout = sys.stdout
        capture = _ThreadCapture(real_stdout, threading.get_ident()) if real_stdout is not None else None
        if capture is not None:
            sys.stdout = capture
        saved_fd = None
        spool = None
        try:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                if sys.stderr is not None:
                    sys.stderr.flush()
                spool = tempfile.TemporaryFile()
                saved_fd = os.dup(2)
                os.dup2(spool.fileno(), 2)
            yield notes
        finally:
            if saved_fd is not None and spool is not None:
                os.dup2(saved_fd, 2)
                os.close(saved_fd)
                spool.seek(0)
                passed: list[str] = []
                for line in spool.read().decode("utf-8", errors="replace").splitlines(keepends=True):
                    (notes if "EXR_ERR" in line or "OpenEXR" in line else passed).append(line)
                if passed:
                    os.write(2, "".join(passed).encode())
            if spool is not None:
                spool.close()
            if capture is not None:
                if sys.stdout is capture:
                    sys.stdout = real_stdout
                notes.extend("".join(capture.captured).splitlines())


_NOTE_CODE = re.compile(r"\((EXR_ERR_\w+)\)\s*")
_NOTE_WARNING = re.compile(r"^Warning: Exception raised reading pixel data for (part \d+) - ")


def first_note(notes: list[str], path: Path) -> str:
    """The library's first complaint, tidied for a one-line message."""
    for line in notes:
        line = line.strip().replace(str(path), "").lstrip(": ").strip()
        line = _NOTE_CODE.sub(lambda m: m.group(1) + ": ", line)
        line = _NOTE_WARNING.sub(lambda m: m.group(1) + ": ", line)
        if line:
            return _exrlayout.show(line, 160, quote=False)
    return ""


def clean_note(reason: str, path: Path) -> str:
    text = " ".join(str(reason).replace(f"'{path}'", "it").replace(str(path), "it").split())
    return _exrlayout.show(text, 160, quote=False)
