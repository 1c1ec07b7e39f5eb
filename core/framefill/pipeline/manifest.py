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

Damage: a per-frame entry that is not one counts as absent (its frame is redone);
a damaged merged file (not JSON, not an object, a field of the wrong type) is
rebuilt from the entries on the next publish, keeping the other sequences' sound
sections. Only a merged file whose version is newer than this framefill's is refused.

``<sequence>`` is :func:`entries_folder_name` of the pattern's file name, spelled
with ``#`` (``shot.%04d.exr``, ``shot.$F4.exr`` and ``shot.@@@@.exr`` are all
``shot.####.exr``): one folder per sequence, whatever the spelling.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeGuard

from framefill._version import __version__
from framefill.atomic import atomic_write_text
from framefill.errors import InputError, SequenceError

__all__ = ["MANIFEST_NAME", "MANIFEST_VERSION", "EntryStatus", "ManifestEntry", "Manifest", "sequence_name",
           "entries_folder_name", "human_decision"]

MANIFEST_NAME = "framefill.manifest.json"
MANIFEST_VERSION = 1
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PLAIN = re.compile(r"[A-Za-z0-9._-]*")


def sequence_name(name: str) -> str:
    """A pattern's file name in its one spelling, ``shot.####.exr`` (a name without a frame token as it is)."""
    from framefill.frames import FramePattern

    try:
        return FramePattern.parse(name).as_hashes()
    except SequenceError:
        return name


def entries_folder_name(name: str) -> str:
    """The folder under ``.framefill/`` that holds one sequence's entries, unique per :func:`sequence_name`.

    A plain ASCII name keeps the name framefill always gave it, the frame token
    as ``_`` (``shot.####.exr`` -> ``shot._.exr``). A name that mapping would
    blur (non-ASCII letters, spaces, other characters: ``a b`` and ``a_b``,
    ``日本`` and ``中国``) also gets 8 hex digits of the sha256 of the exact name.
    """
    from framefill.frames import FramePattern

    name = sequence_name(name)
    safe = _SAFE.sub("_", name)
    try:
        pattern = FramePattern.parse(name)
        plain = _PLAIN.fullmatch(pattern.prefix) and _PLAIN.fullmatch(pattern.suffix)
    except SequenceError:
        plain = _PLAIN.fullmatch(name)
    if plain:
        return safe
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{safe}-{digest}"

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
    review: Mapping[str, Any] | None = None  # a person's decision: decision, by, at, file_sha256 (see with_review)
    nonfinite: Mapping[str, Any] | None = None  # NaN/Inf pixels of the inputs: {source frame: {channel: count}}
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
        """An entry from its stored form; None when it is not one (a damaged or hand-edited file).

        A known field of the wrong type makes the whole entry damaged, except the records
        (``qc_features`` without a path, ``qc`` or ``nonfinite`` not an object): those are
        dropped and recomputed when needed.
        """
        if not isinstance(doc, Mapping) or doc.get("status") not in _STATUSES \
                or not isinstance(doc.get("recipe"), Mapping) or not isinstance(doc.get("file_sha256"), str):
            return None
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in doc.items() if k in known}
        if any(not _OPTIONAL_TYPES[k](values[k]) for k in _OPTIONAL_TYPES if values.get(k) is not None):
            return None
        if not isinstance(values.get("qc_features"), Mapping) or not isinstance(values["qc_features"].get("path"), str):
            values.pop("qc_features", None)
        for name in ("qc", "nonfinite"):  # a damaged record: recomputed or counted again when needed
            if not isinstance(values.get(name), Mapping):
                values.pop(name, None)
        if human_decision(values.get("review"), None) is None:  # a damaged decision counts as none
            values.pop("review", None)
        return cls(**values, extra={k: v for k, v in doc.items() if k not in known})

    def with_qc(self, qc: Mapping[str, Any]) -> ManifestEntry:
        """The same entry with a new cached QC score."""
        from dataclasses import replace

        return replace(self, qc=dict(qc))

    def with_review(self, decision: Literal["accept", "rerender"] | None, *, by: str = "", at: str = "",
                    ) -> ManifestEntry:
        """The same entry with a person's decision on this version of the frame (None clears it).

        ``by`` and ``at`` say who decided and when (ISO 8601); the decision holds the
        file's sha256, so it lapses when the frame is written again.
        """
        from dataclasses import replace

        if decision is None:
            return replace(self, review=None)
        return replace(self, review={"decision": decision, "by": by, "at": at, "file_sha256": self.file_sha256})

    def decision(self) -> Mapping[str, Any] | None:
        """The person's decision on the frame as it is now, or None (none, or made on another version of it)."""
        return human_decision(self.review, self.file_sha256)


