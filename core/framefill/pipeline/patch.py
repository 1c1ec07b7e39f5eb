"""``framefill patch``: merge region re-renders into filled frames.

A region render of a frame is either

* an EXR whose data window is the region inside the display window (the EXR
  convention for a crop-window or bbox render), or
* a full-size frame (data window = display window; a render-border render
  leaves black outside), whose regions come from a regions file (``qc.json`` or
  ``regions.json``) or, by default, from the regions QC recorded in the manifest.

For every part and channel, the region's pixels come from the render, a band of
``feather_px`` inside each region side blends render and fill linearly (on the
linear values; ID channels and integer channels switch hard at the band's
middle), and pixels outside keep the fill bit for bit. A region outside the
fill's data window grows the data window. Frames are written atomically and
recorded in the manifest (``patch``: the regions, the render file and its
sha256); a rerun with the same render skips the frame.

A frame is the ORIGINAL fill with its kept patches merged in, never a blend of
renders over renders: a new render whose regions meet an earlier patch's
regions (the same region rendered again, or a whole frame) replaces that patch,
and is merged into the original fill there; patches of other regions (one
render per box) are kept as they are. The first patch of a frame keeps the
original fill's file in ``.framefill/prepatch/`` beside the frames for that.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from framefill.atomic import atomic_write_bytes, file_sha256
from framefill.errors import InputError
from framefill.events import Reporter, never_cancelled, null_reporter
from framefill.frames import FramePattern, format_frame_range, read_exr, write_exr
from framefill.frames.channels import channel_kind
from framefill.frames.exr import ExrImage, ExrPart, pixel_sha256
from framefill.ops.regions import Box, Regions, feather_weights, intersect
from framefill.pipeline.engine import Made, run_frames
from framefill.pipeline.manifest import Manifest, ManifestEntry
from framefill.requests import PatchRequest

__all__ = ["PatchedFrame", "PatchResult", "patch_sequence", "patch_image", "read_regions_file", "PATCH_ATTR",
           "PREPATCH_FOLDER"]

PATCH_ATTR = "framefill/patch"
# Beside the frames: the original fill of each patched frame (what a replacing patch merges into).
PREPATCH_FOLDER = Path(".framefill") / "prepatch"


@dataclass(frozen=True)
class PatchedFrame:
    frame: int
    status: str  # "patched" or "skipped" (already patched with this render)
    boxes: tuple[Box, ...]
    whole_frame: bool
    render: str
    pixels: int  # pixels taken from the render (the regions' area)
    frame_pixels: int
    seconds: float = 0.0
    replaced: tuple[str, ...] = ()  # earlier renders of the same regions this render replaced

    def to_json(self) -> dict[str, Any]:
        out = {"frame": self.frame, "status": self.status, "boxes": [list(b) for b in self.boxes],
               "whole_frame": self.whole_frame, "render": self.render, "pixels": self.pixels,
               "frame_pixels": self.frame_pixels}
        if self.replaced:
            out["replaced"] = list(self.replaced)
        return out


@dataclass(frozen=True)
class PatchResult:
    pattern: str
    renders: str
    frames: tuple[PatchedFrame, ...]

    def to_json(self) -> dict[str, Any]:
        pixels = sum(f.pixels for f in self.frames)
        full = sum(f.frame_pixels for f in self.frames)
        return {"pattern": self.pattern, "renders": self.renders,
                "patched": format_frame_range([f.frame for f in self.frames if f.status == "patched"]),
                "skipped": format_frame_range([f.frame for f in self.frames if f.status == "skipped"]),
                "region_pixels": pixels, "frame_pixels": full,
                "pixel_share": round(pixels / full, 4) if full else 0.0,
                "frames": [f.to_json() for f in self.frames]}


# ---------------------------------------------------------------------------------------
# Regions
# ---------------------------------------------------------------------------------------


def read_regions_file(path: Path) -> dict[int, Regions]:
    """Frame -> regions from a ``qc.json`` (``frames[].regions``) or a ``regions.json`` (``frames: {frame: ...}``).

    Raises:
        InputError: not readable, or neither form.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the regions file {path}: {err}; pass the qc.json or regions.json "
                         "`framefill qc --report` wrote") from None
    frames = doc.get("frames") if isinstance(doc, Mapping) else None
    out: dict[int, Regions] = {}
    if isinstance(frames, list):  # qc.json
        for row in frames:
            if isinstance(row, Mapping) and isinstance(row.get("frame"), int):
                regions = Regions.from_json(row.get("regions"))
                if regions is not None:
                    out[int(row["frame"])] = regions
    elif isinstance(frames, Mapping):  # regions.json
        for key, value in frames.items():
            regions = Regions.from_json(value)
            if regions is not None and str(key).lstrip("-").isdigit():
                out[int(key)] = regions
    else:
        raise InputError(f"{path} is neither a qc.json nor a regions.json (no \"frames\"); pass the file "
                         "`framefill qc --report` wrote")
    return out


