"""Fit a QC calibration on shots where every frame was rendered.

For each shot and each ``every`` (2, 3, ...): keep every Nth frame as the
"sparse render", fill the rest with the model (the fill writes the feature
sidecars), measure each filled frame against its real render, and measure the
keyframe checks of the kept frames. Then fit the pixel model on sampled pixels,
the frame model on every filled frame, the keyframe model on the fills with
checks beside them, and each basis's spread (see
:mod:`framefill.pipeline.calibration`).

The fills and checks live in a work folder and resume, so refitting after a
change to the fitting code costs no model time.
"""

from __future__ import annotations

import os
import shutil
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from framefill._version import __version__
from framefill.errors import InputError, SequenceError
from framefill.events import Event, Reporter, null_reporter
from framefill.frames import FramePattern, read_exr
from framefill.ops.errormaps import FEATURE_NAMES, roc_auc, spearman
from framefill.ops.regression import (
    LinearModel,
    choose_ridge_l2,
    fit_logistic,
    fit_ridge,
)
from framefill.ops.resample import grid_resize
from framefill.pipeline.calibration import (
    DEFAULT_CONFIDENCE,
    DEFAULT_THRESHOLD_DB,
    PIXEL_TAU,
    PIXEL_TRANSFORMS,
    Calibration,
    CheckEvidence,
    FillEvidence,
    GapContext,
    Verdict,
    check_failed,
    frame_aggregates,
    keyframe_statistics,
    normal_quantile,
    pixel_design,
    residual_log,
)
from framefill.pipeline.keyframe_check import CheckTriplet, checks_beside
from framefill.pipeline.manifest import Manifest
from framefill.pipeline.qc_features import fill_gap, gap_context, read_feature_sidecar
from framefill.requests import FillRequest

__all__ = [
    "TrainingFrame",
    "TrainingCheck",
    "collect_keyframe_checks",
    "FrameModelFit",
    "collect_training_frames",
    "fit_calibration",
    "fit_frame_model",
    "frame_table",
    "calibrate_shots",
    "COMBINED_AGGREGATES",
    "PSNR_FIT_RANGE_DB",
]

# Pixels sampled per frame for the pixel model: ~10^6 rows over a few hundred frames.
PIXELS_PER_FRAME = 4000
# The frame model regresses PSNR clipped to this range: the decision lives near 30 dB;
# whether an easy frame scores 45 or 52 dB, or a broken one 12 or 15, does not matter,
# and those values would otherwise pull the fit away from the threshold.
PSNR_FIT_RANGE_DB = (15.0, 40.0)
# The frame statistics of the combined model. Chosen by leave-one-scene-out
# cross-validation on the training scenes only (AUC, and the flag rate at full
# recall): residual (the warped neighbours disagree), motion x edges (misplacement
# is costly), acceleration x edges (linear motion fails), and model-vs-classical flow
# disagreement. Statistics of the risk map ranked frames worse than the mean
# residual and the angle-std statistics added nothing once these were in.
COMBINED_AGGREGATES: tuple[str, ...] = (
    "log_mean_residual_sq",
    "log_motion_edge",
    "log_accel_edge",
    "log_mean_flow_disagreement",
)
# The keyframe model's statistics (see calibration.KEYFRAME_STATISTICS), chosen with
# bench/qc.py leave-one-shot-out on the training shots.
KEYFRAME_INPUTS: tuple[str, ...] = ("check_psnr_min", "check_psnr_mean", "check_residual_scaled_min",
                                    "log2_span_ratio")
# A keyframe check this far below the threshold lists the fills beside it whatever the
# prediction says (the check fills across about twice their gap).
CHECK_ALLOWANCE_DB = 3.0
# Training frames this close to the threshold (dB) set each basis's spread.
DECISION_BAND_DB = 4.0
# Added to the margin that lists every training frame below the threshold, so that a
# held-out frame a little worse than any training frame is still caught.
MARGIN_SAFETY_DB = 0.5

# L2 of the pixel model's logistic regression (on standardised inputs): tiny, there
# are ~10^6 pixels for 9 weights; it only keeps the Newton steps well-posed.
PIXEL_L2 = 1e-4


@dataclass(frozen=True)
class TrainingCheck:
    """A keyframe check of a training shot: its true PSNR and where its feature maps are (None across a cut)."""

    triplet: CheckTriplet
    psnr_db: float | None
    features: Path | None

    def maps(self) -> dict[str, np.ndarray]:
        """The check fill's feature maps.

        Raises:
            InputError: the file disappeared or was damaged since it was collected.
        """
        try:
            with np.load(str(self.features)) as data:
                return {k: data[k].astype(np.float32) for k in FEATURE_NAMES}
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise InputError(f"keyframe-check features {self.features} are missing or unreadable; "
                             "rerun the calibration") from exc


