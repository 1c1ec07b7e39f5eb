"""A filled shot as review sees it: its frames, their status and scores, and a person's decisions.

What is read: the frames on disk (``PATTERN``), the ``framefill.manifest.json``
beside them (what each frame is: rendered, filled or held; QC's cached score
and verdict), and QC's ``qc.json`` with its heatmap EXRs when a report folder
is there (``--report DIR``, else ``qc_report/`` beside the frames, where the
farm's jobs put it). A folder without a manifest opens with the frames alone;
decisions then need one.

A decision (accept, or send back for a real render) goes into the frame's
manifest entry as ``review`` (decision, by, at, and the sha256 of the file it
was made on), read, changed and written under the manifest's lock, and into
``qc.json`` (the frame's ``flagged`` and ``decision``, the re-render list and
the savings). Later ``framefill qc`` runs keep it: see
:func:`framefill.pipeline.qc.qc_sequence`.
"""

from __future__ import annotations

import getpass
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from framefill.atomic import atomic_write_text
from framefill.color import ColorSetup
from framefill.errors import ExrError, InputError
from framefill.frames import FramePattern, format_frame_range, probe_exr
from framefill.pipeline.manifest import Manifest, ManifestEntry
from framefill.pipeline.qc import heatmap_pattern, savings_of

__all__ = ["Status", "STATUSES", "Decision", "Reference", "ReviewFrame", "ReviewShot", "load_shot", "nuke_range",
           "openjd_range",
           "DEFAULT_FPS", "REPORT_SUBDIR"]

# What the timeline shows for each frame. "unscored": filled, not judged by QC yet;
# "frame": on disk but not in a manifest (a folder opened without one).
Status = Literal["rendered", "accepted", "rerender", "held", "unscored", "frame"]
STATUSES: tuple[Status, ...] = ("rendered", "accepted", "rerender", "held", "unscored", "frame")
Decision = Literal["accept", "rerender"]
# What a frame is compared with in the wipe and side by side.
Reference = Literal["truth", "before", "after"]
# The rate of a shot whose frames do not say (framefill/fps or framesPerSecond).
DEFAULT_FPS = 24.0
# Where `framefill farm bundle` puts a job's QC report: looked for when --report is not given.
REPORT_SUBDIR = "qc_report"


@dataclass(frozen=True)
class ReviewFrame:
    """One frame of the shot as the timeline shows it."""

    frame: int
    status: Status
    exists: bool  # the file is on disk
    qc_flagged: bool | None = None  # QC's own verdict (None: not judged)
    predicted_psnr_db: float | None = None
    psnr_db: float | None = None  # true, where a real render was given to QC
    reason: str = ""
    basis: str = ""
    decision: Mapping[str, Any] | None = None  # a person's: decision, by, at
    features: Mapping[str, float] = field(default_factory=dict)  # QC's aggregates of the no-reference features
    keyframe_checks: tuple[int, ...] = ()

    @property
    def decidable(self) -> bool:
        """Filled or held frames can be accepted or sent back; a rendered one is already a render."""
        return self.status in ("accepted", "rerender", "held", "unscored")


def openjd_range(frames: Iterable[int]) -> str:
    """``1001-1003,1007``: what OpenJD (and ``--frames``) reads."""
    return format_frame_range(frames)


def nuke_range(frames: Iterable[int]) -> str:
    """``1001-1003 1007``: Nuke's frame-range syntax (steps as ``x2``), pieces apart by spaces."""
    return " ".join(format_frame_range(frames, style="nuke").split(","))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) else None


