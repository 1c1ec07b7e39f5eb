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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from framefill._version import __version__
from framefill.atomic import atomic_write_text
from framefill.errors import InputError

__all__ = ["MANIFEST_NAME", "MANIFEST_VERSION", "EntryStatus", "ManifestEntry", "Manifest"]

MANIFEST_NAME = "framefill.manifest.json"
MANIFEST_VERSION = 1
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")

EntryStatus = Literal["copied", "filled", "held", "upscaled"]
_STATUSES = ("copied", "filled", "held", "upscaled")


@dataclass(frozen=True)
class ManifestEntry:
    """What one output frame is, what it was made from, and how to check it.

    ``recipe`` says what the frame was made from (sources and their sha256, the
    model, the settings): a rerun redoes a frame whose recipe changed.
    ``file_sha256``/``pixel_sha256`` verify the output. The optional fields are
    written only when set; ``extra`` keeps fields this framefill does not know
    (written by a newer one), untouched.
    """

    status: EntryStatus
    recipe: Mapping[str, Any]
    file_sha256: str
    pixel_sha256: str | None = None
    needs_render: bool | None = None  # fill: held frames need a real render
    reason: str | None = None
    cut_score: float | None = None
    cut: bool | None = None
    qc_features: Mapping[str, Any] | None = None  # the QC feature sidecar: path, version
    qc: Mapping[str, Any] | None = None  # the cached QC score
    tile_px: int | None = None  # upscale
    overlap_px: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The entry as stored: unset fields left out."""
        out: dict[str, Any] = dict(self.extra)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "extra" and value is not None:
                out[f.name] = dict(value) if isinstance(value, Mapping) else value
        return out

    @classmethod
    def from_json(cls, doc: Any) -> ManifestEntry | None:
        """An entry from its stored form; None when it is not one (a damaged or hand-edited file)."""
        if not isinstance(doc, Mapping) or doc.get("status") not in _STATUSES \
                or not isinstance(doc.get("recipe"), Mapping) or not isinstance(doc.get("file_sha256"), str):
            return None
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in doc.items() if k in known}
        for name in ("qc_features", "qc"):
            if name in values and not isinstance(values[name], Mapping):
                del values[name]  # a damaged optional record: recomputed when needed
        return cls(**values, extra={k: v for k, v in doc.items() if k not in known})

    def with_qc(self, qc: Mapping[str, Any]) -> ManifestEntry:
        """The same entry with a new cached QC score."""
        from dataclasses import replace

        return replace(self, qc=dict(qc))


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

    def get(self, frame: int) -> ManifestEntry | None:
        """The entry of one frame, or None (a damaged entry counts as absent: the frame is redone)."""
        path = self._entry_path(frame)
        try:
            return ManifestEntry.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            return None

    def entries(self) -> dict[int, ManifestEntry]:
        """Every frame's entry, by frame number."""
        out: dict[int, ManifestEntry] = {}
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

    def put(self, frame: int, entry: ManifestEntry) -> None:
        """Write one frame's entry atomically (the caller then calls ``publish``)."""
        self._entries_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self._entry_path(frame), json.dumps(entry.to_json(), sort_keys=True, indent=1))

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
            seq["frames"] = {str(f): e.to_json() for f, e in self.entries().items()}
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
