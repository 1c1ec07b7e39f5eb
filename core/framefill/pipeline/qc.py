"""QC of a filled shot: per-frame risk, error heatmaps, the re-render list and the report.

For every filled frame of an output sequence (from its ``framefill.manifest.json``):

1. the feature maps: the sidecar written at fill time, or, where it is missing or
   unreadable (a frame filled by an older framefill), recomputed from the two
   rendered sources with the model the manifest names and rounded as a sidecar
   stores them (CPU is fine: QC runs on farm workers without GPUs). The same goes
   for the neighbours whose motion gives the frame its context, so a prediction
   never depends on what happens to be cached;
2. the calibration turns them into a risk map (``ff_risk.Y``), a predicted
   PSNR and a risk ``P(PSNR < threshold)``; the operating point
   (:meth:`Calibration.decide`) decides whether the frame goes on the re-render
   list, and fails closed: a NaN/Inf score, statistic, pixel or true PSNR lists it;
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
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from framefill._version import __version__
from framefill.atomic import atomic_write_text
from framefill.errors import ExrError, InputError
from framefill.events import Event, Reporter, never_cancelled, null_reporter
from framefill.frames import FramePattern, format_frame_range, probe_exr, read_exr
from framefill.frames.channels import find_beauty
from framefill.frames.exr import ExrImage, ExrPart
from framefill.ops.regions import Regions, propose_regions
from framefill.ops.resample import resize
from framefill.pipeline.calibration import (
    Basis,
    Calibration,
    CheckEvidence,
    FillEvidence,
    GapContext,
    flow_p99,
    load_calibration,
    residual_log,
)
from framefill.pipeline.engine import Made, run_frames
from framefill.pipeline.keyframe_check import CheckTriplet, check_schedule, checks_beside
from framefill.pipeline.manifest import Manifest, ManifestEntry
from framefill.pipeline.qc_features import (
    FeatureSidecar,
    as_stored,
    fill_gap,
    gap_context,
    read_feature_sidecar,
)
from framefill.requests import QcRequest
from framefill.runtime.memory import frame_budget

__all__ = ["QC_VERSION", "DEFAULT_COST_PER_FRAME_MIN", "FrameQc", "KeyframeCheckQc", "QcResult", "qc_sequence",
           "beauty_rgb", "heatmap_pattern", "savings_of"]

# Where a frame's score came from.
QcSource = Literal["cached", "sidecar", "recomputed", "held", "patched", ""]
# Part of every cached score's key: bump when scoring changes meaning.
QC_VERSION = 2
# Farm minutes one real render of a frame costs, for the savings line; a mid-size
# feature-animation frame. Override with --cost-per-frame.
DEFAULT_COST_PER_FRAME_MIN = 30.0
_HEATMAP_ATTR = "framefill/qc"


@dataclass(frozen=True)
class FrameQc:
    """QC of one frame of the filled range."""

    frame: int
    status: Literal["filled", "held"]
    flagged: bool
    reason: str = ""
    predicted_psnr_db: float | None = None
    risk: float | None = None  # P(true PSNR < threshold)
    psnr_db: float | None = None  # true, when a real render was given
    ssim: float | None = None
    aggregates: dict[str, float] = field(default_factory=dict)
    heatmap: str | None = None
    source: QcSource = ""
    seconds: float = 0.0
    basis: Basis | None = None  # what the prediction stands on (None: a held frame)
    interval_db: tuple[float, float] | None = None  # the prediction's interval at the confidence
    keyframe_checks: tuple[int, ...] = ()  # the rendered frames whose checks are the evidence
    decision: Mapping[str, Any] | None = None  # a person's decision (decision, by, at), which ``flagged`` follows
    regions: Regions | None = None  # where a real render is needed (shown for listed frames)

    def to_json(self) -> dict[str, Any]:
        """The frame's record in qc.json and ``--json``: standard JSON, so a NaN/Inf number is left out
        and named in ``not_finite`` (the reason says why the frame is listed)."""
        out: dict[str, Any] = {"frame": self.frame, "status": self.status, "flagged": self.flagged}
        not_finite = []
        for key in ("reason", "basis", "predicted_psnr_db", "risk", "psnr_db", "ssim", "heatmap", "source"):
            value = getattr(self, key)
            if isinstance(value, float) and not math.isfinite(value):
                not_finite.append(key)
            elif value not in (None, ""):
                out[key] = round(value, 4) if isinstance(value, float) else value
        if self.interval_db is not None:
            if all(math.isfinite(v) for v in self.interval_db):
                out["interval_db"] = [round(v, 2) for v in self.interval_db]
            else:
                not_finite.append("interval_db")
        if self.keyframe_checks:
            out["keyframe_checks"] = list(self.keyframe_checks)
        if self.decision is not None:
            out["decision"] = {k: self.decision[k] for k in ("decision", "by", "at")}
        if self.regions is not None and (self.flagged or self.source == "patched"):
            out["regions"] = self.regions.to_json()
        if not_finite:
            out["not_finite"] = not_finite
        return out


@dataclass(frozen=True)
class KeyframeCheckQc:
    """One keyframe check of the shot: ``frame`` filled from ``before`` and ``after``, measured against its render."""

    frame: int
    before: int
    after: int
    psnr_db: float | None  # None: the span crosses a cut (no check)
    features_psnr_db: float | None  # what the no-reference features predicted for the check

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"frame": self.frame, "before": self.before, "after": self.after}
        for key in ("psnr_db", "features_psnr_db"):
            value = getattr(self, key)
            out[key] = None if value is None or not math.isfinite(value) else round(value, 4)
        if self.psnr_db is None:
            out["cut"] = True
        return out


def savings_of(frames: Sequence[tuple[str, bool]], *, rendered: int, cost_per_frame_min: float) -> dict[str, Any]:
    """The savings line of a run: ``frames`` are the (status, flagged) of its filled and held frames."""
    filled = sum(1 for status, _ in frames if status == "filled")
    held = sum(1 for status, _ in frames if status == "held")
    rerender = sum(1 for _, flagged in frames if flagged)
    not_rendered = filled + held - rerender
    total = rendered + filled + held
    return {
        "frames_total": total,
        "frames_rendered": rendered,
        "frames_filled": filled,
        "frames_held": held,
        "frames_rerender": rerender,
        "frames_accepted": sum(1 for status, flagged in frames if status == "filled" and not flagged),
        "frames_never_rendered": not_rendered,
        "render_fraction_saved": round(not_rendered / total, 4) if total else 0.0,
        "cost_per_frame_min": cost_per_frame_min,
        "render_minutes_saved": round(not_rendered * cost_per_frame_min, 2),
    }


@dataclass(frozen=True)
class QcResult:
    """What a qc run found."""

    pattern: str
    threshold_db: float
    calibration_id: str
    calibration_source: str
    confidence: float
    frames: tuple[FrameQc, ...]
    rendered: tuple[int, ...]
    truth: str | None
    cost_per_frame_min: float
    report_html: str | None = None
    qc_json: str | None = None
    keyframe_checks: tuple[KeyframeCheckQc, ...] = ()
    check_allowance_db: float = 0.0  # a check below threshold_db minus this lists the fills beside it

    @property
    def rerender(self) -> tuple[int, ...]:
        return tuple(f.frame for f in self.frames if f.flagged)

    def below_threshold(self) -> tuple[int, ...]:
        """Frames whose TRUE PSNR is below the threshold or not finite (NaN/Inf pixels; only with truth)."""
        return tuple(f.frame for f in self.frames if f.psnr_db is not None
                     and not (math.isfinite(f.psnr_db) and f.psnr_db >= self.threshold_db))

    def recall(self) -> float | None:
        """Share of truly-bad frames on the re-render list (None without truth or bad frames)."""
        bad = self.below_threshold()
        if not bad:
            return None
        flagged = set(self.rerender)
        return sum(1 for f in bad if f in flagged) / len(bad)

    def savings(self) -> dict[str, Any]:
        return savings_of([(f.status, f.flagged) for f in self.frames], rendered=len(self.rendered),
                          cost_per_frame_min=self.cost_per_frame_min)

    def rerender_pixels(self) -> dict[str, Any]:
        """Pixels the re-render list costs as regions, against re-rendering its frames whole."""
        listed = [f for f in self.frames if f.flagged]
        full = sum(f.regions.frame_px for f in listed if f.regions is not None)
        regions = sum(f.regions.area_px for f in listed if f.regions is not None)
        return {"frames": len(listed), "region_pixels": regions, "full_frame_pixels": full,
                "share": round(regions / full, 4) if full else 0.0,
                "whole_frames": sum(1 for f in listed if f.regions is not None and f.regions.whole_frame)}

    def regions_json(self) -> dict[str, Any]:
        """The regions sidecar (``regions.json``): a box list per listed frame, for hosts and ``framefill patch``."""
        return {"format": "framefill-regions", "version": 1, "pattern": self.pattern,
                "convention": "inclusive x0,y0,x1,y1 display-window pixels, y down (EXR windows)",
                "frames": {str(f.frame): f.regions.to_json() for f in self.frames
                           if f.flagged and f.regions is not None}}

    def to_json(self) -> dict[str, Any]:
        recall = self.recall()
        doc: dict[str, Any] = {
            "format": "framefill-qc",
            "version": QC_VERSION,
            "framefill_version": __version__,
            "pattern": self.pattern,
            "threshold_db": self.threshold_db,
            "calibration": {"id": self.calibration_id, "source": self.calibration_source},
            "confidence": self.confidence,
            "keyframe_checks": [c.to_json() for c in self.keyframe_checks],
            "check_allowance_db": self.check_allowance_db,
            "rerender": format_frame_range(self.rerender),
            "rerender_nuke": format_frame_range(self.rerender, style="nuke"),
            "rerender_frames": list(self.rerender),
            "savings": self.savings(),
            "rerender_pixels": self.rerender_pixels(),
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


def _recipe_color(recipe: Mapping[str, Any], override: Any) -> Any:
    """The colour setup to recompute a fill with: ``--config``/``--colorspace`` of qc, else the fill's recipe's."""
    from framefill.color import ColorSetup

    if override is not None:
        return override
    return ColorSetup(*recipe["color"]) if recipe.get("color") else ColorSetup()


def _color_key(recipe: Mapping[str, Any], override: Any) -> Any:
    if override is None:
        return recipe.get("color")
    return [override.config, override.scene_linear, override.network]


class _Scorer:
    """Per-run state: the calibration, the manifest, lazily loaded models for recomputation."""

    # The colour setup qc was given (--config/--colorspace); None: each fill's recipe's.
    color: Any = None

    def __init__(self, pattern: str, calibration: Calibration, *, truth: str | None, device: str,
                 report: Reporter) -> None:
        self.pattern = pattern
        self.cal = calibration
        self.manifest = Manifest(pattern)
        self.job = self.manifest.job()
        self.truth = FramePattern.parse(truth) if truth else None
        self.device = device
        self.report = report
        self.budget = frame_budget()
        self._models: dict[tuple[str, float, str, float | None], Any] = {}
        self._p99: dict[int, float] = {}  # flow_p99 of each frame's full maps, for its neighbours' context
        self._recomputed: dict[int, FeatureSidecar] = {}  # the last few recomputed frames, oldest first

    def cache_key(self, entries: dict[int, ManifestEntry], frame: int) -> dict[str, Any]:
        """What a cached score depends on: calibration, this frame and its neighbours' files, the truth."""
        from framefill.pipeline.qc_features import neighbour_frames

        neighbours = [None if f is None else entries[f].file_sha256 for f in neighbour_frames(entries, frame)]
        return {"qc_version": QC_VERSION, "calibration": self.cal.id, "file_sha256": entries[frame].file_sha256,
                "neighbours": neighbours, "truth": None if self.truth is None else str(self.truth)}

    # -- feature maps ----------------------------------------------------------------------
    def sidecar(self, frame: int, entry: ManifestEntry) -> tuple[FeatureSidecar, QcSource]:
        """The frame's feature maps over its fill canvas: its sidecar, or recomputed exactly as a sidecar
        stores them."""
        record = entry.qc_features
        if record is not None and record.get("path"):
            sidecar = read_feature_sidecar(self.manifest.folder / str(record["path"]))
            if sidecar is not None:
                return sidecar, "sidecar"
        if frame not in self._recomputed:  # a frame and its neighbours ask in turn: keep the last few
            maps, canvas = self._recompute(frame, entry)
            self._recomputed[frame] = FeatureSidecar(as_stored(maps), canvas)
            while len(self._recomputed) > 3:
                self._recomputed.pop(next(iter(self._recomputed)))
        return self._recomputed[frame], "recomputed"

    def maps(self, frame: int, entry: ManifestEntry, window: tuple[int, int, int, int],
             ) -> tuple[dict[str, np.ndarray], QcSource]:
        """The frame's feature maps over ``window`` (the beauty's data window), and where they came from."""
        sidecar, source = self.sidecar(frame, entry)
        self._p99.setdefault(frame, flow_p99(sidecar.maps))
        return sidecar.crop(window), source

    def context(self, entries: dict[int, ManifestEntry], frame: int) -> GapContext:
        """The motion of the neighbouring gaps, the same whether the neighbours' sidecars are there or not."""
        def p99(f: int) -> float:
            if f not in self._p99:
                self._p99[f] = flow_p99(self.sidecar(f, entries[f])[0].maps)
            return self._p99[f]

        context: GapContext = gap_context(entries, frame, self.manifest.folder, p99)
        return context

    def _recompute(self, frame: int, entry: ManifestEntry) -> tuple[dict[str, np.ndarray], Any]:
        """Features of a frame without a readable sidecar: rerun the manifest's model on its sources."""
        from framefill.pipeline.fill_frame import pair_motion

        recipe = entry.recipe
        sources = fill_gap(entry)
        input_pattern = self.job.get("input")
        if sources is None or not input_pattern:
            raise InputError(f"frame {frame} of {self.pattern}: its manifest entry does not say what it was filled "
                             "from; refill it with `framefill interpolate`")
        interpolator = self.interpolator(frame, recipe)
        if recipe.get("mode") == "recursive" and sources[1] - sources[0] > 2:
            self.report(Event("warning", stage="qc", frame=frame, message=(
                f"frame {frame}: QC features recomputed from the direct pair {sources[0]}-{sources[1]}; "
                "the recursive fill's own motion was not kept (refill to get exact features)")))
        src = FramePattern.parse(input_pattern)
        img0, img1 = (read_exr(src.path(s), memory_budget_bytes=self.budget) for s in sources)
        color = _recipe_color(recipe, self.color)
        t = float(recipe.get("t", (frame - sources[0]) / (sources[1] - sources[0])))
        pair = pair_motion(img0, img1, t, interpolator, color=color, device=self.device, detect_cuts=False)
        return pair.qc_features(t), pair.canvas

    def interpolator(self, frame: int, recipe: Mapping[str, Any]) -> Any:
        """The model that filled ``frame`` (its recipe's), loaded once per run.

        Raises:
            InputError: the cached weights are not the ones that made the frame.
        """
        from framefill.models.loading import load_interpolator

        model = str(recipe.get("model", ""))
        # A `--model auto` fill records its model's scale in its recipe; an ONNX Runtime fill its backend;
        # a fused model's fill its mix.
        scale = float(recipe.get("rife_scale") or self.job.get("rife_scale") or 1.0)
        backend = str(recipe.get("backend", "torch"))
        mix = None if recipe.get("mix") is None else float(recipe["mix"])
        key = (model, scale, backend, mix)
        if key not in self._models:
            from framefill.models.catalog import ensure_fetched

            ensure_fetched([model], report=self.report)  # a farm worker's first qc task: pinned, verified
            loaded = load_interpolator(model, device=self.device, scale=scale, backend=backend, mix=mix)
            if recipe.get("model_sha256") and loaded.sha256 and loaded.sha256 != recipe["model_sha256"]:
                raise InputError(f"frame {frame} was filled with other {model} weights than the cached ones; "
                                 "refill it (QC reruns the model that made it)")
            self._models[key] = loaded
        return self._models[key].model

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
        real, _ = beauty_rgb(read_exr(path, memory_budget_bytes=self.budget))
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
    risk_full = np.clip(resize(risk, height=rows, width=cols, method="bilinear"), 0.0, 1.0)
    channels: dict[str, np.ndarray] = {"R": rgb[..., 0].astype(np.float16), "G": rgb[..., 1].astype(np.float16),
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


def _filled_from_manifest(entries: dict[int, ManifestEntry]) -> tuple[int, ...]:
    return tuple(f for f, e in entries.items() if e.status in ("filled", "held"))


class _KeyframeChecks:
    """The shot's keyframe checks: measured when a fill beside them is judged, cached in the rendered frames' entries.

    A check's record (true PSNR, the features' prediction for it) is keyed on the
    three frames' file hashes, the model, the colour setup and the calibration.
    """

    def __init__(self, scorer: _Scorer, entries: dict[int, ManifestEntry], enabled: bool) -> None:
        self.scorer = scorer
        self.entries = entries
        self.schedule = check_schedule(f for f, e in entries.items() if e.status == "copied") if enabled else ()
        self.records: dict[int, dict[str, Any]] = {}
        self.measured = 0
        self.seconds = 0.0

    def beside(self, entry: ManifestEntry) -> tuple[CheckEvidence, ...]:
        """The evidence of the checks beside a fill's gap (a check across a cut is none)."""
        gap = fill_gap(entry)
        if gap is None:
            return ()
        out = []
        for triplet in checks_beside(self.schedule, *gap):
            record = self.record(triplet, entry.recipe)
            if not record.get("cut"):
                out.append(CheckEvidence(_number(record.get("psnr_db")), _number(record.get("features_psnr_db")),
                                         triplet.key, triplet.span, _number(record.get("residual_log"))))
        return tuple(out)

    def results(self) -> tuple[KeyframeCheckQc, ...]:
        """The checks measured or read in this run, in frame order."""
        out = []
        for key in sorted(self.records):
            r = self.records[key]
            out.append(KeyframeCheckQc(key, int(r["before"]), int(r["after"]),
                                       None if r.get("cut") else _number(r.get("psnr_db")),
                                       None if r.get("cut") else _number(r.get("features_psnr_db"))))
        return tuple(out)

    def _key(self, triplet: CheckTriplet, recipe: Mapping[str, Any]) -> dict[str, Any]:
        frames = (triplet.before, triplet.key, triplet.after)
        return {"qc_version": QC_VERSION, "calibration": self.scorer.cal.id, "model": recipe.get("model"),
                "model_sha256": recipe.get("model_sha256"),
                "rife_scale": recipe.get("rife_scale") or self.scorer.job.get("rife_scale"),
                **({} if recipe.get("mix") is None else {"mix": recipe["mix"]}),
                "color": _color_key(recipe, self.scorer.color), "frames": list(frames),
                "file_sha256": [self.entries[f].file_sha256 for f in frames]}

    def record(self, triplet: CheckTriplet, recipe: Mapping[str, Any]) -> dict[str, Any]:
        if triplet.key in self.records:
            return self.records[triplet.key]
        key = self._key(triplet, recipe)
        entry = self.entries[triplet.key]
        cached = (entry.qc or {}).get("keyframe_check") if (entry.qc or {}).get("key") == key else None
        if isinstance(cached, Mapping) and _is_check_record(cached, triplet):
            record = dict(cached)
        else:
            record = self._measure(triplet, recipe)
            updated = entry.with_qc({"key": key, "keyframe_check": record})
            self.scorer.manifest.put(triplet.key, updated)
            self.entries[triplet.key] = updated
        self.records[triplet.key] = record
        return record

    def _measure(self, triplet: CheckTriplet, recipe: Mapping[str, Any]) -> dict[str, Any]:
        import time

        from framefill.pipeline.keyframe_check import measure_check
        from framefill.pipeline.qc_features import as_stored

        started = time.perf_counter()
        frames = FramePattern.parse(self.scorer.pattern)
        images = [read_exr(frames.path(f), memory_budget_bytes=self.scorer.budget)
                  for f in (triplet.before, triplet.key, triplet.after)]
        color = _recipe_color(recipe, self.scorer.color)
        interpolator = self.scorer.interpolator(triplet.key, recipe)
        measure = measure_check(images[0], images[1], images[2], triplet, interpolator, color=color,
                                device=self.scorer.device)
        record: dict[str, Any] = {"before": triplet.before, "after": triplet.after}
        if measure.psnr_db is None or measure.maps is None:
            record["cut"] = True
        else:
            predicted = self.scorer.cal.predict(as_stored(measure.maps)).predicted_psnr_db
            record.update(psnr_db=_stored(measure.psnr_db, 4), features_psnr_db=_stored(predicted, 4),
                          residual_log=_stored(residual_log(as_stored(measure.maps)), 6))
        self.measured += 1
        self.seconds += time.perf_counter() - started
        self.scorer.report(Event("progress", stage="qc", frame=triplet.key, message=(
            f"keyframe check {triplet.key} (filled from {triplet.before} and {triplet.after}): "
            + ("across a cut" if record.get("cut") else f"{measure.psnr_db:.2f} dB"))))
        return record


def _is_check_record(record: Mapping[str, Any], triplet: CheckTriplet) -> bool:
    if record.get("before") != triplet.before or record.get("after") != triplet.after:
        return False
    return bool(record.get("cut")) or all(_is_score(record.get(k, ""))
                                          for k in ("psnr_db", "features_psnr_db", "residual_log"))


class _QcJob:
    """Score one filled frame per item: cached scores are reused, heatmaps written when a report is asked for."""

    stage = "qc"

    def __init__(self, scorer: _Scorer, entries: dict[int, ManifestEntry], threshold_db: float,
                 confidence: float, checks: _KeyframeChecks, heat: FramePattern | None) -> None:
        self.scorer = scorer
        self.entries = entries
        self.thr = threshold_db
        self.confidence = confidence
        self.checks = checks
        self.heat = heat
        self.frames = FramePattern.parse(scorer.pattern)

    def skip(self, frame: int) -> None:
        return None  # a cached score is read in make(): the frame's record is built either way

    def make(self, frame: int) -> Made[FrameQc]:
        entry = self.entries[frame]
        if entry.status == "held" or entry.needs_render:
            held = _human(FrameQc(frame, "held", True, entry.reason or "held: needs a real render", source="held",
                                  regions=self.whole_frame(frame, "held: no fill to keep")), entry)
            return Made(frame, held, event={"status": "held", "flagged": held.flagged})
        patched = _patched(frame, entry)
        if patched is not None:
            fq = _human(patched, entry)
            return Made(frame, fq, event={"status": "filled", "flagged": fq.flagged, "source": "patched"})
        key = self.scorer.cache_key(self.entries, frame)
        cached = _cached_score(entry.qc, key)
        if cached is not None and Regions.from_json(cached.get("regions")) is None:
            cached = None  # scored before regions were proposed: score again
        qc: dict[str, Any] = cached or {}
        source: QcSource = "cached"
        new_entry = None
        if cached is None or (self.heat is not None and not _heatmap_current(self.heat, frame, key)):
            qc, source, new_entry = self._score(frame, entry, key, cached)
        fq = self._frame_qc(frame, qc, source, entry)
        verdict = {k: v for k, v in fq.to_json().items() if k in _VERDICT_FIELDS}
        if qc.get("verdict") != verdict:  # the manifest shows the decision of the latest run
            new_entry = (new_entry or entry).with_qc({**qc, "verdict": verdict})
        fq = _human(fq, entry)  # after the verdict: the manifest keeps QC's own, beside the person's
        data = {k: v for k, v in fq.to_json().items() if k in ("status", "flagged", "risk", "predicted_psnr_db",
                                                              "psnr_db", "basis")}
        return Made(frame, fq, new_entry, event=data)

    def _score(self, frame: int, entry: ManifestEntry, key: dict[str, Any], valid: dict[str, Any] | None,
               ) -> tuple[dict[str, Any], QcSource, ManifestEntry | None]:
        """Score the frame (or only redraw its heatmap when ``valid`` holds its score).

        The record keeps numbers JSON can hold: a NaN/Inf one is stored as null.
        """
        cal = self.scorer.cal
        rgb, part = beauty_rgb(read_exr(self.frames.path(frame), memory_budget_bytes=self.scorer.budget))
        maps, maps_source = self.scorer.maps(frame, entry, part.data_window)
        pred = cal.predict(maps, self.scorer.context(self.entries, frame))
        truth_err = self.scorer.truth_error(frame, rgb)
        if self.heat is not None:
            _write_heatmaps(self.heat, frame, part, rgb, pred.risk_map, None if truth_err is None else truth_err[0],
                            key)
        if valid is not None:
            return valid, "cached", None
        regions = propose_regions(pred.risk_map, data_window=part.data_window, display_window=part.display_window)
        qc: dict[str, Any] = {"key": key, "predicted_psnr_db": _stored(pred.predicted_psnr_db, 4),
                              "regions": regions.to_json(),
                              "residual_log": _stored(residual_log(maps), 6),
                              "aggregates": {k: _stored(v, 6) for k, v in pred.aggregates.items()}}
        nonfinite = int(rgb.size - np.count_nonzero(np.isfinite(rgb)))
        if nonfinite:
            qc["nonfinite_pixels"] = nonfinite
        if truth_err is not None:
            qc.update(psnr_db=_stored(truth_err[1], 4), ssim=_stored(truth_err[2], 5))
        return qc, maps_source, entry.with_qc(qc)

    def _frame_qc(self, frame: int, qc: Mapping[str, Any], source: QcSource, entry: ManifestEntry) -> FrameQc:
        """The frame's result from its score and the checks beside it; the decision is :meth:`Calibration.judge`'s."""
        predicted = _number(qc["predicted_psnr_db"])
        aggregates = {str(k): _number(v) for k, v in qc.get("aggregates", {}).items()}
        psnr_db = None if "psnr_db" not in qc else _number(qc["psnr_db"])
        ssim = None if "ssim" not in qc else _number(qc["ssim"])
        inputs = dict(aggregates)
        inputs["residual_log"] = _number(qc.get("residual_log"))
        if qc.get("nonfinite_pixels"):
            inputs["pixels of the filled frame"] = math.nan
        inputs.update({f"true {k}": v for k, v in (("psnr_db", psnr_db), ("ssim", ssim)) if v is not None})
        sources = fill_gap(entry)
        gap = 2 if sources is None else sources[1] - sources[0]
        evidence = FillEvidence(predicted, gap, self.checks.beside(entry), _number(qc.get("residual_log")))
        v = self.scorer.cal.judge(evidence, self.thr, self.confidence, inputs=inputs)
        return FrameQc(
            frame, "filled", v.listed, reason=v.reason, predicted_psnr_db=v.predicted_psnr_db, risk=v.risk,
            psnr_db=psnr_db, ssim=ssim, aggregates=aggregates,
            heatmap=None if self.heat is None else self.heat.path(frame), source=source, basis=v.basis,
            interval_db=v.interval_db, keyframe_checks=v.checks, regions=Regions.from_json(qc.get("regions")),
        )

    def whole_frame(self, frame: int, reason: str) -> Regions | None:
        """The whole frame as the region (None when the frame's file is unreadable)."""
        try:
            window = probe_exr(self.frames.path(frame)).parts[0].display_window
        except ExrError:
            return None
        return Regions.whole(window, reason)


def _patched(frame: int, entry: ManifestEntry) -> FrameQc | None:
    """A frame whose regions were re-rendered and patched in (``framefill patch``), or None.

    Accepted when the patches cover every region QC proposed for it; listed again when they do not.
    """
    patches = entry.extra.get("patch")
    if not isinstance(patches, list) or not patches:
        return None
    done = [r for r in (Regions.from_json(p.get("regions")) for p in patches if isinstance(p, Mapping)) if r]
    verdict = (entry.qc or {}).get("verdict")
    wanted = Regions.from_json(verdict.get("regions")) if isinstance(verdict, Mapping) else None
    covered = wanted is None or not isinstance(verdict, Mapping) or not verdict.get("flagged") \
        or any(r.whole_frame for r in done) or (not wanted.whole_frame and all(
            any(_inside(b, d) for r in done for d in r.boxes) for b in wanted.boxes))
    boxes = tuple(b for r in done for b in r.boxes)
    last = done[-1] if done else None
    regions = None if last is None else Regions(last.display_window, boxes, any(r.whole_frame for r in done))
    if covered:
        return FrameQc(frame, "filled", False, reason=f"patched: {len(boxes) or 'whole'} region(s) re-rendered",
                       source="patched", regions=regions)
    return FrameQc(frame, "filled", True, reason="patched, but the patches miss regions QC proposed",
                   source="patched", regions=wanted)


def _inside(box: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return outer[0] <= box[0] and outer[1] <= box[1] and box[2] <= outer[2] and box[3] <= outer[3]


def _human(fq: FrameQc, entry: ManifestEntry) -> FrameQc:
    """The frame as a person decided it in review (``framefill review``), when they did; else as QC judged it.

    A decision holds for the version of the frame it was made on (its file's sha256).
    """
    from dataclasses import replace

    decision = entry.decision()
    if decision is None:
        return fq
    return replace(fq, flagged=decision["decision"] == "rerender", decision=decision)


# The fields of a frame's qc.json record that the manifest keeps as its latest decision.
_VERDICT_FIELDS = ("flagged", "reason", "basis", "predicted_psnr_db", "interval_db", "risk", "keyframe_checks",
                   "regions")


def _stored(value: float, digits: int) -> float | None:
    """A score as the manifest stores it: rounded, or null when NaN/Inf (not JSON)."""
    return round(value, digits) if math.isfinite(value) else None


def _number(value: Any) -> float:
    """A stored score as a float: null (a NaN/Inf score) reads as NaN."""
    return math.nan if value is None else float(value)


def _is_score(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _cached_score(record: Mapping[str, Any] | None, key: dict[str, Any]) -> dict[str, Any] | None:
    """The frame's cached score when it was made with ``key`` and is well formed, else None (rescored)."""
    if record is None or record.get("key") != key or not _is_score(record.get("predicted_psnr_db", "")):
        return None
    aggregates = record.get("aggregates", {})
    if not isinstance(aggregates, Mapping) or not all(_is_score(v) for v in aggregates.values()):
        return None
    if not all(_is_score(record[k]) for k in ("psnr_db", "ssim") if k in record):
        return None
    if not _is_score(record.get("residual_log", "")):
        return None
    if key.get("truth") is not None and "psnr_db" in record and "ssim" not in record:
        return None
    pixels = record.get("nonfinite_pixels", 0)
    return dict(record) if isinstance(pixels, int) and not isinstance(pixels, bool) else None


def _frames_to_score(request: QcRequest, entries: dict[int, ManifestEntry], manifest: Manifest,
                     report: Reporter) -> tuple[int, ...]:
    """The filled frames of the request that have an entry; copied frames are named and left out."""
    filled = request.filled if request.filled is not None else _filled_from_manifest(entries)
    chunk = set(request.frames) if request.frames is not None else None
    work = []
    for frame in (f for f in filled if chunk is None or f in chunk):
        entry = entries.get(frame)
        if entry is None:
            raise InputError(f"frame {frame} is listed as filled but {manifest.path} has no entry for it; "
                             "check --filled, or fill it with `framefill interpolate` first")
        if entry.status == "copied":
            report(Event("warning", stage="qc", frame=frame,
                         message=f"frame {frame} is a real render (copied), not filled; it is not scored"))
            continue
        work.append(frame)
    return tuple(work)


def qc_sequence(
    request: QcRequest,
    *,
    calibration: Calibration | None = None,
    report: Reporter = null_reporter,
    cancelled: Callable[[], bool] = never_cancelled,
) -> QcResult:
    """Score the filled frames of ``request.pattern`` and list the frames that still need a real render.

    ``request``: the output sequence ``framefill interpolate`` wrote (its manifest
    sits beside it), the filled frames (default: every filled or held frame of
    the manifest), a chunk of them to score, real renders for the true error,
    the report folder, the threshold (default: the calibration's), the
    calibration file (default: the shipped one; ``calibration`` passes a
    calibration object instead), the render cost for the savings, and the
    device that recomputes features when a frame has no sidecar.

    Raises:
        InputError: no manifest, a listed frame unknown to it, a bad calibration or truth.
        CancelledError: ``cancelled()`` became true; frames scored so far are kept.
    """
    pattern = request.pattern
    manifest = Manifest(pattern)
    entries = manifest.entries()
    if not entries:
        raise InputError(f"no framefill manifest entries beside {pattern} ({manifest.path}); "
                         "qc scores frames written by `framefill interpolate`")
    cal = calibration if calibration is not None else load_calibration(request.calibration)
    thr = cal.threshold_db if request.threshold_db is None else request.threshold_db
    confidence = cal.confidence if request.confidence is None else request.confidence
    scorer = _Scorer(pattern, cal, truth=request.truth, device=request.device, report=report)
    if request.color is not None or request.color_config is not None or request.colorspace is not None:
        from framefill.pipeline.job_color import job_color

        first = next(iter(FramePattern.parse(pattern).scan().values()), None)
        scorer.color = job_color(request, Path(first) if first is not None else None, stage="qc", report=report)
    work = _frames_to_score(request, entries, manifest, report)
    heat = heatmap_pattern(pattern, request.report_dir) if request.report_dir is not None else None
    checks = _KeyframeChecks(scorer, entries, request.keyframe_check)
    job = _QcJob(scorer, entries, thr, confidence, checks, heat)
    before = {f: e.to_json() for f, e in entries.items()}
    run = run_frames(work, job, manifest=manifest, report=report, cancelled=cancelled,
                     start_message=f"scoring {len(work)} filled frame(s) of {pattern} (threshold {thr:g} dB, "
                                   f"{confidence:.1%} confidence)")
    latest = manifest.entries()
    changed = [f for f, e in latest.items() if before.get(f) != e.to_json()]
    if changed:
        manifest.publish(frames=changed)
    rendered = tuple(f for f, e in latest.items() if e.status == "copied")
    cost = DEFAULT_COST_PER_FRAME_MIN if request.cost_per_frame_min is None else request.cost_per_frame_min
    result = QcResult(pattern=str(pattern), threshold_db=thr, calibration_id=cal.id,
                      calibration_source=cal.source or "default", confidence=confidence, frames=run.outcomes,
                      rendered=rendered, truth=request.truth, cost_per_frame_min=float(cost),
                      keyframe_checks=checks.results(), check_allowance_db=cal.check_allowance_db)
    if request.report_dir is not None:
        result = _write_report(result, Path(request.report_dir), cal)
    if checks.measured:
        report(Event("progress", stage="qc", message=(
            f"{checks.measured} keyframe check(s) measured in {checks.seconds:.1f} s "
            f"({checks.seconds / checks.measured:.2f} s each)")))
    report(Event("done", stage="qc", message=(
        f"{len(result.rerender)} of {len(run.outcomes)} filled frame(s) need a real render: "
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
    atomic_write_text(folder / "regions.json", json.dumps(result.regions_json(), indent=1, sort_keys=True) + "\n")
    atomic_write_text(html_path, render_report(result, calibration=cal))
    return result

