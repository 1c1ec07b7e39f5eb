"""QC of a filled shot: per-frame risk, error heatmaps, the re-render list and the report.

For every filled frame of an output sequence (from its ``framefill.manifest.json``):

1. the feature maps: the sidecar written at fill time, or, for frames filled by
   an older framefill, recomputed from the two rendered sources with the model
   the manifest names (CPU is fine: QC runs on farm workers without GPUs);
2. the calibration turns them into a risk map (``ff_risk.Y``), a predicted
   PSNR and a risk ``P(PSNR < threshold)``; the operating point decides whether
   the frame goes on the re-render list;
3. with ``truth`` (real renders of the same frames), the true squared-error map
   (``ff_err.Y``), PSNR and SSIM as well;
4. the scores go into the frame's manifest entry (``qc``), keyed on the
   calibration, the frame's file hash and the truth, so a rerun or a retried
   farm chunk skips frames already scored.

Held frames (a cut or the range's edge) are on the re-render list without a
score. With ``report_dir``, heatmap EXRs (beauty R,G,B plus ``ff_risk.Y`` and,
with truth, ``ff_err.Y``), false-colour PNGs, ``report.html`` and ``qc.json``
are written; a report run over frames already scored only reads the cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framefill._version import __version__
from framefill.errors import CancelledError, ExrError, InputError
from framefill.events import Event, Reporter, never_cancelled, null_reporter
from framefill.frames import FramePattern, atomic_write_text, format_frame_range, probe_exr, read_exr
from framefill.frames.channels import find_beauty
from framefill.frames.exr import ExrImage, ExrPart
from framefill.pipeline.calibration import Calibration, load_calibration
from framefill.pipeline.manifest import Manifest
from framefill.pipeline.qc_features import gap_context

__all__ = ["QC_VERSION", "DEFAULT_COST_PER_FRAME_MIN", "FrameQc", "QcResult", "qc_sequence", "beauty_rgb",
           "heatmap_pattern"]

# Part of every cached score's key: bump when scoring changes meaning.
QC_VERSION = 1
# Farm minutes one real render of a frame costs, for the savings line; a mid-size
# feature-animation frame. Override with --cost-per-frame.
DEFAULT_COST_PER_FRAME_MIN = 30.0
_HEATMAP_ATTR = "framefill/qc"


@dataclass(frozen=True)
class FrameQc:
    """QC of one frame of the filled range."""

    frame: int
    status: str  # filled | held
    flagged: bool
    reason: str = ""
    predicted_psnr_db: float | None = None
    risk: float | None = None  # P(true PSNR < threshold)
    psnr_db: float | None = None  # true, when a real render was given
    ssim: float | None = None
    aggregates: dict[str, float] = field(default_factory=dict)
    heatmap: str | None = None
    source: str = ""  # cached | sidecar | recomputed | held

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"frame": self.frame, "status": self.status, "flagged": self.flagged}
        for key in ("reason", "predicted_psnr_db", "risk", "psnr_db", "ssim", "heatmap", "source"):
            value = getattr(self, key)
            if value not in (None, ""):
                out[key] = round(value, 4) if isinstance(value, float) else value
        return out


@dataclass(frozen=True)
class QcResult:
    """What a qc run found."""

    pattern: str
    threshold_db: float
    calibration_id: str
    calibration_source: str
    margin_db: float
    frames: tuple[FrameQc, ...]
    rendered: tuple[int, ...]
    truth: str | None
    cost_per_frame_min: float
    report_html: str | None = None
    qc_json: str | None = None

    @property
    def rerender(self) -> tuple[int, ...]:
        return tuple(f.frame for f in self.frames if f.flagged)

    def below_threshold(self) -> tuple[int, ...]:
        """Frames whose TRUE PSNR is below the threshold (only with truth)."""
        return tuple(f.frame for f in self.frames if f.psnr_db is not None and f.psnr_db < self.threshold_db)

    def recall(self) -> float | None:
        """Share of truly-bad frames on the re-render list (None without truth or bad frames)."""
        bad = self.below_threshold()
        if not bad:
            return None
        flagged = set(self.rerender)
        return sum(1 for f in bad if f in flagged) / len(bad)

    def savings(self) -> dict[str, Any]:
        filled = sum(1 for f in self.frames if f.status == "filled")
        held = sum(1 for f in self.frames if f.status == "held")
        rerender = len(self.rerender)
        not_rendered = filled + held - rerender
        total = len(self.rendered) + filled + held
        return {
            "frames_total": total,
            "frames_rendered": len(self.rendered),
            "frames_filled": filled,
            "frames_held": held,
            "frames_rerender": rerender,
            "frames_never_rendered": not_rendered,
            "render_fraction_saved": round(not_rendered / total, 4) if total else 0.0,
            "cost_per_frame_min": self.cost_per_frame_min,
            "render_minutes_saved": round(not_rendered * self.cost_per_frame_min, 2),
        }

    def to_json(self) -> dict[str, Any]:
        recall = self.recall()
        doc: dict[str, Any] = {
            "format": "framefill-qc",
            "version": QC_VERSION,
            "framefill_version": __version__,
            "pattern": self.pattern,
            "threshold_db": self.threshold_db,
            "calibration": {"id": self.calibration_id, "source": self.calibration_source, "margin_db": self.margin_db},
            "rerender": format_frame_range(self.rerender),
            "rerender_nuke": format_frame_range(self.rerender, style="nuke"),
            "rerender_frames": list(self.rerender),
            "savings": self.savings(),
            "frames": [f.to_json() for f in self.frames],
        }
        if self.truth is not None:
            doc["truth"] = self.truth
            doc["true_below_threshold"] = format_frame_range(self.below_threshold())
            doc["recall"] = None if recall is None else round(recall, 4)
        if self.report_html:
            doc["report"] = self.report_html
        if self.qc_json:
            doc["qc_json"] = self.qc_json
        return doc


# ---------------------------------------------------------------------------------------
# Frames and maps
# ---------------------------------------------------------------------------------------


def beauty_rgb(image: ExrImage) -> tuple[np.ndarray, ExrPart]:
    """The scene-linear beauty of an EXR (first part with R,G,B) as H,W,3 float32, and its part.

    Raises:
        ExrError: no R,G,B channels.
    """
    for part in image.parts:
        rgb = find_beauty(part.channels.keys())
        if rgb is not None:
            return np.stack([part.channels[c].astype(np.float32) for c in rgb], axis=-1), part
    raise ExrError(f"{image.path or 'frame'} has no R,G,B beauty to score; QC needs a beauty/rgba layer")


def heatmap_pattern(pattern: str, report_dir: str | Path) -> FramePattern:
    """``DIR/heatmaps/<frames' file name>``: where the heatmap EXRs of a sequence go."""
    name = Path(FramePattern.parse(pattern).as_hashes()).name
    return FramePattern.parse(str(Path(report_dir) / "heatmaps" / name))


