"""Typed requests: what a caller asks framefill to do, validated once at construction.

The CLI, :mod:`framefill.api`, the farm tasks and the host adapters all build
these objects, so a value is checked in one place whoever passes it. A bad
value raises :class:`~framefill.errors.RequestError`, one line that names the
*field* (``scale must be a positive number, got nan``); the CLI renames fields
to its own flags (``--scale must be ...``), a host shows the field name.

Nothing here imports torch, OpenEXR or OpenCV.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, get_args

from framefill.color import ColorSetup
from framefill.errors import RequestError

__all__ = [
    "FillMode",
    "Aspect",
    "AlphaMethod",
    "LayerPolicy",
    "VideoCodec",
    "VideoStep",
    "UpscaleBackend",
    "UpscalePrecision",
    "BundleKind",
    "FillRequest",
    "UpscaleRequest",
    "QcRequest",
    "BundleRequest",
    "PatchRequest",
    "VideoInterpRequest",
    "DEFAULT_FILL_MODE",
    "DEFAULT_INTERPOLATION_MODEL",
    "AUTO_INTERPOLATION_MODEL",
    "MAX_CRF",
    "MAX_UPSCALE_SCALE",
    "MAX_OUTPUT_SIDE_PX",
    "parse_frames",
    "parse_memory_size",
    "parse_size",
    "parse_rate",
]

FillMode = Literal["direct", "recursive"]
Aspect = Literal["error", "stretch", "fit", "fill"]
AlphaMethod = Literal["network", "lanczos"]
LayerPolicy = Literal["all", "beauty"]
VideoCodec = Literal["auto", "h264", "prores", "lossless"]
# A video upscale in one process (whole), or split for a farm: segment tasks, then one join.
VideoStep = Literal["whole", "segment", "join"]
# What runs an upscaler's network: torch, or ONNX Runtime (models/ort_backend.py).
UpscaleBackend = Literal["torch", "onnxruntime"]
# The arithmetic of an upscaler's network: auto (fp16 on CUDA where the model allows, else fp32), or named;
# bf16 is for CPUs with bf16 instructions (oneDNN), about 1.9x fp32's speed there.
UpscalePrecision = Literal["auto", "fp32", "bf16"]
BundleKind = Literal["fill", "upscale", "qc", "sparse_pipeline", "upscale_video"]

# Gaps longer than one frame: recursive halving measured better than direct
# filling in 9 of 10 cases (rife-4, keeping 1 frame in 3 or 4 of the sample shot
# and four test scenes; mean +0.15 dB, range -0.21..+0.54 dB): bench/fill_modes.py.
DEFAULT_FILL_MODE: FillMode = "recursive"
DEFAULT_INTERPOLATION_MODEL = "rife-4"
# Largest --batch: a round of fills keeps its frames decoded (pipeline/fill_ahead.py).
MAX_FILL_BATCH = 64
# A fill's model chosen per shot from its own keyframe checks (pipeline/model_choice.py).
AUTO_INTERPOLATION_MODEL = "auto"
# x264's constant-rate-factor scale for 8-bit output.
MAX_CRF = 51
# RIFE's resolution scale: 1/16 of the frame is the coarsest its pyramid can use,
# and above 4 it would only upsample the inputs.
MIN_RIFE_SCALE = 1.0 / 16
MAX_RIFE_SCALE = 4.0
# An upscale factor beyond 16 is no longer an upscale a network helps with; and no
# output side beyond 64K pixels (EXR and every codec framefill writes stop there).
MAX_UPSCALE_SCALE = 16.0
MAX_OUTPUT_SIDE_PX = 65536
# What interpolation writes: EXR, and the raster formats of frames/raster.py.
_FILL_EXTENSIONS = (".exr", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".dpx")
# Smaller tiles are mostly the context they borrow from their neighbours.
MIN_TILE_PX = 32
# Retiming beyond high-speed-camera rates is a typo, not a delivery format.
MAX_FPS = 1000


# ---------------------------------------------------------------------------------------
# Field checks: each raises RequestError naming the field
# ---------------------------------------------------------------------------------------


def _rife_scale(obj: Any) -> None:
    """``scale``: None (by frame width) or a RIFE resolution scale."""
    _freeze(obj, "scale", _positive("scale", obj.scale, upper=MAX_RIFE_SCALE))
    if obj.scale is not None and obj.scale < MIN_RIFE_SCALE:
        raise RequestError("scale", f"must be at least {MIN_RIFE_SCALE:g} (RIFE's coarsest level), got {obj.scale!r}")


def _mix(obj: Any) -> None:
    """``mix``: None, or rife-4's share (above 0, below 1) of a fused model's fill (models/ensemble.py)."""
    from framefill.models.registry import MODELS

    if obj.mix is None:
        return
    if obj.model not in MODELS or not MODELS.get(obj.model).members:
        raise RequestError("mix", f"is the share of each network in rife-4+hdv3's fill; --model {obj.model} "
                                  "does not mix two networks (--model auto picks its own mix): leave --mix out")
    if isinstance(obj.mix, bool) or not isinstance(obj.mix, (int, float)) or not 0 < obj.mix < 1:
        raise RequestError("mix", f"must be a number above 0 and below 1 (rife-4's share; 0 or 1 is one network "
                                  f"alone: name rife-hdv3 or rife-4), got {obj.mix!r}")
    _freeze(obj, "mix", float(obj.mix))


def _interp_backend(backend: Any, model: str) -> None:
    """An interpolation backend (the upscale backends' names); ``--model auto`` runs in torch only."""
    _choice("backend", backend, UpscaleBackend, "an interpolation backend")
    if backend == "onnxruntime" and model == AUTO_INTERPOLATION_MODEL:
        raise RequestError("backend", "onnxruntime runs rife-4 only, and --model auto's candidates include "
                                      "rife-hdv3: name --model rife-4, or use --backend torch")


def _choice(name: str, value: Any, allowed: Any, what: str) -> None:
    options = get_args(allowed)
    if value not in options:
        raise RequestError(name, f"{value!r} is not {what}; use {', '.join(options)}")


def _text(name: str, value: Any, *, example: str) -> str:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value).strip():
        raise RequestError(name, f"is required: {example}")
    return os.fspath(value)