def _recorded_regions(entry: ManifestEntry) -> Regions | None:
    verdict = (entry.qc or {}).get("verdict")
    return Regions.from_json(verdict.get("regions")) if isinstance(verdict, Mapping) else None


# ---------------------------------------------------------------------------------------
# Pixels
# ---------------------------------------------------------------------------------------


def _check_match(fill: ExrImage, render: ExrImage, render_path: Path, fill_path: Path) -> None:
    """One line when the render is not a render of the filled frame's layout."""
    fix = "render the region with the shot's own output settings (same layers/passes and resolution)"
    if len(fill.parts) != len(render.parts) or [p.name for p in fill.parts] != [p.name for p in render.parts]:
        raise InputError(f"{render_path} has parts {[p.name for p in render.parts]} but {fill_path} has "
                         f"{[p.name for p in fill.parts]}; {fix}")
    for a, b in zip(fill.parts, render.parts, strict=True):
        if a.display_window != b.display_window:
            raise InputError(f"{render_path} has display window {b.display_window} but {fill_path} has "
                             f"{a.display_window} (part {a.name or 0}); {fix}")
        if sorted(a.channels) != sorted(b.channels):
            missing = sorted(set(a.channels) ^ set(b.channels))
            raise InputError(f"{render_path} and {fill_path} differ in channels {missing} (part {a.name or 0}); "
                             f"{fix}")
        if any(s != (1, 1) for s in (*a.sampling.values(), *b.sampling.values())):
            raise InputError(f"{render_path}: subsampled channels cannot be patched (part {a.name or 0}); "
                             "render full-resolution channels")
        if b.data_window[2] < b.data_window[0] or b.data_window[3] < b.data_window[1]:
            raise InputError(f"{render_path} has an empty data window (part {b.name or 0}); render the region again")


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _placed(arr: np.ndarray, src: Box, dest: Box) -> np.ndarray:
    """``arr`` (over ``src``) on the ``dest`` window, zeros where ``src`` does not reach (the EXR convention)."""
    if src == dest:
        return arr
    out = np.zeros((dest[3] - dest[1] + 1, dest[2] - dest[0] + 1), arr.dtype)
    inner = intersect(src, dest)
    if inner is not None:
        out[inner[1] - dest[1]:inner[3] - dest[1] + 1, inner[0] - dest[0]:inner[2] - dest[0] + 1] = \
            arr[inner[1] - src[1]:inner[3] - src[1] + 1, inner[0] - src[0]:inner[2] - src[0] + 1]
    return out


def _box_mask(boxes: tuple[Box, ...], window: Box) -> np.ndarray:
    """1 inside the boxes, 0 outside, over ``window``: h,w float32."""
    out = np.zeros((window[3] - window[1] + 1, window[2] - window[0] + 1), np.float32)
    for b in boxes:
        inner = intersect(b, window)
        if inner is not None:
            out[inner[1] - window[1]:inner[3] - window[1] + 1, inner[0] - window[0]:inner[2] - window[0] + 1] = 1.0
    return out


def _patch_part(fill: ExrPart, render: ExrPart, boxes: tuple[Box, ...], feather_px: int, *, hard: bool = False,
                ) -> ExrPart:
    """``fill`` with ``render`` merged in over ``boxes``; ``hard``: copied inside the boxes, no seam band."""
    frame = fill.display_window
    clipped = tuple(c for c in (intersect(b, render.data_window) for b in boxes) if c is not None)
    window = fill.data_window
    for c in clipped:
        window = _union(window, c)
    weight = _box_mask(clipped, window) if hard else feather_weights(clipped, window, frame=frame,
                                                                      feather_px=feather_px)
    switch = weight >= 0.5
    some = weight > 0.0
    full = weight >= 1.0
    channels = {}
    for name, arr in fill.channels.items():
        a = _placed(arr, fill.data_window, window)
        b = _placed(render.channels[name], render.data_window, window).astype(arr.dtype)
        if channel_kind(name) == "id" or arr.dtype.kind in "ui":  # IDs switch, never blend
            channels[name] = np.where(switch, b, a)
            continue
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        blended = (a32 * (1.0 - weight) + b32 * weight).astype(arr.dtype)
        channels[name] = np.where(full, b, np.where(some, blended, a))
    header = dict(fill.header)
    if window != fill.data_window:
        header["dataWindow"] = (np.array(window[:2], np.int32), np.array(window[2:], np.int32))
    return ExrPart(name=fill.name, channels=channels, header=header, sampling=dict(fill.sampling),
                   linear=set(fill.linear), channel_types=dict(fill.channel_types))