def _display(rgb: np.ndarray) -> np.ndarray:
    from framefill.ops.metrics import display_proxy

    return display_proxy(rgb)


def _resize(array: np.ndarray, rows: int, cols: int) -> np.ndarray:
    import cv2

    if array.shape[:2] == (rows, cols):
        return np.asarray(array, dtype=np.float32)
    return cv2.resize(np.ascontiguousarray(array, dtype=np.float32), (cols, rows), interpolation=cv2.INTER_LINEAR)


class _Scorer:
    """Per-run state: the calibration, the manifest, lazily loaded models for recomputation."""

    def __init__(self, pattern: str, calibration: Calibration, *, truth: str | None, device: str,
                 report: Reporter) -> None:
        self.pattern = pattern
        self.cal = calibration
        self.manifest = Manifest(pattern)
        self.job = self.manifest.job()
        self.truth = FramePattern.parse(truth) if truth else None
        self.device = device
        self.report = report
        self._models: dict[tuple[str, float], Any] = {}

    def cache_key(self, entries: dict[int, dict[str, Any]], frame: int) -> dict[str, Any]:
        """What a cached score depends on: calibration, this frame and its neighbours' files, the truth."""
        from framefill.pipeline.qc_features import neighbour_frames

        neighbours = [None if f is None else entries[f].get("file_sha256") for f in neighbour_frames(entries, frame)]
        return {"qc_version": QC_VERSION, "calibration": self.cal.id, "file_sha256": entries[frame].get("file_sha256"),
                "neighbours": neighbours, "truth": None if self.truth is None else str(self.truth)}

    # -- feature maps --------------------------------------------------------------------
    def maps(self, frame: int, entry: dict[str, Any], window: tuple[int, int, int, int],
             ) -> tuple[dict[str, np.ndarray], str]:
        """The frame's feature maps over ``window`` (the beauty's data window), and where they came from."""
        from framefill.pipeline.qc_features import FeatureSidecar, read_feature_sidecar

        record = entry.get("qc_features")
        if isinstance(record, dict) and record.get("path"):
            sidecar = read_feature_sidecar(self.manifest.folder / str(record["path"]))
            if sidecar is not None:
                return sidecar.crop(window), "sidecar"
        maps, canvas = self._recompute(frame, entry)
        return FeatureSidecar(maps, canvas).crop(window), "recomputed"

    def _recompute(self, frame: int, entry: dict[str, Any]) -> tuple[dict[str, np.ndarray], Any]:
        """Features of a frame filled without a sidecar: rerun the manifest's model on its sources."""
        from framefill.color import ColorSetup
        from framefill.models.loading import load_interpolator
        from framefill.pipeline.fill import FillOptions, interpolate_exr

        recipe = entry.get("recipe") or {}
        sources = sorted(int(s) for s in (recipe.get("sources") or {}))
        input_pattern = self.job.get("input")
        if recipe.get("kind") != "fill" or len(sources) != 2 or not input_pattern:
            raise InputError(f"frame {frame} of {self.pattern}: its manifest entry does not say what it was filled "
                             "from; refill it with `framefill interpolate`")
        model = str(recipe.get("model", ""))
        scale = float(self.job.get("rife_scale") or 1.0)
        key = (model, scale)
        if key not in self._models:
            loaded = load_interpolator(model, device=self.device, scale=scale)
            if recipe.get("model_sha256") and loaded.sha256 and loaded.sha256 != recipe["model_sha256"]:
                raise InputError(f"frame {frame} was filled with other {model} weights than the cached ones; "
                                 "refill it (its QC features are recomputed with the model that made it)")
            self._models[key] = loaded
        if recipe.get("mode") == "recursive" and sources[1] - sources[0] > 2:
            self.report(Event("warning", stage="qc", frame=frame, message=(
                f"frame {frame}: QC features recomputed from the direct pair {sources[0]}-{sources[1]}; "
                "the recursive fill's own motion was not kept (refill to get exact features)")))
        src = FramePattern.parse(input_pattern)
        img0, img1 = (read_exr(src.path(s)) for s in sources)
        color = ColorSetup(*recipe["color"]) if recipe.get("color") else ColorSetup()
        options = FillOptions(model_id=model, color=color, device=self.device, detect_cuts=False, qc_features=True)
        t = float(recipe.get("t", (frame - sources[0]) / (sources[1] - sources[0])))
        _, facts = interpolate_exr(img0, img1, t, self._models[key].model, options=options)
        return facts["qc_features"], facts["canvas"]

    # -- truth -----------------------------------------------------------------------------
    def truth_error(self, frame: int, filled_rgb: np.ndarray) -> tuple[np.ndarray, float, float] | None:
        """Full-resolution squared-error map, PSNR and SSIM against the real render, or None."""
        from framefill.ops.metrics import psnr, squared_error_map, ssim

        if self.truth is None:
            return None
        path = Path(self.truth.path(frame))
        if not path.is_file():
            self.report(Event("warning", stage="qc", frame=frame,
                              message=f"no real render of frame {frame} at {path}; its true error is left out"))
            return None
        real, _ = beauty_rgb(read_exr(path))
        if real.shape != filled_rgb.shape:
            raise InputError(f"the real render {path} is {real.shape[1]}x{real.shape[0]} but the filled frame is "
                             f"{filled_rgb.shape[1]}x{filled_rgb.shape[0]}; --truth must be the same shot")
        a, b = _display(filled_rgb), _display(real)
        return squared_error_map(a, b), psnr(a, b), ssim(a, b)