def _optional_path(name: str, value: Any) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value).strip():
        raise RequestError(name, f"must be a path, got {value!r}")
    return Path(value)


def _positive(name: str, value: Any, *, upper: float | None = None, lower: float = 0.0) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= lower:
        raise RequestError(name, f"must be a number above {lower:g}, got {value!r}")
    if upper is not None and value > upper:
        raise RequestError(name, f"must be at most {upper:g}, got {value!r}")
    return float(value)


def _whole(name: str, value: Any, *, minimum: int, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RequestError(name, f"must be a whole number >= {minimum}, got {value!r}")


def _frames(name: str, value: Any) -> tuple[int, ...] | None:
    """A frame selection: None, a range string (``1001-1100:2``) or a sequence of ints."""
    if value is None:
        return None
    if isinstance(value, str):
        from framefill.errors import SequenceError
        from framefill.frames.sequence import parse_frame_range

        try:
            return tuple(sorted(set(parse_frame_range(value))))
        except SequenceError as err:
            raise RequestError(name, f"{value!r} is not a frame range ({err.msg})") from None
    if not isinstance(value, Sequence) or not all(isinstance(f, int) and not isinstance(f, bool) for f in value):
        raise RequestError(name, f"must be frame numbers or a range such as 1001-1100, got {value!r}")
    if not value:
        raise RequestError(name, "is empty; give at least one frame, or leave it out for the whole range")
    return tuple(sorted(set(value)))


def _device(name: str, value: Any) -> str:
    from framefill.errors import DeviceError
    from framefill.runtime.device import parse_device

    try:
        return parse_device(str(value))
    except DeviceError as err:
        raise RequestError(name, err.msg.removeprefix("unknown device ")) from None


def _model_name(name: str, value: Any, task: str) -> None:
    from framefill.models.registry import MODELS

    if not isinstance(value, str) or value not in MODELS:
        known = ", ".join(c.name for c in MODELS if c.task == task)
        raise RequestError(name, f"{value!r} is not a known {task} model; use one of {known}")
    card = MODELS.get(value)
    if card.task != task:
        raise RequestError(name, f"{value!r} is a model for {card.task}, not {task}; see `framefill models list`")


def _color_fields(obj: Any) -> None:
    """Check ``color_config``/``colorspace`` (OCIO loads them) and an explicit ``color``; one of the two ways."""
    from framefill.color import check_color, config_from_env
    from framefill.errors import ColorError

    color, config, space = obj.color, obj.color_config, obj.colorspace
    if color is not None and not isinstance(color, ColorSetup):
        raise RequestError("color", f"must be a ColorSetup, got {color!r}")
    for name, value in (("color_config", config), ("colorspace", space)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise RequestError(name, f"must be a name, got {value!r}")
    if color is not None and (config is not None or space is not None):
        raise RequestError("color", "and color_config/colorspace both set the colour; give one of them")
    try:
        check_color(config_from_env(config))
    except ColorError as err:
        if config is None:  # from $OCIO
            raise ColorError(f"$OCIO: {err.msg}") from None
        raise RequestError("color_config", err.msg) from None
    try:
        check_color(config_from_env(config), space, what="")
    except ColorError as err:
        raise RequestError("colorspace", err.msg) from None


def _crf(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CRF):
        raise RequestError(name, f"{value!r} is outside H.264's constant rate factor range, 0 (lossless) to {MAX_CRF}")


def _rate(name: str, value: Any) -> Fraction | None:
    """A frame rate: a number, a ``Fraction`` or text (``"60"``, ``"59.94"``, ``"60000/1001"``); decimals
    of an NTSC rate mean it exactly (59.94 -> 60000/1001, see :func:`framefill.frames.video.nominal_rate`)."""
    if value is None:
        return None
    from framefill.frames.video import nominal_rate

    example = "e.g. 48, 59.94 or 60000/1001"
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Fraction)):
            raise ValueError
        rate = nominal_rate(value.strip() if isinstance(value, str) else value)
    except (ValueError, ZeroDivisionError, OverflowError):
        raise RequestError(name, f"must be a frame rate ({example}), got {value!r}") from None
    if rate <= 0:
        raise RequestError(name, f"must be a frame rate above 0 ({example}), got {value!r}")
    if rate > MAX_FPS:
        raise RequestError(name, f"must be at most {MAX_FPS} frames per second, got {value!r}")
    return rate