def collect_keyframe_checks(
    rendered: dict[int, Path], keys: Sequence[int], *, folder: Path, model: str, device: str, scale: float,
) -> dict[int, TrainingCheck]:
    """Measure every keyframe check of ``keys`` (frames of ``rendered``), cached in ``folder``, by key frame."""
    from framefill.color import ColorSetup
    from framefill.models.loading import load_interpolator
    from framefill.pipeline.keyframe_check import check_schedule, measure_check
    from framefill.pipeline.qc_features import as_stored

    loaded = None
    out = {}
    folder.mkdir(parents=True, exist_ok=True)
    for triplet in check_schedule(keys):
        path = folder / f"{triplet.before}-{triplet.key}-{triplet.after}.npz"
        if not path.is_file():
            if loaded is None:
                loaded = load_interpolator(model, device=device, scale=scale)
            frames = [read_exr(rendered[f]) for f in (triplet.before, triplet.key, triplet.after)]
            measure = measure_check(frames[0], frames[1], frames[2], triplet, loaded.model, color=ColorSetup(),
                                    device=device)
            arrays = {k: v.astype(np.float16) for k, v in as_stored(measure.maps or {}).items()}
            psnr_value = np.array(np.nan if measure.psnr_db is None else measure.psnr_db)
            tmp = path.with_name(path.stem + ".tmp.npz")
            np.savez(tmp, psnr_db=psnr_value, cut=np.array(measure.maps is None), **arrays)
            os.replace(tmp, path)
        with np.load(str(path)) as data:
            cut = bool(data["cut"])
            value = float(data["psnr_db"])
        out[triplet.key] = TrainingCheck(triplet, None if cut else value, None if cut else path)
    return out


@dataclass(frozen=True)
class TrainingFrame:
    """One filled frame with its real render: where its features are and how wrong it is."""

    scene: str
    every: int
    frame: int
    features: Path
    window: tuple[int, int, int, int]  # the beauty's data window (the maps are cut to it)
    context: GapContext  # the motion of the neighbouring gaps (from their sidecars)
    error_grid: np.ndarray  # h,w float16: squared error (display proxy) area-averaged to the feature grid
    psnr_db: float
    ssim: float
    gap: tuple[int, int] = (0, 0)  # the rendered frames it was filled from
    checks: tuple[TrainingCheck, ...] = ()  # the keyframe checks beside its gap

    def maps(self) -> dict[str, np.ndarray]:
        """The feature maps over the beauty's data window.

        Raises:
            InputError: the sidecar disappeared or was damaged since it was collected.
        """
        sidecar = read_feature_sidecar(self.features)
        if sidecar is None:
            raise InputError(f"feature sidecar {self.features} is missing or unreadable; rerun the calibration")
        return sidecar.crop(self.window)


