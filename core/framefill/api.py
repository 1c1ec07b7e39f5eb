"""The small façade used by the CLI, the hosts and the farm.

Every function takes keyword arguments, reports progress through ``report``
(a callable taking :class:`framefill.events.Event`), checks ``cancelled`` between
frames, and raises :class:`framefill.errors.FramefillError` subclasses with a
one-line message. Nothing here imports torch until a function runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framefill.color import ColorSetup
from framefill.events import Reporter, never_cancelled, null_reporter

if TYPE_CHECKING:
    from framefill.pipeline.fill import FillResult

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
    color: ColorSetup = ColorSetup(),
    detect_cuts: bool = True,
    report: Reporter = null_reporter,
    cancelled: Callable[[], bool] = never_cancelled,
) -> FillResult:
    """Fill every missing frame of ``frames`` (default: first to last rendered frame).

    Rendered frames are copied byte for byte; missing ones are interpolated from
    their nearest rendered neighbours and recorded in the manifest.
    ``scale`` is RIFE's resolution scale (None: 1.0 to 2K, 0.5 to 4K, 0.25 above).
    """
    from framefill.frames import FramePattern, probe_exr
    from framefill.models.interp import LazyInterpolator
    from framefill.models.loading import auto_rife_scale, load_interpolator, model_identity
    from framefill.pipeline.fill import FillOptions, fill_sequence
    from framefill.runtime.device import configure_determinism, resolve_devices

    if mode not in ("direct", "recursive"):
        from framefill.errors import InputError

        raise InputError(f"unknown fill mode {mode!r}; use direct or recursive")
    spec = resolve_devices(device)[0]
    determinism = configure_determinism()
    if scale is None:
        rendered = FramePattern.parse(input_pattern).scan()
        first = probe_exr(rendered[min(rendered)]) if rendered else None
        width = (first.parts[0].display_window[2] - first.parts[0].display_window[0] + 1) if first else 0
        scale = auto_rife_scale(width)
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
        extra_job={"precision": spec.precision, "rife_scale": scale, "determinism": determinism,
                   "bit_identical": not spec.is_cuda},
    )
    return fill_sequence(
        input_pattern, output_pattern, frames=frames, interpolator=interpolator, options=options,
        report=report, cancelled=cancelled,
    )


def upscale(*args: Any, **kwargs: Any) -> Any:
    """Upscale frames or a video; see :func:`framefill.pipeline.upscale.upscale_sequence`."""
    from framefill.pipeline.upscale import upscale_job

    return upscale_job(*args, **kwargs)


def qc_shot(*args: Any, **kwargs: Any) -> Any:
    """Score filled frames; see :func:`framefill.pipeline.qc.qc_sequence`."""
    from framefill.pipeline.qc import qc_job

    return qc_job(*args, **kwargs)


def plan_shot(frames: Sequence[int], *, every: int) -> tuple[int, ...]:
    """The keyframes to render first: every ``every``-th frame plus the last."""
    from framefill.pipeline.plan import keyframes

    return keyframes(frames, every)


def make_bundle(*args: Any, **kwargs: Any) -> Path:
    """Write a Deadline Cloud job bundle; see :func:`framefill.farm.bundle.make_bundle`."""
    from framefill.farm.bundle import make_bundle as _make_bundle

    return _make_bundle(*args, **kwargs)