def _freeze(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


class _Request:
    """Shared behaviour: a plain dict of the fields (for logs, farm params and tests)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, ColorSetup):
                value = [value.config, value.scene_linear, value.network]
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Fraction):
                value = str(value)
            out[f.name] = value
        return out


# ---------------------------------------------------------------------------------------
# The requests
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FillRequest(_Request):
    """Fill the unrendered frames of a shot: EXR, PNG, TIFF, JPEG or DPX (``framefill interpolate``).

    ``frames``: the output frames (a range string or ints; None: first to last
    rendered). ``scale``: RIFE's resolution scale (None: by frame width).
    ``mix``: rife-4's share of rife-4+hdv3's fill (None: even; see models/ensemble.py).
    ``memory_budget_bytes``: bound the fill (a smaller scale unless one is
    given, fewer channels warped at once, fewer frames kept decoded).
    ``in_place``: the output may be the input pattern itself (only the missing
    frames are written beside the renders); otherwise that is refused.
    ``backend``: torch, or ``onnxruntime`` (rife-4 only; models/ort_interp.py).
    ``batch``: fills per network run (recursive gaps: pairs per level); with ``device="all"`` the batches spread over
    every GPU (pipeline/fill_ahead.py).
    """

    input_pattern: str
    output_pattern: str
    _: KW_ONLY
    frames: tuple[int, ...] | None = None
    model: str = DEFAULT_INTERPOLATION_MODEL
    weights: Path | None = None
    device: str = "auto"
    batch: int = 1
    mode: FillMode = DEFAULT_FILL_MODE
    scale: float | None = None
    mix: float | None = None
    memory_budget_bytes: int | None = None
    color: ColorSetup | None = None
    color_config: str | None = None
    colorspace: str | None = None
    detect_cuts: bool = True
    in_place: bool = False
    backend: UpscaleBackend = "torch"

    def __post_init__(self) -> None:
        _freeze(self, "input_pattern", _text("input_pattern", self.input_pattern, example="renders/shot.####.exr"))
        _freeze(self, "output_pattern", _text("output_pattern", self.output_pattern, example="out/shot.####.exr"))
        if not self.output_pattern.lower().endswith(_FILL_EXTENSIONS):
            raise RequestError("output_pattern", f"{self.output_pattern} must be an {', '.join(_FILL_EXTENSIONS)} "
                                                 "pattern (EXR keeps every layer)")
        _freeze(self, "frames", _frames("frames", self.frames))
        if self.model != AUTO_INTERPOLATION_MODEL:
            _model_name("model", self.model, "interpolate")
        _freeze(self, "weights", _optional_path("weights", self.weights))
        if self.model == AUTO_INTERPOLATION_MODEL and self.weights is not None:
            raise RequestError("weights", "are one network's; --model auto tests the pinned ones: name the model "
                                          "the weights belong to (e.g. --model rife-4)")
        _freeze(self, "device", _device("device", self.device))
        _whole("batch", self.batch, minimum=1, allow_none=False)
        if self.batch > MAX_FILL_BATCH:
            raise RequestError("batch", f"must be at most {MAX_FILL_BATCH} (each fill in a round keeps its two "
                                        f"frames decoded), got {self.batch}")
        _choice("mode", self.mode, FillMode, "a fill mode")
        _rife_scale(self)
        _mix(self)
        _whole("memory_budget_bytes", self.memory_budget_bytes, minimum=1)
        _color_fields(self)
        _interp_backend(self.backend, self.model)


@dataclass(frozen=True)
class UpscaleRequest(_Request):
    """Upscale a frame sequence (EXR, PNG, TIFF, JPEG pattern) or a video file.

    ``model``: a registry name (None: the default upscaler); a family name with
    a whole ``scale`` picks that family's card. ``scale`` or ``size`` (W, H; not
    both) set the output; ``aspect`` says what to do when ``size`` changes the
    aspect ratio. ``tile_px`` fixes the tile size (0: untiled), else it follows
    ``memory_budget_bytes``. ``alpha`` and ``layers`` are for EXR/RGBA frames;
    ``frames`` selects frames of a sequence; ``codec``, ``crf``, ``cache_dir``
    and ``keep_cache`` are for video. ``video_step`` splits a video job for a
    farm: ``segment`` upscales ``frames`` (0 = the first frame) into the frame
    cache and writes no video; ``join`` writes the video from that cache only.
    ``backend`` runs the network in torch or ONNX Runtime (``onnxruntime``).
    """

    input_path: str
    output_path: str
    _: KW_ONLY
    frames: tuple[int, ...] | None = None
    model: str | None = None
    weights: Path | None = None
    scale: float | None = None
    size: tuple[int, int] | None = None
    aspect: Aspect = "error"
    tile_px: int | None = None
    memory_budget_bytes: int | None = None
    device: str = "auto"
    alpha: AlphaMethod = "network"
    layers: LayerPolicy = "all"
    color: ColorSetup | None = None
    color_config: str | None = None
    colorspace: str | None = None
    color_fix: bool | None = None
    codec: VideoCodec = "auto"
    crf: int | None = None
    cache_dir: Path | None = None
    keep_cache: bool = False
    video_step: VideoStep = "whole"
    backend: UpscaleBackend = "torch"
    precision: UpscalePrecision = "auto"

    def __post_init__(self) -> None:
        _freeze(self, "input_path", _text("input_path", self.input_path, example="renders/shot.####.exr or in.mp4"))
        _freeze(self, "output_path", _text("output_path", self.output_path, example="out/shot.####.exr or out.mp4"))
        _freeze(self, "frames", _frames("frames", self.frames))
        if self.model is not None:
            _model_name("model", self.model, "upscale")
        _freeze(self, "weights", _optional_path("weights", self.weights))
        _freeze(self, "scale", _positive("scale", self.scale, upper=MAX_UPSCALE_SCALE))
        self._check_size()
        _choice("aspect", self.aspect, Aspect, "an aspect policy")
        _whole("tile_px", self.tile_px, minimum=0)
        if self.tile_px is not None and 0 < self.tile_px < MIN_TILE_PX:
            raise RequestError("tile_px", f"{self.tile_px} is too small: a tile of under {MIN_TILE_PX} px is mostly "
                                          "overlap (a 1080p frame would take hours); use 0 (untiled) or 256 and up")
        _whole("memory_budget_bytes", self.memory_budget_bytes, minimum=1)
        _freeze(self, "device", _device("device", self.device))
        _choice("alpha", self.alpha, AlphaMethod, "an alpha method")
        _choice("layers", self.layers, LayerPolicy, "a layers policy")
        _choice("codec", self.codec, VideoCodec, "a video codec")
        _color_fields(self)
        if self.color_fix is not None and not isinstance(self.color_fix, bool):
            raise RequestError("color_fix", f"must be true, false or None (the model's default), "
                                            f"got {self.color_fix!r}")
        _crf("crf", self.crf)
        _freeze(self, "cache_dir", _optional_path("cache_dir", self.cache_dir))
        _choice("backend", self.backend, UpscaleBackend, "an upscale backend")
        _choice("precision", self.precision, UpscalePrecision, "an upscale precision")
        if self.precision == "bf16" and self.backend != "torch":
            raise RequestError("precision", "bf16 runs on the torch backend; use --backend torch, or --precision "
                                            "fp32 with onnxruntime")
        self._check_kinds()

    def _check_size(self) -> None:
        if self.size is None:
            return
        size = self.size
        if (not isinstance(size, (tuple, list)) or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_OUTPUT_SIDE_PX
                           for v in size)):
            raise RequestError("size", f"must be (width, height) in whole pixels from 1 to {MAX_OUTPUT_SIDE_PX}, "
                                       f"got {size!r}")
        _freeze(self, "size", (int(size[0]), int(size[1])))
        if self.scale is not None:
            raise RequestError("size", "and scale both set the output; give one of them")

    def _check_kinds(self) -> None:
        from framefill.frames.video import is_video_path

        video_in, video_out = is_video_path(self.input_path), is_video_path(self.output_path)
        if video_in != video_out:
            raise RequestError("output_path", f"{self.output_path} is not the same kind as {self.input_path}: "
                                              "a video upscales to a video and frames to frames")
        _choice("video_step", self.video_step, VideoStep, "a video step")
        if self.video_step != "whole" and not video_in:
            raise RequestError("video_step", f"{self.video_step} is a step of a video job; {self.input_path} is "
                                             "not a video")
        if video_in and self.frames is not None and self.video_step != "segment":
            raise RequestError("frames", "selects frames of a sequence; a video is upscaled whole, except by a "
                                         "farm segment (--segment)")
        if video_in and self.colorspace is not None:
            raise RequestError("colorspace", "names the encoding of frame files; a video's frames go to the network "
                                             "as decoded (sRGB)")

    @property
    def is_video(self) -> bool:
        from framefill.frames.video import is_video_path

        return is_video_path(self.input_path)


@dataclass(frozen=True)
class QcRequest(_Request):
    """Score the filled frames of a shot and list the ones that still need a real render.

    ``filled``: the filled frames (None: from the manifest); ``frames``: score only
    these (a farm chunk); ``truth``: real renders of the same frames;
    ``report_dir``: heatmaps, ``report.html`` and ``qc.json``; ``threshold_db``:
    None takes the calibration's; ``calibration``: None takes the shipped one;
    ``cost_per_frame_min`` (None: the default) prices the savings; ``device``
    runs the model when features must be recomputed and for the keyframe checks;
    ``keyframe_check``: fill each checkable rendered frame from its rendered
    neighbours and use the measured error as evidence (see
    :mod:`framefill.pipeline.keyframe_check`); ``confidence`` (None: the
    calibration's) is how sure QC must be that an accepted frame is above the threshold.
    """

    pattern: str
    _: KW_ONLY
    filled: tuple[int, ...] | None = None
    frames: tuple[int, ...] | None = None
    truth: str | None = None
    report_dir: Path | None = None
    threshold_db: float | None = None
    calibration: Path | None = None
    cost_per_frame_min: float | None = None
    device: str = "cpu"
    keyframe_check: bool = True
    confidence: float | None = None
    color: ColorSetup | None = None
    color_config: str | None = None
    colorspace: str | None = None

    def __post_init__(self) -> None:
        _freeze(self, "pattern", _text("pattern", self.pattern, example="filled/shot.####.exr"))
        _color_fields(self)
        if not isinstance(self.keyframe_check, bool):
            raise RequestError("keyframe_check", f"must be true or false, got {self.keyframe_check!r}")
        if self.confidence is not None:
            value = self.confidence
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.5 <= value < 1.0:
                raise RequestError("confidence",
                                   f"must be a probability from 0.5 to below 1 (e.g. 0.95), got {value!r}")
            _freeze(self, "confidence", float(value))
        _freeze(self, "filled", _frames("filled", self.filled))
        _freeze(self, "frames", _frames("frames", self.frames))
        if self.truth is not None:
            _freeze(self, "truth", _text("truth", self.truth, example="full/shot.####.exr"))
        _freeze(self, "report_dir", _optional_path("report_dir", self.report_dir))
        if self.threshold_db is not None:
            value = self.threshold_db
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise RequestError("threshold_db", f"must be a number of dB, got {value!r}")
            _freeze(self, "threshold_db", float(value))
        _freeze(self, "calibration", _optional_path("calibration", self.calibration))
        if self.cost_per_frame_min is not None:
            value = self.cost_per_frame_min
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise RequestError("cost_per_frame_min", f"must be a number of minutes >= 0, got {value!r}")
            _freeze(self, "cost_per_frame_min", float(value))
        _freeze(self, "device", _device("device", self.device))


@dataclass(frozen=True)
class PatchRequest(_Request):
    """Merge region re-renders into filled frames (``framefill patch``).

    ``pattern``: the filled sequence (its manifest sits beside it); ``renders``:
    the region renders, one file per frame: an EXR whose data window is the
    region inside the display window, or a full-size frame whose regions come
    from ``regions`` (a ``qc.json`` or ``regions.json``; None: the regions QC
    recorded in the manifest). ``frames``: None patches every frame of the
    manifest that has a render; ``feather_px``: the seam band inside each region.
    """

    pattern: str
    _: KW_ONLY
    renders: str = ""
    frames: tuple[int, ...] | None = None
    regions: Path | None = None
    feather_px: int = 8

    def __post_init__(self) -> None:
        _freeze(self, "pattern", _text("pattern", self.pattern, example="filled/shot.####.exr"))
        _freeze(self, "renders", _text("renders", self.renders, example="regions/shot.####.exr"))
        _freeze(self, "frames", _frames("frames", self.frames))
        _freeze(self, "regions", _optional_path("regions", self.regions))
        _whole("feather_px", self.feather_px, minimum=0, allow_none=False)


@dataclass(frozen=True)
class BundleRequest(_Request):
    """A Deadline Cloud job bundle of one of framefill's templates.

    ``params`` holds template parameter values by name (``{"Device": "cuda:0"}``,
    ``{"deadline:priority": 60}``); the other fields are shortcuts that fill the
    same parameters (``input_pattern`` -> InputDir + InputPattern, ...; see
    :func:`framefill.farm.bundle.write_bundle`). ``render_step`` is a host's own
    OpenJD step put first (its extra job parameters in ``render_parameters``).
    ``conda_packages`` are conda package specs a host's step needs on the worker
    (``("blender=4.2",)``), appended to the job's CondaPackages.
    """

    kind: BundleKind
    out_dir: Path
    _: KW_ONLY
    params: Mapping[str, Any] = field(default_factory=dict)
    input_pattern: str | None = None
    output_pattern: str | None = None
    frames: str | None = None
    keyframes: str | None = None
    filled: str | None = None
    chunk_size: int | None = None
    model: str | None = None
    report_dir: Path | None = None
    render_step: Mapping[str, Any] | None = None
    render_parameters: tuple[Mapping[str, Any], ...] = ()
    name: str | None = None
    gpu_memory_mib: int | None = None
    conda_packages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _choice("kind", self.kind, BundleKind, "a job template")
        path = _optional_path("out_dir", self.out_dir)
        if path is None:
            raise RequestError("out_dir", "is required: the folder the bundle is written to")
        _freeze(self, "out_dir", path)
        if not isinstance(self.params, Mapping):
            raise RequestError("params", f"must map parameter names to values, got {self.params!r}")
        _freeze(self, "params", {str(k): v for k, v in self.params.items()})
        _whole("chunk_size", self.chunk_size, minimum=1)
        _whole("gpu_memory_mib", self.gpu_memory_mib, minimum=1)
        if self.model is not None:
            task = "upscale" if self.kind in ("upscale", "upscale_video") else "interpolate"
            _model_name("model", self.model, task)
        _freeze(self, "report_dir", _optional_path("report_dir", self.report_dir))
        if self.render_step is not None and not isinstance(self.render_step, Mapping):
            raise RequestError("render_step", "must be an OpenJD step (a mapping with name and script)")
        _freeze(self, "render_parameters", tuple(self.render_parameters))
        if self.render_parameters and self.render_step is None:
            raise RequestError("render_parameters", "were given without a render_step")
        if self.name is not None and not str(self.name).strip():
            raise RequestError("name", "must not be empty")
        if isinstance(self.conda_packages, str) or not isinstance(self.conda_packages, Sequence):
            raise RequestError("conda_packages", f"must be a list of conda package specs, got {self.conda_packages!r}")
        _freeze(self, "conda_packages", tuple(self.conda_packages))
        for spec in self.conda_packages:
            if not isinstance(spec, str) or not spec.strip() or len(spec.split()) != 1 or "'" in spec or '"' in spec:
                raise RequestError("conda_packages", f"{spec!r} is not one conda package spec; give e.g. blender=4.2 "
                                                     "(one spec per entry, no spaces or quotes)")


@dataclass(frozen=True)
class VideoInterpRequest(_Request):
    """Retime a video file and/or replace its repeated frames (``framefill interpolate in.mov --out out.mov``).

    ``fps``: the output frame rate (a number, a ``Fraction`` or text: ``60``,
    ``"60000/1001"``; ``59.94`` means 60000/1001); None keeps the input's.
    ``replace_duplicates``: fill repeated frames from their distinct
    neighbours. At least one of the two. ``scale``: RIFE's resolution scale
    (None: by frame width). ``mix``: rife-4's share of rife-4+hdv3's fill (None: even).
    ``detect_cuts``: never fill across a scene cut
    (hold the nearer frame). ``codec`` (``lossless``: FFV1 in .mkv, PNG in
    .mov), ``crf``, ``cache_dir`` and ``keep_cache`` as for upscaling a video.
    ``backend``: torch, or ``onnxruntime`` (rife-4 only; models/ort_interp.py).
    """

    input_path: str
    output_path: str
    _: KW_ONLY
    fps: Fraction | None = None
    replace_duplicates: bool = False
    model: str = DEFAULT_INTERPOLATION_MODEL
    weights: Path | None = None
    device: str = "auto"
    scale: float | None = None
    mix: float | None = None
    detect_cuts: bool = True
    codec: VideoCodec = "auto"
    crf: int | None = None
    cache_dir: Path | None = None
    keep_cache: bool = False
    backend: UpscaleBackend = "torch"

    def __post_init__(self) -> None:
        from framefill.frames.video import VIDEO_EXTENSIONS, is_video_path

        _freeze(self, "input_path", _text("input_path", self.input_path, example="in.mov"))
        _freeze(self, "output_path", _text("output_path", self.output_path, example="out.mov"))
        if not is_video_path(self.input_path):
            raise RequestError("input_path", f"{self.input_path} is not a video file ({', '.join(VIDEO_EXTENSIONS)}); "
                                             "only a video is retimed or has repeats replaced; a frame sequence "
                                             "is filled by frame number")
        if not is_video_path(self.output_path):
            raise RequestError("output_path", f"{self.output_path} is not a video file; a video interpolates to a "
                                              f"video ({', '.join(VIDEO_EXTENSIONS)})")
        _freeze(self, "fps", _rate("fps", self.fps))
        if not isinstance(self.replace_duplicates, bool):
            raise RequestError("replace_duplicates", f"must be true or false, got {self.replace_duplicates!r}")
        if self.fps is None and not self.replace_duplicates:
            raise RequestError("fps", "is required: the output frame rate (e.g. 60), unless only repeated frames "
                                      "are to be replaced (replace_duplicates, --replace-duplicates)")
        if self.model != AUTO_INTERPOLATION_MODEL:
            _model_name("model", self.model, "interpolate")
        _freeze(self, "weights", _optional_path("weights", self.weights))
        if self.model == AUTO_INTERPOLATION_MODEL and self.weights is not None:
            raise RequestError("weights", "are one network's; --model auto tests the pinned ones: name the model "
                                          "the weights belong to (e.g. --model rife-4)")
        _freeze(self, "device", _device("device", self.device))
        _rife_scale(self)
        _mix(self)
        _choice("codec", self.codec, VideoCodec, "a video codec")
        _crf("crf", self.crf)
        _freeze(self, "cache_dir", _optional_path("cache_dir", self.cache_dir))
        _interp_backend(self.backend, self.model)

    @staticmethod
    def asked_for(input_path: str, output_path: str, *, fps: Any, replace_duplicates: bool) -> bool:
        """Whether these arguments ask for a video job rather than a sequence fill: a video file on either
        side, or a video-only option (the request then refuses what does not fit, in one line)."""
        from framefill.frames.video import is_video_path

        return is_video_path(input_path) or is_video_path(output_path) or bool(fps) or bool(replace_duplicates)


# ---------------------------------------------------------------------------------------
# Text a person types, for the fields above (the CLI, a host's text knob)
# ---------------------------------------------------------------------------------------


def parse_memory_size(text: str, *, field: str = "memory_budget_bytes") -> int:
    """``"8G"``, ``"512M"``, ``"4096"`` -> bytes (powers of 1024).

    Raises:
        RequestError: not a size above zero, naming ``field``.
    """
    from framefill.errors import InputError
    from framefill.runtime.memory import parse_byte_size

    try:
        value = parse_byte_size(text)
    except InputError:
        value = 0
    if value <= 0:
        raise RequestError(field, f"{text!r} is not a memory size; use bytes or a number with K, M, G or T "
                                  "(e.g. 4G)")
    return value


def parse_size(text: str, *, field: str = "size") -> tuple[int, int]:
    """``"3840x2160"`` -> (3840, 2160).

    Raises:
        RequestError: not WIDTHxHEIGHT with whole numbers from 1 to 65536, naming ``field``.
    """
    parts = str(text).lower().replace(" ", "").split("x")
    if len(parts) != 2 or not all(p.isdigit() and 0 < int(p) <= MAX_OUTPUT_SIDE_PX for p in parts):
        raise RequestError(field, f"{text!r} is not WIDTHxHEIGHT in whole pixels (1 to {MAX_OUTPUT_SIDE_PX}), "
                                  "e.g. 3840x2160")
    return int(parts[0]), int(parts[1])


def parse_frames(text: str | None, *, field: str = "frames") -> tuple[int, ...] | None:
    """``"1001-1100:2"`` (any framefill range spelling) -> the frames, sorted; None or "" -> None.

    Raises:
        RequestError: not a frame range, naming ``field``.
    """
    return _frames(field, text) if text else None


def parse_rate(text: str | None, *, field: str = "fps") -> Fraction | None:
    """``"60"``, ``"59.94"`` (= 60000/1001), ``"24000/1001"`` -> the exact rate; None or "" -> None.

    Raises:
        RequestError: not a frame rate above 0 (and at most 1000), naming ``field``.
    """
    return _rate(field, text) if text else None