def _link_or_copy(src: Path, dest: Path) -> None:
    if dest.is_file():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def collect_training_frames(
    truth_pattern: str,
    *,
    scene: str,
    every: int,
    work_dir: Path,
    model: str = "rife-4",
    device: str = "cpu",
    report: Reporter = null_reporter,
) -> list[TrainingFrame]:
    """Drop frames from a fully rendered shot, fill them, and measure each filled frame.

    Raises:
        SequenceError: the shot has fewer than ``every + 2`` frames on disk.
    """
    from framefill.ops.metrics import display_proxy, psnr, squared_error_map, ssim
    from framefill.pipeline.fill import run_fill
    from framefill.pipeline.plan import keyframes
    from framefill.pipeline.qc import beauty_rgb

    truth = FramePattern.parse(truth_pattern)
    on_disk = truth.scan()
    if len(on_disk) < every + 2:
        raise SequenceError(f"{truth_pattern} has {len(on_disk)} frames; calibration needs a fully rendered shot")
    frames = tuple(on_disk)
    if frames != tuple(range(frames[0], frames[-1] + 1)):
        raise SequenceError(f"{truth_pattern} has gaps; calibration needs every frame rendered")
    name = Path(truth.as_hashes()).name
    root = work_dir / f"{scene}-every{every}"
    keys = FramePattern.parse(str(root / "keys" / name))
    for f in keyframes(frames, every):
        _link_or_copy(on_disk[f], Path(keys.path(f)))
    out = str(root / "fill" / name)
    report(Event("start", stage="calibrate", message=f"{scene}: filling with every {every}th frame kept"))
    fill = FillRequest(str(keys), out, frames=frames, model=model, device=device)
    run_fill(fill, report=report)
    manifest = Manifest(out)
    out_pat = FramePattern.parse(out)
    # Frames filled before their sidecar format changed: remove them so the fill remakes them.
    stale = [f for f, e in manifest.entries().items() if e.status == "filled" and (
        not e.qc_features or read_feature_sidecar(manifest.folder / e.qc_features["path"]) is None)]
    if stale:
        for f in stale:
            Path(out_pat.path(f)).unlink(missing_ok=True)
        run_fill(fill, report=report)
    collected = []
    entries = manifest.entries()
    kept = keyframes(frames, every)
    checks = collect_keyframe_checks(on_disk, kept, folder=root / "checks", model=model, device=device,
                                     scale=float(manifest.job().get("rife_scale") or 1.0))
    schedule = [c.triplet for c in checks.values()]
    for f, entry in entries.items():
        if entry.status != "filled" or not entry.qc_features:
            continue
        sources = fill_gap(entry)
        if sources is None:
            continue
        beside = tuple(checks[c.key] for c in checks_beside(schedule, *sources))
        path = manifest.folder / entry.qc_features["path"]
        sidecar = read_feature_sidecar(path)
        if sidecar is None:
            continue
        made, part = beauty_rgb(read_exr(out_pat.path(f)))
        real, _ = beauty_rgb(read_exr(on_disk[f]))
        a, b = display_proxy(made), display_proxy(real)
        rows, cols = sidecar.crop(part.data_window)["residual"].shape
        grid = grid_resize(squared_error_map(a, b), rows, cols).astype(np.float16)
        context = gap_context(entries, f, manifest.folder)
        frame = TrainingFrame(scene, every, f, path, part.data_window, context, grid, psnr(a, b), ssim(a, b),
                              sources, beside)
        if not _finite_frame(frame, sidecar.maps):
            report(Event("warning", stage="calibrate", frame=f, message=(
                f"{scene}: frame {f} left out of the fit: NaN/Inf pixels in {on_disk[f]} or in its fill's "
                "features; fix or re-render that frame to use it")))
            continue
        collected.append(frame)
    return collected


def _finite_frame(frame: TrainingFrame, maps: dict[str, np.ndarray]) -> bool:
    """Whether everything the fit reads of a frame is finite (one NaN would make every fitted number NaN)."""
    context = (frame.context.prev_flow_p99, frame.context.next_flow_p99)
    return bool(np.isfinite([frame.psnr_db, frame.ssim, *(v for v in context if v is not None)]).all()
                and np.isfinite(frame.error_grid).all() and all(np.isfinite(m).all() for m in maps.values()))


# ---------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameModelFit:
    """A fitted frame model with its cross-validated behaviour."""

    model: LinearModel
    oof_psnr_db: np.ndarray  # out-of-fold (leave-one-scene-out) predictions
    sigma_db: float


def fit_frame_model(x: np.ndarray, psnr_db: np.ndarray, groups: Sequence[str], inputs: Sequence[str]) -> FrameModelFit:
    """Ridge regression of clipped PSNR on frame statistics, its L2 chosen leave-one-scene-out."""
    y = np.clip(np.asarray(psnr_db, dtype=np.float64), *PSNR_FIT_RANGE_DB)
    l2, oof = choose_ridge_l2(x, y, groups)
    model = fit_ridge(x, y, inputs=inputs, l2=l2)
    sigma = float(np.sqrt(np.mean((oof - y) ** 2)))
    return FrameModelFit(model, oof, max(sigma, 0.1))


def _sample_pixels(frame: TrainingFrame, maps: dict[str, np.ndarray], count: int) -> tuple[np.ndarray, np.ndarray]:
    x = pixel_design(maps)
    y = (frame.error_grid.astype(np.float32).ravel() > PIXEL_TAU).astype(np.float64)
    seed = zlib.crc32(f"{frame.scene}/{frame.every}/{frame.frame}".encode())
    idx = np.random.default_rng(seed).choice(len(y), size=min(count, len(y)), replace=False)
    return x[idx], y[idx]


def frame_table(frames: Sequence[TrainingFrame], calibration_pixel: Calibration | None,
                names: Sequence[str]) -> np.ndarray:
    """Frame statistics (rows: frames, columns: ``names``) with a pixel model's risk maps."""
    rows = []
    for fr in frames:
        maps = fr.maps()
        risk = calibration_pixel.risk_map(maps) if calibration_pixel is not None else np.zeros_like(maps["residual"])
        rows.append(frame_aggregates(maps, risk, names, fr.context))
    return np.asarray(rows)


