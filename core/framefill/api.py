"""The small façade used by the CLI, the hosts and the farm.

Every function takes keyword arguments, reports progress through ``report``
(a callable taking :class:`framefill.events.Event`), checks ``cancelled`` between
frames, and raises :class:`framefill.errors.FramefillError` subclasses with a
one-line message. Nothing here imports torch until a function runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framefill.color import ColorSetup
from framefill.events import Reporter, never_cancelled, null_reporter

if TYPE_CHECKING:
    from framefill.pipeline.fill import FillResult
    from framefill.pipeline.upscale import UpscaleResult
    from framefill.pipeline.qc import QcResult

__all__ = ["fill_shot", "upscale", "qc_shot", "plan_shot", "make_bundle", "DEFAULT_FILL_MODE"]

# Gaps longer than one frame: recursive halving measured better than direct
# filling in 9 of 10 cases (rife-4, keeping 1 frame in 3 or 4 of the sample shot
# and four test scenes; mean +0.15 dB, range -0.21..+0.54 dB): bench/fill_modes.py.
DEFAULT_FILL_MODE = "recursive"


def fill_shot(
    input_pattern: str,
    output_pattern: str,
    *,
    frames: Sequence[int] | None = None,
    model: str = "rife-4",
    weights: str | Path | None = None,
    device: str = "auto",
    mode: str = DEFAULT_FILL_MODE,
    scale: float | None = None,
    memory_budget_bytes: int | None = None,
    color: ColorSetup = ColorSetup(),
    detect_cuts: bool = True,
    report: Reporter = null_reporter,
    cancelled: Callable[[], bool] = never_cancelled,
) -> FillResult:
    """Fill every missing frame of ``frames`` (default: first to last rendered frame).

    Rendered frames are copied byte for byte; missing ones are interpolated from
    their nearest rendered neighbours and recorded in the manifest.
    ``scale`` is RIFE's resolution scale (None: 1.0 to 2K, 0.5 to 4K, 0.25 above).
    ``memory_budget_bytes`` bounds the fill: a smaller scale unless one is given,
    fewer channels warped at once, fewer frames kept decoded (see
    :mod:`framefill.pipeline.fill_memory`); the plan is in ``result.memory_plan``.
    """
    from framefill.frames import FramePattern, probe_exr
    from framefill.models.interp import LazyInterpolator
    from framefill.models.loading import auto_rife_scale, load_interpolator, model_identity
    from framefill.pipeline.fill import FillOptions, fill_sequence
    from framefill.pipeline.fill_memory import decoded_frame_bytes, plan_fill_memory
    from framefill.runtime.device import configure_determinism, resolve_devices

    if mode not in ("direct", "recursive"):
        from framefill.errors import InputError

        raise InputError(f"unknown fill mode {mode!r}; use direct or recursive")
    spec = resolve_devices(device)[0]
    determinism = configure_determinism()
    rendered = FramePattern.parse(input_pattern).scan()
    first = probe_exr(rendered[min(rendered)]) if rendered else None
    x0, y0, x1, y1 = first.parts[0].display_window if first else (0, 0, -1, -1)
    width, height = x1 - x0 + 1, y1 - y0 + 1
    plan = plan_fill_memory(width, height, decoded_frame_bytes(first) if first else 0,
                            scale=auto_rife_scale(width) if scale is None else scale,
                            budget_bytes=memory_budget_bytes, scale_given=scale is not None)
    scale = plan.scale
    name, sha = model_identity(model, Path(weights) if weights else None)
    # The network loads on the first frame that needs it: a rerun that only copies
    # or skips frames never pays for torch and the weights.
    interpolator = LazyInterpolator(name, lambda: load_interpolator(
        model, weights=Path(weights) if weights else None, device=spec.device, precision=spec.precision, scale=scale
    ).model)
    options = FillOptions(
        model_id=name,
        model_sha256=sha,
        mode=mode,  # type: ignore[arg-type]
        color=color,
        device=spec.device,
        detect_cuts=detect_cuts,
        channels_per_batch=plan.channels_per_batch,
        cached_frames=plan.cached_frames,
        frame_budget_bytes=memory_budget_bytes,
        extra_job={"precision": spec.precision, "rife_scale": scale, "determinism": determinism,
                   "bit_identical": not spec.is_cuda},
    )
    result = fill_sequence(
        input_pattern, output_pattern, frames=frames, interpolator=interpolator, options=options,
        report=report, cancelled=cancelled,
    )
    return replace(result, memory_plan=asdict(plan))


def upscale(
    input_path: str,
    output_path: str,
    *,
    frames: Sequence[int] | None = None,
    model: str | None = None,
    weights: str | Path | None = None,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    aspect: str = "error",
    tile_px: int | None = None,
    memory_budget_bytes: int | None = None,
    device: str = "auto",
    alpha: str | None = None,
    layers: str = "all",
    color: ColorSetup = ColorSetup(),
    codec: str = "auto",
    crf: int | None = None,
    cache_dir: str | Path | None = None,
    keep_cache: bool = False,
    report: Reporter = null_reporter,
    cancelled: Callable[[], bool] = never_cancelled,
) -> UpscaleResult:
    """Upscale a frame sequence (EXR, PNG, TIFF, JPEG pattern) or a video file into ``output_path``.

    ``model``: a registry name (default ``realesrgan-x4plus``); a family name with
    a whole ``scale`` picks that family's card (``realesr-animevideov3`` + 2 ->
    ``-x2``); ``lanczos`` needs no weights. ``weights``: an official ``.pth`` or an
    ncnn ``.param`` to use instead of the cached file. ``scale`` or ``size`` (W, H;
    not both) set the output; ``aspect`` (error, stretch, fit, fill) says what to
    do when ``size`` changes the aspect ratio. ``tile_px`` fixes the tile size (0:
    untiled), else it follows ``memory_budget_bytes``. ``alpha`` (network or
    lanczos; None: the pipeline's measured default) and ``layers`` (all or
    beauty) are for EXR/RGBA frames; ``frames`` selects frames of a sequence;
    ``codec``, ``crf``, ``cache_dir`` and ``keep_cache`` are for video.

    Raises:
        InputError: bad arguments, unreadable inputs, or input and output of different kinds.
        SequenceError, ExrError, ModelNotFoundError, WeightsMismatchError,
        UnsupportedModelError, DeviceError: as their names say.
        CancelledError: ``cancelled()`` became true; finished frames (or the video's frame cache) are kept.
    """
    from framefill.pipeline.upscale import DEFAULT_ALPHA, upscale_job

    return upscale_job(
        input_path, output_path, frames=frames, model=model, weights=weights, scale=scale, size=size,
        aspect=aspect,  # type: ignore[arg-type]  # validated by the pipeline
        tile_px=tile_px, memory_budget_bytes=memory_budget_bytes, device=device,
        alpha=alpha or DEFAULT_ALPHA,  # type: ignore[arg-type]
        layers=layers,  # type: ignore[arg-type]
        color=color, codec=codec, crf=crf, cache_dir=cache_dir, keep_cache=keep_cache, report=report,
        cancelled=cancelled,
    )


def qc_shot(
    pattern: str,
    *,
    filled: Sequence[int] | None = None,
    frames: Sequence[int] | None = None,
    truth: str | None = None,
    report_dir: str | Path | None = None,
    threshold_db: float | None = None,
    calibration: str | Path | None = None,
    cost_per_frame_min: float | None = None,
    device: str = "cpu",
    report: Reporter = null_reporter,
    cancelled: Callable[[], bool] = never_cancelled,
) -> QcResult:
    """Score the filled frames of ``pattern`` and list the ones that still need a real render.

    ``truth`` (a pattern of real renders) adds the true error; ``report_dir`` receives
    heatmaps, ``report.html`` and ``qc.json``. See :func:`framefill.pipeline.qc.qc_sequence`.
    """
    from framefill.pipeline.qc import DEFAULT_COST_PER_FRAME_MIN, qc_sequence

    return qc_sequence(
        pattern, filled=filled, frames=frames, truth=truth, report_dir=report_dir, threshold_db=threshold_db,
        calibration=calibration,
        cost_per_frame_min=DEFAULT_COST_PER_FRAME_MIN if cost_per_frame_min is None else cost_per_frame_min,
        device=device, report=report, cancelled=cancelled,
    )


def plan_shot(frames: Sequence[int], *, every: int) -> tuple[int, ...]:
    """The keyframes to render first: every ``every``-th frame plus the last."""
    from framefill.pipeline.plan import keyframes

    return keyframes(frames, every)


def make_bundle(
    kind: str,
    *,
    out_dir: str | Path,
    params: Mapping[str, Any] | None = None,
    input_pattern: str | Path | None = None,
    output_pattern: str | Path | None = None,
    frames: str | None = None,
    keyframes: str | None = None,
    filled: str | None = None,
    chunk_size: int | None = None,
    model: str | None = None,
    report_dir: str | Path | None = None,
    render_step: Mapping[str, Any] | None = None,
    render_parameters: Sequence[Mapping[str, Any]] = (),
    name: str | None = None,
    gpu_memory_mib: int | None = None,
) -> Path:
    """Write a Deadline Cloud job bundle (``fill``, ``upscale``, ``qc`` or ``sparse_pipeline``) into ``out_dir``.

    See :func:`framefill.farm.bundle.make_bundle` for how the shortcuts fill template parameters.
    """
    from framefill.farm.bundle import make_bundle as write_bundle

    return write_bundle(
        kind, out_dir=out_dir, params=params, input_pattern=input_pattern, output_pattern=output_pattern,
        frames=frames, keyframes=keyframes, filled=filled, chunk_size=chunk_size, model=model,
        report_dir=report_dir, render_step=render_step, render_parameters=render_parameters, name=name,
        gpu_memory_mib=gpu_memory_mib,
    )