def human_decision(record: Any, file_sha256: str | None) -> Mapping[str, Any] | None:
    """``record`` when it is a well-formed decision (on ``file_sha256`` unless that is None), else None."""
    if not isinstance(record, Mapping) or record.get("decision") not in ("accept", "rerender") \
            or not all(isinstance(record.get(k), str) for k in ("by", "at", "file_sha256")):
        return None
    if file_sha256 is not None and record["file_sha256"] != file_sha256:
        return None
    return record


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# The optional scalar fields of an entry and what each must be when present.
_OPTIONAL_TYPES: dict[str, Any] = {
    "pixel_sha256": lambda v: isinstance(v, str),
    "needs_render": lambda v: isinstance(v, bool),
    "reason": lambda v: isinstance(v, str),
    "cut_score": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "cut": lambda v: isinstance(v, bool),
    "tile_px": _is_int,
    "overlap_px": _is_int,
}


class Manifest:
    """The manifest of one output sequence (a pattern such as ``out/shot.####.exr``)."""

    def __init__(self, pattern: str) -> None:
        path = Path(pattern)
        self.pattern = sequence_name(path.name)  # the sequence's key in the merged file
        self._spelling = path.name
        self.folder = path.parent if str(path.parent) else Path(".")
        self.path = self.folder / MANIFEST_NAME
        self._entries_dir = self.folder / ".framefill" / entries_folder_name(self.pattern)

    @property
    def entries_dir(self) -> Path:
        """The folder of this sequence's per-frame entries (its QC feature sidecars sit below it)."""
        return self._entries_dir

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

        ``job`` fields (model, device, determinism...) are stored per sequence. A
        damaged merged file is rebuilt (see the module's notes).

        Raises:
            InputError: the merged file was written by a newer framefill.
        """
        with self._locked():
            self._rebuild(job)

    def update(self, frames: Iterable[int], change: Callable[[ManifestEntry], ManifestEntry],
               ) -> dict[int, ManifestEntry]:
        """Change the entries of ``frames`` and rebuild the merged file, all under the lock (read, change, write).

        Returns the new entries by frame.

        Raises:
            InputError: a frame without an entry, or a merged file written by a newer framefill.
        """
        with self._locked():
            changed = {}
            for frame in frames:
                entry = self.get(frame)
                if entry is None:
                    raise InputError(f"frame {frame} has no entry in {self.path}; only frames framefill wrote can "
                                     "be changed")
                changed[frame] = change(entry)
            for frame, entry in changed.items():
                self.put(frame, entry)
            self._rebuild({})
        return changed

    def _rebuild(self, job: Mapping[str, Any]) -> None:
        """``publish``'s work; the caller holds the lock."""
        doc = self._read_merged()
        sequences = doc["sequences"]
        seq = sequences.setdefault(self.pattern, {})
        older = sequences.pop(self._spelling, None) if self._spelling != self.pattern else None
        if older is not None and "job" in older:  # published under another spelling of this pattern
            seq.setdefault("job", older["job"])
        if job:
            seq.setdefault("job", {}).update(job)
        seq["frames"] = {str(f): e.to_json() for f, e in self.entries().items()}
        doc["version"] = MANIFEST_VERSION
        doc["framefill_version"] = __version__
        atomic_write_text(self.path, json.dumps(doc, sort_keys=True, indent=1))

    def job(self) -> dict[str, Any]:
        """The job fields last published for this sequence ({} when none, or when the merged file is damaged).

        Raises:
            InputError: the merged file was written by a newer framefill.
        """
        sequences = self._read_merged()["sequences"]
        seq = sequences.get(self.pattern) or sequences.get(self._spelling) or {}
        return dict(seq.get("job", {}))

    def _read_merged(self) -> dict[str, Any]:
        """The merged file with its sound parts only: ``sequences`` an object of objects, each with a
        ``job`` object and a ``frames`` object of objects; a part of another shape is left out (rebuilt)."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            doc = None  # missing or not JSON: rebuilt from the entries, which are the truth
        if not isinstance(doc, dict):
            return {"sequences": {}}
        version = doc.get("version")
        if _is_int(version) and version > MANIFEST_VERSION:
            raise InputError(f"{self.path} was written by a newer framefill (manifest version {version}); "
                             "upgrade framefill to use it")
        sequences = doc.get("sequences")
        doc["sequences"] = {name: _sound_sequence(seq) for name, seq in sequences.items()
                            if isinstance(seq, dict)} if isinstance(sequences, dict) else {}
        return doc


def _sound_sequence(seq: dict[str, Any]) -> dict[str, Any]:
    """A sequence section without its damaged parts (a job or frames that are not objects, a frame not an object)."""
    out = dict(seq)
    if not isinstance(out.get("job", {}), dict):
        del out["job"]
    frames = out.get("frames", {})
    if not isinstance(frames, dict):
        del out["frames"]
    elif not all(isinstance(e, dict) for e in frames.values()):
        out["frames"] = {f: e for f, e in frames.items() if isinstance(e, dict)}
    return out