def fit_calibration(
    frames: Sequence[TrainingFrame],
    *,
    threshold_db: float = DEFAULT_THRESHOLD_DB,
    aggregates: Sequence[str] = COMBINED_AGGREGATES,
    pixels_per_frame: int = PIXELS_PER_FRAME,
    trained_on: dict[str, Any] | None = None,
) -> Calibration:
    """Fit the pixel model, the frame model and the operating point on measured frames.

    Raises:
        InputError: too few frames, or no frame (or pixel) on one side of the thresholds.
    """
    if len(frames) < 4:
        raise InputError(f"calibration needs at least 4 filled frames with real renders, got {len(frames)}")
    xs, ys = [], []
    for fr in frames:
        x, y = _sample_pixels(fr, fr.maps(), pixels_per_frame)
        xs.append(x)
        ys.append(y)
    names = [n for n, _ in PIXEL_TRANSFORMS]
    pixel = fit_logistic(np.vstack(xs), np.concatenate(ys), inputs=names, l2=PIXEL_L2)
    placeholder = LinearModel(tuple(aggregates), (0.0,) * len(aggregates), (1.0,) * len(aggregates),
                              (0.0,) * len(aggregates), 0.0)
    pixel_only = Calibration(pixel, PIXEL_TAU, PIXEL_TRANSFORMS, placeholder, 1.0, 0.0, threshold_db)
    table = frame_table(frames, pixel_only, aggregates)
    psnr = np.array([fr.psnr_db for fr in frames])
    groups = [fr.scene for fr in frames]
    fit = fit_frame_model(table, psnr, groups, aggregates)
    bad = psnr < threshold_db
    features_only = Calibration(pixel, PIXEL_TAU, PIXEL_TRANSFORMS, fit.model, fit.sigma_db, threshold_db=threshold_db)
    evidence = fill_evidence_table(frames, features_only, fit.oof_psnr_db)
    with_checks = np.array([bool(e.checks) for e in evidence])
    keyframe, keyframe_oof = None, np.full(len(frames), np.nan)
    if with_checks.sum() >= 4 and len({g for g, w in zip(groups, with_checks) if w}) >= 2:
        x = np.array([keyframe_statistics(e, KEYFRAME_INPUTS) for e, w in zip(evidence, with_checks) if w])
        keyframe = fit_frame_model(x, psnr[with_checks], [g for g, w in zip(groups, with_checks) if w],
                                   KEYFRAME_INPUTS)
        keyframe_oof[with_checks] = keyframe.oof_psnr_db
    # Each basis's spread: the out-of-fold RMSE of the frames near the threshold (where the
    # decision is made; a frame at 45 dB predicted at 38 changes nothing), widened where needed
    # so that at the default confidence every training frame below the threshold is listed.
    z = normal_quantile(DEFAULT_CONFIDENCE)
    failed = np.array([any(check_failed(c.psnr_db, threshold_db, CHECK_ALLOWANCE_DB) for c in e.checks)
                       for e in evidence])
    near = np.abs(psnr - threshold_db) < DECISION_BAND_DB

    def spread(oof: np.ndarray, where: np.ndarray, listed_anyway: np.ndarray) -> float:
        close = where & near
        rmse = float(np.sqrt(np.mean((oof[close] - psnr[close]) ** 2))) if close.any() else 1.0
        missed = oof[where & bad & ~listed_anyway] - threshold_db
        need = (float(missed.max()) + MARGIN_SAFETY_DB) / z if missed.size else 0.0
        return max(rmse, need, 0.1)

    # The features stand alone wherever a shot has no check (its ends, a single pair, --no-keyframe-check):
    # their spread is set on every training frame as if none had checks.
    no_checks_failed = np.zeros(len(frames), bool)
    features_sigma = spread(fit.oof_psnr_db, np.ones(len(frames), bool), no_checks_failed)
    cal = Calibration(pixel, PIXEL_TAU, PIXEL_TRANSFORMS, fit.model, features_sigma,
                      DEFAULT_CONFIDENCE, threshold_db,
                      keyframe_model=None if keyframe is None else keyframe.model,
                      keyframe_sigma_db=1.0 if keyframe is None else spread(keyframe_oof, with_checks, failed),
                      check_allowance_db=CHECK_ALLOWANCE_DB)
    listed = np.array([_oof_verdict(cal, e, k).listed for e, k in zip(evidence, keyframe_oof)])
    metrics = {
        "frames": len(frames),
        "frames_below_threshold": int(bad.sum()),
        "frames_with_keyframe_checks": int(with_checks.sum()),
        "oof_auc": _round(roc_auc(-fit.oof_psnr_db, bad)),
        "oof_spearman_vs_mse": _round(spearman(-fit.oof_psnr_db, -psnr)),
        "oof_rmse_db": round(fit.sigma_db, 4),
        "keyframe_oof_rmse_db": None if keyframe is None else round(keyframe.sigma_db, 4),
        "training_recall": _round(float(listed[bad].mean()) if bad.any() else float("nan")),
        "training_flag_rate": round(float(listed.mean()), 4),
        "training_good_accepted": _round(float((~listed[~bad]).mean()) if (~bad).any() else float("nan")),
        "pixel_auc": _round(_pixel_auc(pixel_only, frames)),
    }
    info = {"framefill_version": __version__, **(trained_on or {})}
    info.setdefault("scenes", sorted(set(groups)))
    info.setdefault("every", sorted({fr.every for fr in frames}))
    return replace(cal, trained_on=info, metrics=metrics)