class ReviewShot:
    """A filled shot: frames in order with their :class:`ReviewFrame`, and where decisions are saved."""

    def __init__(self, pattern: str, frames: Mapping[int, ReviewFrame], *, manifest: Manifest | None,
                 qc_json: Path | None = None, report_dir: Path | None = None, truth: str | None = None,
                 fps: float = DEFAULT_FPS, color: ColorSetup = ColorSetup(), job: Mapping[str, Any] | None = None,
                 threshold_db: float | None = None) -> None:
        self.pattern = pattern
        self.frames: dict[int, ReviewFrame] = dict(sorted(frames.items()))
        self.manifest = manifest
        self.qc_json = qc_json
        self.report_dir = report_dir
        self.truth = FramePattern.parse(truth) if truth else None
        self.fps = fps
        self.color = color
        self.job = dict(job or {})
        self.threshold_db = threshold_db
        self._pattern = FramePattern.parse(pattern)

    # -- what the shot holds -----------------------------------------------------------------
    @property
    def frame_numbers(self) -> tuple[int, ...]:
        return tuple(self.frames)

    def path(self, frame: int) -> str:
        return self._pattern.path(frame)

    def rerender(self) -> tuple[int, ...]:
        """The frames to render after all: sent back (by QC or a person) and held, unless a person accepted them."""
        return tuple(f for f, r in self.frames.items() if r.status in ("rerender", "held"))

    def rendered(self) -> tuple[int, ...]:
        return tuple(f for f, r in self.frames.items() if r.status == "rendered")

    def no_manifest_message(self) -> str | None:
        """The one line that says decisions need a manifest, or None when there is one."""
        if self.manifest is not None:
            return None
        where = self._pattern.folder / "framefill.manifest.json"
        return (f"no framefill manifest for {self.pattern} ({where}): showing the frames alone; decisions need a "
                "manifest (fill the shot with `framefill interpolate`)")

    def heatmap_path(self, frame: int) -> Path | None:
        """The frame's heatmap EXR (ff_risk.Y, and ff_err.Y with truth) from QC's report, when there is one."""
        if self.report_dir is None:
            return None
        path = Path(heatmap_pattern(self.pattern, self.report_dir).path(frame))
        return path if path.is_file() else None

    def truth_path(self, frame: int) -> Path | None:
        if self.truth is None:
            return None
        path = Path(self.truth.path(frame))
        return path if path.is_file() else None

    def reference_path(self, frame: int, kind: Reference) -> Path | None:
        """What ``frame`` is compared with: its real render (``truth``, with ``--truth``), or the nearest rendered
        frame ``before`` or ``after`` it (any frame on disk, for a folder without a manifest); None when none."""
        if kind == "truth":
            return self.truth_path(frame)
        usable = [f for f, r in self.frames.items() if r.exists and f != frame
                  and (r.status == "rendered" or self.manifest is None)]
        pick = [f for f in usable if f < frame][-1:] if kind == "before" else [f for f in usable if f > frame][:1]
        return Path(self.path(pick[0])) if pick else None

    # -- decisions ---------------------------------------------------------------------------
    def decide(self, frames: Iterable[int], decision: Decision | None, *, by: str | None = None,
               at: str | None = None) -> tuple[int, ...]:
        """Accept (``"accept"``), send back (``"rerender"``) or clear (None) a person's decision on ``frames``.

        Rendered frames are left alone. The manifest entries change under the
        manifest's lock (read, change, atomic write, merged file rebuilt), then
        ``qc.json`` is rewritten atomically. Returns the frames decided.

        Raises:
            InputError: the shot has no manifest, or its merged file is from a newer framefill.
        """
        message = self.no_manifest_message()
        if message is not None or self.manifest is None:
            raise InputError(message or "decisions need a manifest")
        chosen = tuple(f for f in frames if f in self.frames and self.frames[f].decidable)
        if not chosen:
            return ()
        who = by or _user()
        when = at or datetime.now(timezone.utc).isoformat(timespec="seconds")
        entries = self.manifest.update(chosen, lambda e: e.with_review(decision, by=who, at=when))
        for frame, entry in entries.items():
            self.frames[frame] = _with_decision(self.frames[frame], entry)
        self._save_qc_json(chosen)
        return chosen

    def _save_qc_json(self, frames: tuple[int, ...]) -> None:
        """The decisions in QC's qc.json: each frame's ``flagged`` and ``decision``, the list and the savings."""
        if self.qc_json is None or not self.qc_json.is_file():
            return
        doc = _read_qc_json(self.qc_json)
        records = [r for r in doc.get("frames", []) if isinstance(r, dict)]
        for record in records:
            review = self.frames.get(record.get("frame"))  # type: ignore[arg-type]
            if review is None or review.frame not in frames:
                continue
            if review.decision is not None:
                record["decision"] = {k: review.decision[k] for k in ("decision", "by", "at")}
            else:
                record.pop("decision", None)
            record["flagged"] = review.status in ("rerender", "held")
        listed = [int(r["frame"]) for r in records if r.get("flagged")]
        doc["rerender"] = format_frame_range(listed)
        doc["rerender_nuke"] = format_frame_range(listed, style="nuke")
        doc["rerender_frames"] = sorted(listed)
        old: dict[str, Any] = _mapping(doc.get("savings"))
        doc["savings"] = savings_of([(str(r.get("status")), bool(r.get("flagged"))) for r in records],
                                    rendered=int(old.get("frames_rendered", len(self.rendered()))),
                                    cost_per_frame_min=float(old.get("cost_per_frame_min", 30.0)))
        atomic_write_text(self.qc_json, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


def _with_decision(frame: ReviewFrame, entry: ManifestEntry) -> ReviewFrame:
    decision = entry.decision()
    status = _status(entry, frame.qc_flagged, decision)
    return replace(frame, status=status, decision=None if decision is None else dict(decision))


def _status(entry: ManifestEntry | None, qc_flagged: bool | None, decision: Mapping[str, Any] | None) -> Status:
    if entry is None:
        return "frame"
    if entry.status == "copied":
        return "rendered"
    if decision is not None:
        return "accepted" if decision["decision"] == "accept" else "rerender"
    if entry.status == "held" or entry.needs_render:
        return "held"
    if qc_flagged is None:
        return "unscored"
    return "rerender" if qc_flagged else "accepted"


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _read_qc_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"cannot read {path}: {err}; rerun `framefill qc PATTERN --report {path.parent}`") from None
    if not isinstance(doc, dict) or doc.get("format") != "framefill-qc":
        raise InputError(f"{path} is not a framefill qc.json; rerun `framefill qc PATTERN --report {path.parent}`")
    return doc