# ---------------------------------------------------------------------------------------
# Heatmaps
# ---------------------------------------------------------------------------------------


def _write_heatmaps(dest: FramePattern, frame: int, part: ExrPart, rgb: np.ndarray, risk: np.ndarray,
                    err: np.ndarray | None, key: dict[str, Any]) -> str:
    """The heatmap EXR (beauty + ff_risk.Y [+ ff_err.Y]) and false-colour PNGs of one frame."""
    from framefill.frames import write_exr, write_image
    from framefill.frames.exr import part_from_arrays
    from framefill.ops.errormaps import error_to_unit, overlay

    rows, cols = rgb.shape[:2]
    risk_full = np.clip(_resize(risk, rows, cols), 0.0, 1.0)
    channels = {"R": rgb[..., 0].astype(np.float16), "G": rgb[..., 1].astype(np.float16),
                "B": rgb[..., 2].astype(np.float16), "ff_risk.Y": risk_full.astype(np.float32)}
    if err is not None:
        channels["ff_err.Y"] = err.astype(np.float32)
    x0, y0, _, _ = part.data_window
    out = part_from_arrays(channels, origin=(x0, y0), display_window=part.display_window, compression="zip",
                           attributes={_HEATMAP_ATTR: json.dumps(key, sort_keys=True)})
    path = Path(dest.path(frame))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_exr(path, ExrImage(parts=[out]))
    display = _display(rgb)
    png = path.parent / "png"
    write_image(png / f"{path.stem}.risk.png", overlay(display, risk_full))
    if err is not None:
        write_image(png / f"{path.stem}.err.png", overlay(display, error_to_unit(err)))
    return str(path)