def _used_regions(render: ExrImage, regions: Regions | None) -> Regions:
    """The regions a render patches: ``regions``, or (None) its first part's data window."""
    if regions is not None:
        return regions
    first = render.parts[0]
    return Regions(first.display_window, (first.data_window,))


def _meet(a: Regions, b: Regions) -> bool:
    """True when two patches touch the same pixels (a whole frame meets everything)."""
    return a.whole_frame or b.whole_frame or any(intersect(x, y) is not None for x in a.boxes for y in b.boxes)


def patch_image(fill: ExrImage, render: ExrImage, regions: Regions | None, *, feather_px: int = 8,
                attributes: Mapping[str, Any] | None = None) -> tuple[ExrImage, Regions]:
    """``fill`` with the regions of ``render`` merged in (see the module docstring), and the regions used.

    ``regions`` None: each render part's data window is its region (a region render).
    """
    per_part: list[tuple[Box, ...]] = []
    used = _used_regions(render, regions)
    for part in render.parts:
        if regions is None:
            per_part.append((part.data_window,))
        elif regions.whole_frame:
            per_part.append((part.display_window,))
        else:
            per_part.append(regions.boxes)
    parts = [_patch_part(f, r, boxes, feather_px) for f, r, boxes in zip(fill.parts, render.parts, per_part,
                                                                           strict=True)]
    if attributes:
        parts = [replace(p, header={**p.header, **attributes}) for p in parts]
    return ExrImage(parts=parts), used


# ---------------------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------------------


def _is_region_render(image: ExrImage) -> bool:
    return any(p.data_window != p.display_window for p in image.parts)


class _PatchJob:
    stage = "patch"

    def __init__(self, request: PatchRequest, manifest: Manifest, entries: dict[int, ManifestEntry],
                 regions_file: dict[int, Regions] | None) -> None:
        self.request = request
        self.manifest = manifest
        self.entries = entries
        self.regions_file = regions_file
        self.out = FramePattern.parse(request.pattern)
        self.renders = FramePattern.parse(request.renders)

    def _record(self, frame: int) -> tuple[Path, str, list[Mapping[str, Any]]]:
        render = Path(self.renders.path(frame))
        patches = self.entries[frame].extra.get("patch", [])
        return render, file_sha256(render), patches if isinstance(patches, list) else []

    def _original(self, frame: int) -> Path:
        output = Path(self.out.path(frame))
        return output.parent / PREPATCH_FOLDER / output.name

    def skip(self, frame: int) -> Made[PatchedFrame] | None:
        entry = self.entries[frame]
        render, sha, patches = self._record(frame)
        output = Path(self.out.path(frame))
        if not patches or not output.is_file() or file_sha256(output) != entry.file_sha256:
            return None
        # any kept patch: a frame patched box by box (one render each) skips every one of them on a rerun
        same = [p for p in patches if isinstance(p, Mapping) and p.get("sha256") == sha
                and p.get("feather_px") == self.request.feather_px]
        regions = Regions.from_json(same[-1].get("regions")) if same else None
        if regions is None:
            return None
        done = PatchedFrame(frame, "skipped", regions.boxes, regions.whole_frame, str(render), regions.area_px,
                            regions.frame_px)
        return Made(frame, done, event={"status": "skipped"})

    def _base(self, frame: int, current: ExrImage, kept: list[Mapping[str, Any]], original_sha: str) -> ExrImage:
        """The original fill with the kept patches' pixels (taken from ``current``): what a replacing patch
        merges into.

        Raises:
            InputError: the original fill is not kept (patched by an older framefill) or was changed.
        """
        original = self._original(frame)
        if not original.is_file() or file_sha256(original) != original_sha:
            raise InputError(f"frame {frame} of {self.request.pattern} was patched before over the same region "
                             f"and its original fill is not kept at {original}; fill the frame again "
                             "(framefill interpolate) before patching it with a new render")
        base = read_exr(original)
        boxes = tuple(b for r in (Regions.from_json(p.get("regions")) for p in kept) if r is not None
                      for b in r.boxes)
        if not boxes:
            return base
        return ExrImage(parts=[_patch_part(b, c, boxes, 0, hard=True) for b, c in zip(base.parts, current.parts,
                                                                                       strict=True)])

    def _regions(self, frame: int, render: ExrImage, path: Path) -> Regions | None:
        if _is_region_render(render):
            return None
        if self.regions_file is not None:
            found = self.regions_file.get(frame)
            if found is None:
                raise InputError(f"{self.request.regions} has no regions for frame {frame}, and {path} is a "
                                 "full-size frame; pass the qc.json of this shot or render the frame's region "
                                 "with its data window")
            return found
        recorded = _recorded_regions(self.entries[frame])
        if recorded is None:
            raise InputError(f"{path} is a full-size frame and the manifest has no QC regions for frame {frame}; "
                             "run `framefill qc` first or pass --regions qc.json")
        return recorded

    def make(self, frame: int) -> Made[PatchedFrame]:
        entry = self.entries[frame]
        render_path, sha, patches = self._record(frame)
        output = Path(self.out.path(frame))
        fill = read_exr(output)
        render = read_exr(render_path)
        _check_match(fill, render, render_path, output)
        regions = self._regions(frame, render, render_path)
        used = _used_regions(render, regions)
        records = [p for p in patches if isinstance(p, Mapping)]
        original_sha = str(records[0].get("original_sha256") or records[0].get("patched_from_sha256")) \
            if records else entry.file_sha256
        if not records:  # the first patch: keep the original fill for a later render of the same region
            original = self._original(frame)
            if not original.is_file() or file_sha256(original) != entry.file_sha256:
                atomic_write_bytes(original, output.read_bytes())
        replaced = [p for p in records if _meet(Regions.from_json(p.get("regions")) or used, used)]
        kept = [p for p in records if p not in replaced]
        base = self._base(frame, fill, kept, original_sha) if replaced else fill
        record: dict[str, Any] = {"source": str(render_path), "sha256": sha, "feather_px": self.request.feather_px,
                                  "patched_from_sha256": entry.file_sha256, "original_sha256": original_sha,
                                  "regions": used.to_json()}
        if replaced:
            record["replaced"] = [{"source": p.get("source"), "sha256": p.get("sha256")} for p in replaced]
        image, _ = patch_image(base, render, regions, feather_px=self.request.feather_px)
        image = ExrImage(parts=[replace(p, header={**p.header, PATCH_ATTR: json.dumps(
            [*(q.get("regions") for q in kept), record["regions"]], sort_keys=True)}) for p in image.parts])
        write_exr(output, image)
        new_entry = replace(entry, file_sha256=file_sha256(output), pixel_sha256=pixel_sha256(image),
                            extra={**entry.extra, "patch": [*kept, record]})
        done = PatchedFrame(frame, "patched", used.boxes, used.whole_frame, str(render_path), used.area_px,
                            used.frame_px, replaced=tuple(str(p.get("source")) for p in replaced))
        return Made(frame, done, new_entry, event={"status": "patched", "pixels": used.area_px})