def fill_evidence_table(frames: Sequence[TrainingFrame], calibration: Calibration,
                        features_psnr_db: Sequence[float] | np.ndarray) -> list[FillEvidence]:
    """The evidence QC would have for each training frame: its feature prediction and the measured checks beside it.

    The checks' own feature predictions come from ``calibration`` (each check is scored once).
    """
    scored: dict[Path, tuple[float, float]] = {}
    out = []
    for frame, features_psnr in zip(frames, features_psnr_db):
        checks = []
        for check in frame.checks:
            if check.psnr_db is None or check.features is None:
                continue  # the span crosses a cut: no evidence
            if check.features not in scored:
                maps = check.maps()
                scored[check.features] = (calibration.predict(maps).predicted_psnr_db, residual_log(maps))
            predicted, residual = scored[check.features]
            checks.append(CheckEvidence(check.psnr_db, predicted, check.triplet.key, check.triplet.span, residual))
        out.append(FillEvidence(float(features_psnr), frame.gap[1] - frame.gap[0], tuple(checks),
                                residual_log(frame.maps())))
    return out


def _oof_verdict(cal: Calibration, evidence: FillEvidence, keyframe_oof: float) -> Verdict:
    """The decision on a training frame with its out-of-fold keyframe prediction (NaN: no checks)."""
    use_oof = bool(evidence.checks) and cal.keyframe_model is not None
    return cal.judge(evidence, predicted_psnr_db=float(keyframe_oof) if use_oof else None)


def _round(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 4)


def _pixel_auc(cal: Calibration, frames: Sequence[TrainingFrame], per_frame: int = 2000) -> float:
    scores, labels = [], []
    for fr in frames:
        risk = cal.risk_map(fr.maps()).ravel()
        err = fr.error_grid.astype(np.float32).ravel()
        idx = np.random.default_rng(zlib.crc32(f"auc/{fr.scene}/{fr.frame}/{fr.every}".encode())).choice(
            len(err), size=min(per_frame, len(err)), replace=False)
        scores.append(risk[idx])
        labels.append(err[idx] > cal.pixel_tau)
    return roc_auc(np.concatenate(scores), np.concatenate(labels)) if scores else float("nan")


def calibrate_shots(
    patterns: Sequence[str],
    *,
    out: Path,
    every: Sequence[int] = (2, 3),
    model: str = "rife-4",
    device: str = "cpu",
    work_dir: Path | None = None,
    threshold_db: float = DEFAULT_THRESHOLD_DB,
    report: Reporter = null_reporter,
) -> Calibration:
    """``framefill qc calibrate``: fill, measure and fit on fully rendered shots, write ``out``.

    Raises:
        InputError: no patterns, or too little data to fit.
    """
    if not patterns:
        raise InputError("give at least one fully rendered shot pattern to calibrate on")
    work = work_dir or out.parent / (out.stem + ".work")
    frames: list[TrainingFrame] = []
    scenes = []
    for i, pattern in enumerate(patterns):
        base = Path(FramePattern.parse(pattern).prefix).name.strip("._-") or f"shot{i}"
        scene = base if base not in scenes else f"{base}{i}"
        scenes.append(scene)
        for n in every:
            frames += collect_training_frames(pattern, scene=scene, every=n, work_dir=work, model=model,
                                              device=device, report=report)
    cal = fit_calibration(frames, threshold_db=threshold_db,
                          trained_on={"scenes": scenes, "every": list(every), "model": model,
                                      "frames": len(frames)})
    cal.save(out)
    return cal

