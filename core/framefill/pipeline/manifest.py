"""``framefill.manifest.json``: what framefill wrote, from what, and how to check it.

The manifest sits beside the outputs. For every output frame it records whether
the frame was rendered (copied), filled or held, its sources and t, the model
and its sha256, the sha256 of the file and of its pixels, and later the qc
score. Resume and "regenerate instead of store" read it.

Concurrency: farm chunks of one job write disjoint frames at the same time, on
Linux, macOS or Windows workers. Each frame's entry is first written atomically
to its own small file under ``.framefill/<sequence>/``; then, under an exclusive
lock on ``.framefill/manifest.lock`` (the ``filelock`` package: ``flock`` on
POSIX, a byte-range lock on Windows), :meth:`Manifest.publish` reads the merged
``framefill.manifest.json`` once, puts in the entries of the frames that task
wrote (read from their entry files) and writes it back atomically. Its cost
grows with the frames published, not with the sequence: the entries of the
other chunks are never reread. Entries are the truth; as every writer merges
its own frames under the lock, the merged file holds every published frame.

Damage: a per-frame entry that is not one counts as absent (its frame is redone,
and publishing it drops it from the merged file); a damaged merged file (not
JSON, not an object, a field of the wrong type, a frame that is not an entry)
makes the next publish rebuild this sequence's section from all its entries,
keeping the other sequences' sound sections. So does a missing merged file or
section, or one under another spelling of the pattern; :meth:`Manifest.rebuild`
does it on request. Only a merged file whose version is newer than this
framefill's is refused.

``<sequence>`` is :func:`entries_folder_name` of the pattern's file name, spelled
with ``#`` (``shot.%04d.exr``, ``shot.$F4.exr`` and ``shot.@@@@.exr`` are all
``shot.####.exr``): one folder per sequence, whatever the spelling.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeGuard

from filelock import FileLock

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

    def __init__(self, pattern: str | os.PathLike[str]) -> None:
        from framefill.frames.sequence import split_folder_name

        folder, name = split_folder_name(pattern)  # a Windows spelling splits at its backslashes on any system
        self.pattern = sequence_name(name)  # the sequence's key in the merged file
        self._spelling = name
        self.folder = Path(folder or ".")
        self.path = self.folder / MANIFEST_NAME
        self._entries_dir = self.folder / ".framefill" / entries_folder_name(self.pattern)
        self._unpublished: set[int] = set()  # frames put through this object since its last publish

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
        self._unpublished.add(int(frame))

    # -- the merged file ------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.folder / ".framefill" / "manifest.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock_path)):
            yield

    def publish(self, frames: Iterable[int] = (), **job: Any) -> None:
        """Merge the entries of ``frames`` into ``framefill.manifest.json`` (atomic, under the lock).

        The frames put through this object since its last publish are merged too,
        so a job's periodic ``publish(**job)`` needs no list; its last publish
        names every frame of its task, which also merges entries an earlier,
        killed run wrote but never published. Only those frames' entry files are
        read. A frame without a sound entry is dropped from the merged file. A
        missing or damaged merged file or section is rebuilt from all entries
        (see the module's notes). ``job`` fields (model, device, determinism...)
        are stored per sequence.

        Raises:
            InputError: the merged file was written by a newer framefill.
        """
        wanted = set(self._unpublished) | {int(f) for f in frames}
        with self._locked():
            self._merge(wanted, job)
        self._unpublished -= wanted

    def rebuild(self, **job: Any) -> None:
        """Rebuild this sequence's section of ``framefill.manifest.json`` from all its entries (under the lock).

        For tools and repairs: reads every entry file of the sequence (``publish`` reads only its frames').

        Raises:
            InputError: the merged file was written by a newer framefill.
        """
        with self._locked():
            self._merge(None, job)
        self._unpublished.clear()

    def update(self, frames: Iterable[int], change: Callable[[ManifestEntry], ManifestEntry],
               ) -> dict[int, ManifestEntry]:
        """Change the entries of ``frames`` and merge them into the merged file, all under the lock (read, change,
        write).

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
            self._merge(set(changed) | self._unpublished, {})
        self._unpublished.clear()
        return changed

    def _merge(self, frames: Collection[int] | None, job: Mapping[str, Any]) -> None:
        """Write this sequence's section of the merged file with the entries of ``frames`` merged in; all entries
        when ``frames`` is None or the section is not whole (missing, damaged, under another spelling).
        The caller holds the lock."""
        doc, whole = self._load_merged()
        sequences = doc["sequences"]
        seq = sequences.setdefault(self.pattern, {})
        older = sequences.pop(self._spelling, None) if self._spelling != self.pattern else None
        if older is not None and "job" in older:  # published under another spelling of this pattern
            seq.setdefault("job", older["job"])
        if job:
            seq.setdefault("job", {}).update(job)
        if frames is None or older is not None or not whole:
            seq["frames"] = {str(f): e.to_json() for f, e in self.entries().items()}
        else:
            merged = seq["frames"]
            for frame in sorted(frames):
                entry = self.get(frame)
                if entry is None:  # no sound entry: the frame is redone, so it is not listed as done
                    merged.pop(str(frame), None)
                else:
                    merged[str(frame)] = entry.to_json()
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
        """The merged file with its sound parts only (see :meth:`_load_merged`)."""
        return self._load_merged()[0]

    def _load_merged(self) -> tuple[dict[str, Any], bool]:
        """The merged file with its sound parts only: ``sequences`` an object of objects, each with a
        ``job`` object and a ``frames`` object of objects; a part of another shape is left out (rebuilt).
        Also whether this sequence's ``frames`` came through whole (there, and every frame a sound entry)."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            doc = None  # missing or not JSON: rebuilt from the entries, which are the truth
        if not isinstance(doc, dict):
            return {"sequences": {}}, False
        version = doc.get("version")
        if _is_int(version) and version > MANIFEST_VERSION:
            raise InputError(f"{self.path} was written by a newer framefill (manifest version {version}); "
                             "upgrade framefill to use it")
        sequences = doc.get("sequences")
        if not isinstance(sequences, dict):
            doc["sequences"] = {}
            return doc, False
        doc["sequences"] = {name: _sound_sequence(seq) for name, seq in sequences.items() if isinstance(seq, dict)}
        own = sequences.get(self.pattern)
        return doc, isinstance(own, dict) and _whole_frames(own.get("frames"))


def _whole_frames(frames: Any) -> bool:
    """True when ``frames`` is an object of stored entries keyed by frame numbers as framefill writes them."""
    if not isinstance(frames, dict):
        return False
    for key, doc in frames.items():
        try:
            if str(int(key)) != key:
                return False
        except ValueError:
            return False
        if not _is_stored_entry(doc):
            return False
    return True


def _is_stored_entry(doc: Any) -> bool:
    """True when ``doc`` is an entry as :meth:`ManifestEntry.to_json` writes it: one that
    :meth:`ManifestEntry.from_json` reads back whole (no field of the wrong type, no damaged record, no null).

    The same rules as ``from_json`` without building the entry: a publish checks every frame of the merged file.
    """
    if not isinstance(doc, dict) or doc.get("status") not in _STATUSES or not isinstance(doc.get("recipe"), dict) \
            or not isinstance(doc.get("file_sha256"), str):
        return False
    if any(name in doc and not check(doc[name]) for name, check in _OPTIONAL_TYPES.items()):
        return False
    if any(name in doc and not isinstance(doc[name], dict) for name in ("qc", "nonfinite")):
        return False
    features = doc.get("qc_features", {"path": ""})
    if not isinstance(features, dict) or not isinstance(features.get("path"), str):
        return False
    return "review" not in doc or human_decision(doc["review"], None) is not None


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