def _heatmap_current(dest: FramePattern, frame: int, key: dict[str, Any]) -> bool:
    path = Path(dest.path(frame))
    if not path.is_file():
        return False
    try:
        header = probe_exr(path).parts[0].header
    except ExrError:
        return False
    return str(header.get(_HEATMAP_ATTR, "")) == json.dumps(key, sort_keys=True)


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


def _filled_from_manifest(entries: dict[int, dict[str, Any]]) -> tuple[int, ...]:
    return tuple(f for f, e in entries.items() if e.get("status") in ("filled", "held"))


def qc_sequence(
    pattern: str,
    *,
    filled: Sequence[int] | None = None,
    frames: Sequence[int] | None = None,
    truth: str | None = None,
    report_dir: str | Path | None = None,
    threshold_db: float | None = None,
    calibration: str | Path | Calibration | None = None,
    cost_per_frame_min: float = DEFAULT_COST_PER_FRAME_MIN,
    device: str = "cpu",
    report: Reporter = null_reporter,
    cancelled: Callable[[], bool] = never_cancelled,
) -> QcResult:
    """Score the filled frames of ``pattern`` and list the frames that still need a real render.

    Args:
        pattern: the output sequence ``framefill interpolate`` wrote (its manifest sits beside it).
        filled: the frames that were filled (default: every filled or held frame of the manifest).
        frames: score only these of them (a farm chunk); default all.
        truth: a pattern of real renders of the same frames, for the true error.
        report_dir: where heatmaps, ``report.html`` and ``qc.json`` go (None: scores only).
        threshold_db: PSNR below which a frame must be re-rendered (default: the calibration's, 30 dB).
        calibration: a calibration file or object (default: the shipped one).
        cost_per_frame_min: farm minutes per real render, for the savings.
        device: where the model runs if features must be recomputed.
    Raises:
        InputError: no manifest, a listed frame unknown to it, a bad calibration or truth.
        CancelledError: ``cancelled()`` became true; frames scored so far are kept.
    """
    manifest = Manifest(pattern)
    entries = manifest.entries()
    if not entries:
        raise InputError(f"no framefill manifest entries beside {pattern} ({manifest.path}); "
                         "qc scores frames written by `framefill interpolate`")
    cal = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
    thr = cal.threshold_db if threshold_db is None else float(threshold_db)
    if not np.isfinite(thr):
        raise InputError(f"--threshold must be a number of dB, got {threshold_db!r}")
    scorer = _Scorer(pattern, cal, truth=truth, device=device, report=report)
    filled_frames = tuple(sorted(set(filled))) if filled is not None else _filled_from_manifest(entries)
    work = tuple(f for f in filled_frames if frames is None or f in set(frames))
    out_pattern = FramePattern.parse(pattern)
    heat = heatmap_pattern(pattern, report_dir) if report_dir is not None else None
    report(Event("start", stage="qc", total=len(work),
                 message=f"scoring {len(work)} filled frame(s) of {pattern} (threshold {thr:g} dB)"))
    results: list[FrameQc] = []
    touched = False
    for index, frame in enumerate(work):
        if cancelled():
            raise CancelledError(f"cancelled after {index} of {len(work)} frames; rerun to resume")
        entry = entries.get(frame)
        if entry is None:
            raise InputError(f"frame {frame} is listed as filled but {manifest.path} has no entry for it; "
                             "check --filled, or fill it with `framefill interpolate` first")
        status = entry.get("status")
        if status == "copied":
            report(Event("warning", stage="qc", frame=frame,
                         message=f"frame {frame} is a real render (copied), not filled; it is not scored"))
            continue
        if status == "held" or entry.get("needs_render"):
            results.append(FrameQc(frame, "held", True, entry.get("reason", "held: needs a real render"),
                                   source="held"))
            report(Event("frame", stage="qc", frame=frame, done=index + 1, total=len(work),
                         data={"status": "held", "flagged": True}))
            continue
        key = scorer.cache_key(entries, frame)
        cached = entry.get("qc") if isinstance(entry.get("qc"), dict) else None
        valid = cached is not None and cached.get("key") == key
        need_heatmap = heat is not None and not _heatmap_current(heat, frame, key)
        qc: dict[str, Any] = cached if valid and cached is not None else {}
        source = "cached"
        if not valid or need_heatmap:
            rgb, part = beauty_rgb(read_exr(out_pattern.path(frame)))
            maps, maps_source = scorer.maps(frame, entry, part.data_window)
            pred = cal.predict(maps, gap_context(entries, frame, manifest.folder))
            truth_err = scorer.truth_error(frame, rgb)
            if not valid:
                qc = {"key": key, "predicted_psnr_db": round(pred.predicted_psnr_db, 4),
                      "aggregates": {k: round(v, 6) for k, v in pred.aggregates.items()}}
                if truth_err is not None:
                    qc.update(psnr_db=round(truth_err[1], 4), ssim=round(truth_err[2], 5))
                manifest.update(frame, qc=qc)
                touched = True
                source = maps_source
            if heat is not None:
                _write_heatmaps(heat, frame, part, rgb, pred.risk_map, None if truth_err is None else truth_err[0], key)
        predicted = float(qc["predicted_psnr_db"])
        flagged = cal.flagged(predicted, thr)
        fq = FrameQc(
            frame, "filled", flagged,
            reason=f"predicted {predicted:.1f} dB < {thr:g} + {cal.margin_db:.1f} dB margin" if flagged else "",
            predicted_psnr_db=predicted, risk=cal.risk(predicted, thr),
            psnr_db=qc.get("psnr_db"), ssim=qc.get("ssim"), aggregates=dict(qc.get("aggregates", {})),
            heatmap=None if heat is None else heat.path(frame), source=source,
        )
        results.append(fq)
        report(Event("frame", stage="qc", frame=frame, done=index + 1, total=len(work), data={
            k: v for k, v in fq.to_json().items() if k in ("status", "flagged", "risk", "predicted_psnr_db", "psnr_db")}))
    if touched:
        manifest.publish()
    rendered = tuple(f for f, e in manifest.entries().items() if e.get("status") == "copied")
    result = QcResult(pattern=str(pattern), threshold_db=thr, calibration_id=cal.id,
                      calibration_source=cal.source or "default", margin_db=cal.margin_db, frames=tuple(results),
                      rendered=rendered, truth=truth, cost_per_frame_min=float(cost_per_frame_min))
    if report_dir is not None:
        result = _write_report(result, Path(report_dir), cal)
    report(Event("done", stage="qc", message=(
        f"{len(result.rerender)} of {len(results)} filled frame(s) need a real render: "
        f"{format_frame_range(result.rerender) or 'none'}")))
    return result


def _write_report(result: QcResult, folder: Path, cal: Calibration) -> QcResult:
    from dataclasses import replace

    from framefill.pipeline.report import render_report

    folder.mkdir(parents=True, exist_ok=True)
    html_path = folder / "report.html"
    json_path = folder / "qc.json"
    result = replace(result, report_html=str(html_path), qc_json=str(json_path))
    atomic_write_text(json_path, json.dumps(result.to_json(), indent=1, sort_keys=True) + "\n")
    atomic_write_text(html_path, render_report(result, calibration=cal))
    return result

