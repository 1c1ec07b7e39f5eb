"""``framefill.manifest.json``: what framefill wrote, from what, and how to check it.

The manifest sits beside the outputs. For every output frame it records whether
the frame was rendered (copied), filled or held, its sources and t, the model
and its sha256, the sha256 of the file and of its pixels, and later the qc
score. Resume and "regenerate instead of store" read it.

Concurrency: farm chunks of one job write disjoint frames at the same time. Each
frame's entry is first written atomically to its own small file under
``.framefill/<sequence>/``; the merged ``framefill.manifest.json`` is then
rebuilt from all entries under an exclusive lock. Entries are the truth; the
merged file is always a complete view as of the last writer.
"""

from __future__ import annotations

import fcntl
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from framefill._version import __version__
from framefill.errors import InputError
from framefill.frames.atomic import atomic_write_text

__all__ = ["MANIFEST_NAME", "MANIFEST_VERSION", "Manifest"]

MANIFEST_NAME = "framefill.manifest.json"
MANIFEST_VERSION = 1
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Manifest:
    """The manifest of one output sequence (a pattern such as ``out/shot.####.exr``)."""

    def __init__(self, pattern: str) -> None:
        path = Path(pattern)
        self.pattern = path.name
        self.folder = path.parent if str(path.parent) else Path(".")
        self.path = self.folder / MANIFEST_NAME
        self._entries_dir = self.folder / ".framefill" / _SAFE.sub("_", self.pattern)

    # -- per-frame entries --------------------------------------------------------
    def _entry_path(self, frame: int) -> Path:
        return self._entries_dir / f"{frame}.json"

    def get(self, frame: int) -> dict[str, Any] | None:
        """The entry of one frame, or None."""
        path = self._entry_path(frame)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, OSError):
            return None  # a damaged entry counts as absent: the frame is redone

    def entries(self) -> dict[int, dict[str, Any]]:
        """Every frame's entry, by frame number."""
        out: dict[int, dict[str, Any]] = {}
        if not self._entries_dir.is_dir():
            return out
        for path in self._entries_dir.glob("*.json"):
            try:
                frame = int(path.stem)
            except ValueError:
                continue
            entry = self.get(frame)
            if entry is not None:
                out[frame] = entry
        return dict(sorted(out.items()))

    def put(self, frame: int, entry: Mapping[str, Any]) -> None:
        """Write one frame's entry atomically (the caller then calls ``publish``)."""
        self._entries_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self._entry_path(frame), json.dumps(dict(entry), sort_keys=True, indent=1))

    def update(self, frame: int, **fields: Any) -> None:
        """Merge fields into one frame's entry (e.g. a qc score)."""
        entry = self.get(frame)
        if entry is None:
            raise InputError(f"frame {frame} is not in {self.path}; fill or copy it first")
        entry.update(fields)
        self.put(frame, entry)

    # -- the merged file ------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        lock_path = self.folder / ".framefill" / "manifest.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def publish(self, **job: Any) -> None:
        """Rebuild ``framefill.manifest.json`` from all entries (atomic, under a lock).

        ``job`` fields (model, device, determinism...) are stored per sequence.
        """
        with self._locked():
            doc = self._read_merged()
            sequences = doc.setdefault("sequences", {})
            seq = sequences.setdefault(self.pattern, {})
            if job:
                seq.setdefault("job", {}).update(job)
            seq["frames"] = {str(f): e for f, e in self.entries().items()}
            doc["version"] = MANIFEST_VERSION
            doc["framefill_version"] = __version__
            atomic_write_text(self.path, json.dumps(doc, sort_keys=True, indent=1))

    def job(self) -> dict[str, Any]:
        """The job fields last published for this sequence."""
        return dict(self._read_merged().get("sequences", {}).get(self.pattern, {}).get("job", {}))

    def _read_merged(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, OSError):
            return {}  # rebuilt from the entries, which are the truth
        if not isinstance(doc, dict) or doc.get("version", MANIFEST_VERSION) > MANIFEST_VERSION:
            raise InputError(f"{self.path} was written by a newer framefill; upgrade framefill to use it")
        return doc