def _fps(pattern: FramePattern, frames: Iterable[int]) -> float:
    """The shot's rate from its first readable frame's header (``framefill/fps``, ``framesPerSecond``)."""
    for frame in list(frames)[:3]:
        try:
            header = probe_exr(pattern.path(frame)).parts[0].header
        except (ExrError, IndexError):
            continue
        value: Any = header.get("framefill/fps", header.get("framesPerSecond"))
        if value is not None and hasattr(value, "n") and hasattr(value, "d"):  # an OpenEXR Rational
            value = value.n / value.d if value.d else None
        rate = _number(value)
        if rate is not None and 0 < rate <= 1000:
            return rate
    return DEFAULT_FPS


def load_shot(pattern: str, *, truth: str | None = None, report_dir: str | Path | None = None,
              fps: float | None = None) -> ReviewShot:
    """The filled shot of ``pattern``: its frames on disk, its manifest and QC's report.

    ``report_dir``: the folder of ``framefill qc --report`` (default: ``qc_report/``
    beside the frames when it holds a qc.json). ``truth``: real renders of the frames.

    Raises:
        SequenceError: a pattern without a frame token.
        InputError: no frames and no manifest; a report folder without a framefill qc.json.
    """
    frames_pattern = FramePattern.parse(pattern)
    on_disk = frames_pattern.scan()
    manifest = Manifest(pattern)
    entries = manifest.entries()
    if not on_disk and not entries:
        raise InputError(f"no frames match {pattern} and no framefill manifest is beside it; check the path and the "
                         "padding (#)")
    if truth is not None:
        FramePattern.parse(truth)
    folder = Path(report_dir) if report_dir is not None else frames_pattern.folder / REPORT_SUBDIR
    qc_path: Path | None = folder / "qc.json"
    if report_dir is not None and not folder.joinpath("qc.json").is_file():
        raise InputError(f"no qc.json in {folder}; run `framefill qc {pattern} --report {folder}` first, or leave "
                         "out --report")
    qc_doc = _read_qc_json(folder / "qc.json") if qc_path is not None and qc_path.is_file() else None
    if qc_doc is None:
        qc_path = None
    records = {r["frame"]: r for r in (qc_doc or {}).get("frames", []) if isinstance(r, dict) and "frame" in r}
    frames: dict[int, ReviewFrame] = {}
    for frame in sorted(set(on_disk) | set(entries)):
        frames[frame] = _review_frame(frame, entries.get(frame), records.get(frame), frame in on_disk)
    color = ColorSetup()
    for entry in entries.values():
        recorded = entry.recipe.get("color")
        if isinstance(recorded, (list, tuple)) and len(recorded) == 3 and all(isinstance(c, str) for c in recorded):
            color = ColorSetup(*recorded)
            break
    threshold = _number((qc_doc or {}).get("threshold_db"))
    return ReviewShot(pattern, frames, manifest=manifest if entries else None, qc_json=qc_path,
                      report_dir=folder if qc_path is not None else None, truth=truth,
                      fps=fps if fps is not None else _fps(frames_pattern, on_disk), color=color,
                      job=manifest.job() if entries else {}, threshold_db=threshold)


def _review_frame(frame: int, entry: ManifestEntry | None, record: Mapping[str, Any] | None,
                  exists: bool) -> ReviewFrame:
    """A frame from its manifest entry (QC's cached score and verdict, a person's decision) and its qc.json record."""
    if entry is None:
        return ReviewFrame(frame, "frame", exists)
    cached = entry.qc or {}
    verdict = _mapping(cached.get("verdict"))
    rec = record or {}
    qc_flagged: bool | None = None
    if entry.status == "held" or entry.needs_render:
        qc_flagged = True
    elif isinstance(verdict.get("flagged"), bool):
        qc_flagged = verdict["flagged"]
    elif isinstance(rec.get("flagged"), bool) and "decision" not in rec:
        qc_flagged = rec["flagged"]
    decision = entry.decision()
    predicted = _number(rec.get("predicted_psnr_db", verdict.get("predicted_psnr_db",
                                                                 cached.get("predicted_psnr_db"))))
    features = _mapping(cached.get("aggregates"))
    checks = rec.get("keyframe_checks", verdict.get("keyframe_checks", ()))
    return ReviewFrame(
        frame, _status(entry, qc_flagged, decision), exists, qc_flagged=qc_flagged, predicted_psnr_db=predicted,
        psnr_db=_number(rec.get("psnr_db", cached.get("psnr_db"))),
        reason=str(rec.get("reason", verdict.get("reason", entry.reason or ""))),
        basis=str(rec.get("basis", verdict.get("basis", ""))),
        decision=None if decision is None else dict(decision),
        features={str(k): v for k, v in features.items() if _number(v) is not None},
        keyframe_checks=tuple(int(c) for c in checks if isinstance(c, int)) if isinstance(checks, list) else (),
    )