def patch_sequence(request: PatchRequest, *, report: Reporter = null_reporter,
                   cancelled: Callable[[], bool] = never_cancelled) -> PatchResult:
    """Merge the region renders of ``request.renders`` into the filled frames of ``request.pattern``.

    Raises:
        InputError: no manifest, a listed frame without a filled frame or a render, a render that does not
            match the frame (parts, channels, display window), or no regions for a full-size render.
        CancelledError: ``cancelled()`` became true; frames patched so far are kept.
    """
    manifest = Manifest(request.pattern)
    entries = manifest.entries()
    if not entries:
        raise InputError(f"no framefill manifest entries beside {request.pattern} ({manifest.path}); "
                         "patch merges region renders into frames written by `framefill interpolate`")
    renders = FramePattern.parse(request.renders)
    out = FramePattern.parse(request.pattern)
    if request.frames is None:
        frames = tuple(f for f, e in sorted(entries.items())
                       if e.status in ("filled", "held") and Path(renders.path(f)).is_file())
        if not frames:
            raise InputError(f"no region render of a filled frame of {request.pattern} at {request.renders}; "
                             "check --renders (or list the frames with --frames)")
    else:
        frames = request.frames
    for frame in frames:
        entry = entries.get(frame)
        if entry is None or entry.status not in ("filled", "held") or not Path(out.path(frame)).is_file():
            raise InputError(f"frame {frame} of {request.pattern} is not a filled frame on disk; patch merges "
                             "region renders into filled frames (check --frames)")
        if not Path(renders.path(frame)).is_file():
            raise InputError(f"no region render of frame {frame} at {renders.path(frame)}; render it or leave it "
                             "out of --frames")
    regions_file = read_regions_file(request.regions) if request.regions is not None else None
    job = _PatchJob(request, manifest, entries, regions_file)
    run = run_frames(frames, job, manifest=manifest, report=report, cancelled=cancelled,
                     start_message=f"patching {len(frames)} frame(s) of {request.pattern} with {request.renders}")
    manifest.publish(frames=frames)
    return PatchResult(request.pattern, request.renders, run.outcomes)
