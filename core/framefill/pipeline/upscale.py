"""Upscale EXR shots, image sequences and videos: tiles -> model -> seamless merge -> atomic write.

What each kind of channel goes through (EXR):

* **Colour** (the beauty, and every other R,G,B layer unless ``layers="beauty"``):
  the network, on an invertible proxy. HDR method, "clip and carry":

  1. ``p = to_network(linear)``: OCIO's sRGB encoding, unclamped (1.0 -> 1.0,
     50.0 -> ~5.3), exactly invertible.
  2. The network sees ``clip(p, 0, 1)``, the range it was trained on. The part
     outside, ``e = p - clip(p, 0, 1)`` (highlights above 1, negatives below 0),
     is upscaled by a smooth, non-ringing filter (bilinear growth / area shrink).
  3. ``p' = net(clip(p)) + smooth(e)``, then ``linear' = from_network(p')``.

  With the colour fix (``--color-fix``, :mod:`framefill.ops.colorfix`), step 3
  uses ``fix(net(clip(p)))``: the network's output on the whole merged frame
  with its low-pass band replaced by that of ``clip(p)`` resized smoothly, so
  the GAN keeps its detail but not its colour and tone shifts; the carried
  excess is added after, so the HDR path is unchanged.

  Where nothing exceeds [0, 1], ``e = 0`` and this is the plain network. Where
  a highlight is blown, the network draws its shape from the clipped core and
  the carried excess restores its level, so a 50.0 glint comes back near 50.0
  (softened by the smooth filter, never clipped to 1.0, never ringing negative).
* **Alpha**: separately, as a grey image through the network (three equal
  channels in, their mean out; the default, measured 3-5 dB better than
  Lanczos on mattes) or by Lanczos with an anti-ringing clamp (``alpha=``);
  clipped to [0, 1] when the input alpha was within it.
  Colour stays premultiplied, as EXR stores it: colour and alpha are resampled
  on the same grid and with matching footprints; unpremultiplying first would
  divide by tiny alphas at soft edges and hand the network noise to sharpen.
* **Data** (depth, normals, position, motion): the ``smooth`` filter
  (bilinear up, area down), which never overshoots. Values are not rescaled
  (motion vectors in pixel units need multiplying by the scale: a warning says so).
* **IDs** (object/material index, cryptomatte) and any uint channel: nearest,
  bit-exact values.
* Channels that hold one value everywhere stay exactly that value.

Every part, layer, pixel type, attribute, compression and tiling of the input
is kept (per-part work: ``pipeline/upscale_exr.py``); data and display windows are scaled (``fit`` letterboxes by a data
window inside the display window; ``fill`` keeps the overhang as overscan).

Tiling (``ops/tiling.py``): tiles read ``model.tile_overlap_px + feather`` of
context and blend over ``2 * feather``; the tile size comes from ``--tile`` or a
memory budget for the network's working set. DAT (``fidelity``) instead runs
block by block over the whole frame in the same cores, exactly equal to untiled
(``models/arch/dat_tiled.py``): its crops read ``model.tile_overlap_px`` (the
32-px window halo) and nothing is feathered, so that is the overlap recorded; its
whole-frame token maps come out of the budget first (``runtime.memory.plan_upscale_memory``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from framefill.color import DEFAULT_NETWORK_SPACE, ColorSetup, from_network, to_network
from framefill.ops.colorfix import color_fix, color_fix_sigma_px
from framefill.ops.pixels import is_constant
from framefill.ops.resample import (
    clip_and_carry,
    fit_resize,
    place_on_canvas,
    plan_output_size,
    resize,
)
from framefill.ops.tiling import (
    DEFAULT_FEATHER_PX,
    TilePlan,
    plan_tiles,
    run_tiled,
)
from framefill.requests import AlphaMethod, Aspect, LayerPolicy
from framefill.runtime.memory import UpscaleMemoryPlan, plan_upscale_memory, tile_budget

if TYPE_CHECKING:
    from framefill.models.upscale import Upscaler

__all__ = [
    "UpscaleOptions",
    "Runner",
    "FrameOutcome",
    "Flicker",
    "FlickerMeter",
    "UpscaleResult",
    "make_runner",
    "upscale_rgb",
    "upscale_grey",
    "upscale_image",
    "choose_tile_px",
    "plan_tile_memory",
    "lanczos_upscaler",
    "DEFAULT_ALPHA",
    "MAX_TILE_PX",
]

UpscaleStatus = Literal["upscaled", "skipped", "cached"]
# Alpha through the network or Lanczos, measured on the sample shot's object mattes
# area-downscaled x4 and upscaled back (bench/upscale_quality.py --alpha --frames
# 1010-1013, 22 mattes): Lanczos 28.2 dB / SSIM 0.975, animevideov3 31.6 dB / 0.991,
# x4plus 33.4 dB / 0.987, x4plus-anime 34.4 dB / 0.995.
# The network wins; a constant alpha (most renders) costs nothing either way.
DEFAULT_ALPHA: AlphaMethod = "network"
# Past ~1K px a bigger tile only costs memory: the overlap overhead of RRDBNet's
# context is already under 1.4x, SRVGG's under 1.1x.
MAX_TILE_PX = 1024
# Half precision halves activations.
HALF_BYTES_FACTOR = 0.5


# ---------------------------------------------------------------------------------------
# Options, runner, results
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpscaleOptions:
    """How to upscale. ``model_id``/``model_sha256`` go into headers and the manifest."""

    model_id: str
    model_sha256: str = ""
    scale: float | None = None
    size: tuple[int, int] | None = None
    aspect: Aspect = "error"
    tile_px: int | None = None
    memory_budget_bytes: int | None = None
    feather_px: int = DEFAULT_FEATHER_PX
    device: str = "cpu"
    precision: str = "fp32"
    # None: the file's own default (EXR: ColorSetup(), linear Rec.709; images: sRGB, the network's space).
    color: ColorSetup | None = None
    color_fix: bool = False
    alpha: AlphaMethod = DEFAULT_ALPHA
    layers: LayerPolicy = "all"
    flicker: bool = True
    extra_job: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Runner:
    """A loaded upscaler bound to a device and a tiling: what every frame is run through.

    ``model`` is an ``UpscaleModel`` or a ``ClassicalUpscaler``; ``tile_px`` 0 means untiled.
    ``progress`` receives (tiles done, tiles) within a frame. ``color_fix``: the
    network's colour output gets the input's low frequencies (per frame, after merging).
    ``memory_plan``: how ``tile_px`` was chosen (None: a runner built by hand).
    """

    model: Upscaler
    device: str = "cpu"
    dtype: Any = None
    tile_px: int = 0
    feather_px: int = DEFAULT_FEATHER_PX
    progress: Callable[[int, int], None] | None = None
    color_fix: bool = False
    memory_plan: UpscaleMemoryPlan | None = None

    @property
    def classical(self) -> bool:
        return bool(self.model.classical)

    @property
    def exact(self) -> bool:
        """Tiled runs go through the model's own exact tiler (DAT): crops with its halo, no feathering."""
        return not self.classical and bool(self.model.tiles_itself)

    @property
    def scale(self) -> int:
        return 1 if self.classical else int(self.model.scale)

    @property
    def overlap_px(self) -> int:
        """Input pixels a tile reads past its core: the model's context plus the feather (none when exact)."""
        if self.classical:
            return 0
        return int(self.model.tile_overlap_px) + self.tile_feather_px

    @property
    def tile_feather_px(self) -> int:
        """The half-width tiles are blended over: none when the model tiles itself exactly."""
        return 0 if self.exact else self.feather_px

    def plan(self, height: int, width: int) -> TilePlan:
        """The tiles of a frame; for an exact model, the cores and crops of ``dat_tiled`` (unfeathered)."""
        return plan_tiles(
            height, width, tile_px=self.tile_px, overlap_px=self.overlap_px,
            multiple_of=1 if self.classical else int(self.model.multiple_of),
            feather_px=self.tile_feather_px,
        )


@dataclass(frozen=True)
class FrameOutcome:
    frame: int
    status: UpscaleStatus
    seconds: float = 0.0
    tiles: int = 0


@dataclass(frozen=True)
class Flicker:
    """Temporal stability: mean |frame-to-frame difference| of the output and of a Lanczos upscale.

    Both on the display proxy (sRGB-encoded, clipped to [0, 1]) at output size, over
    ``pairs`` consecutive frame pairs. ``ratio`` > 1 means the model adds flicker.
    """

    output_mafd: float
    lanczos_mafd: float
    pairs: int

    @property
    def ratio(self) -> float:
        return self.output_mafd / self.lanczos_mafd if self.lanczos_mafd > 0 else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {"output_mafd": round(self.output_mafd, 6), "lanczos_mafd": round(self.lanczos_mafd, 6),
                "ratio": round(self.ratio, 4) if self.pairs else None, "pairs": self.pairs}


class FlickerMeter:
    """Accumulates :class:`Flicker` over a stream of frames (keeps only the previous pair)."""

    def __init__(self) -> None:
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self._out = 0.0
        self._ref = 0.0
        self.pairs = 0

    def add(self, output: np.ndarray | None, lanczos: np.ndarray | None) -> None:
        """Add the next frame's display proxies; None breaks the chain (a frame not computed)."""
        if output is None or lanczos is None:
            self._prev = None
            return
        if self._prev is not None and self._prev[0].shape == output.shape:
            self._out += float(np.mean(np.abs(output - self._prev[0])))
            self._ref += float(np.mean(np.abs(lanczos - self._prev[1])))
            self.pairs += 1
        self._prev = (output, lanczos)

    def result(self) -> Flicker:
        n = max(self.pairs, 1)
        return Flicker(self._out / n, self._ref / n, self.pairs)


@dataclass(frozen=True)
class UpscaleResult:
    """What an upscale job did. ``video`` holds the container facts for a video job."""

    kind: Literal["frames", "video"]
    output: str
    model: str
    model_sha256: str
    frames: tuple[FrameOutcome, ...]
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    tile_px: int
    overlap_px: int
    seconds: float
    peak_rss_mb: float
    peak_device_mb: float | None
    manifest: str | None = None
    flicker: Flicker | None = None
    video: dict[str, Any] | None = None
    memory_plan: UpscaleMemoryPlan | None = None

    def count(self, status: str) -> int:
        return sum(1 for o in self.frames if o.status == status)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document of an upscale."""
        return {
            "kind": self.kind, "output": self.output, "model": self.model, "model_sha256": self.model_sha256,
            "input_size": list(self.input_size), "output_size": list(self.output_size),
            "tile_px": self.tile_px, "overlap_px": self.overlap_px, "seconds": round(self.seconds, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "peak_device_mb": None if self.peak_device_mb is None else round(self.peak_device_mb, 1),
            "manifest": self.manifest, "flicker": None if self.flicker is None else self.flicker.to_json(),
            "video": self.video, "memory_plan": None if self.memory_plan is None else self.memory_plan.to_json(),
            "upscaled": self.count("upscaled"), "skipped": self.count("skipped"),
            "cached": self.count("cached"),
            "frames": [{"frame": o.frame, "status": o.status, "seconds": round(o.seconds, 3), "tiles": o.tiles}
                       for o in self.frames],
        }


def plan_tile_memory(model: Upscaler, *, options: UpscaleOptions, height: int, width: int) -> UpscaleMemoryPlan:
    """The core size for a frame and the memory it takes: ``options.tile_px``, or the largest that fits the budget.

    The budget is ``options.memory_budget_bytes``, else ``$FRAMEFILL_MEMORY_BUDGET``,
    else half the free memory of a CUDA device, else a quarter of the RAM; it
    bounds one tile's activations (``model.bytes_per_input_px``, halved in fp16)
    plus, for a model that tiles itself (DAT), its whole-frame token maps
    (``model.frame_bytes_per_input_px``). Tile 0 (untiled) when the whole frame fits
    within :data:`MAX_TILE_PX`.

    Raises:
        InputError: the budget cannot hold the token maps and the smallest tile.
    """
    if model.classical:
        return UpscaleMemoryPlan(None, 0, 0, 0, 0.0, (width, height))
    per_px = float(model.bytes_per_input_px) * (HALF_BYTES_FACTOR if options.precision != "fp32" else 1.0)
    exact = bool(model.tiles_itself)
    budget = None if options.tile_px is not None else tile_budget(options.memory_budget_bytes, options.device)
    return plan_upscale_memory(
        width, height, budget_bytes=budget, tile_px=options.tile_px, bytes_per_px=per_px,
        frame_bytes_per_px=float(model.frame_bytes_per_input_px) if exact else 0.0,
        overlap_px=int(model.tile_overlap_px) + (0 if exact else options.feather_px),
        multiple_of=int(model.multiple_of), max_tile_px=MAX_TILE_PX, model=options.model_id)


def choose_tile_px(model: Upscaler, *, options: UpscaleOptions, height: int, width: int) -> int:
    """The core size for a frame (:func:`plan_tile_memory`); 0: untiled."""
    return plan_tile_memory(model, options=options, height=height, width=width).tile_px


def make_runner(model: Upscaler, *, options: UpscaleOptions, height: int, width: int,
                progress: Callable[[int, int], None] | None = None) -> Runner:
    """Bind a loaded upscaler to the options' device, precision and a tile size for this frame size."""
    from framefill.models.loading import torch_dtype

    dtype = None if model.classical else torch_dtype(options.precision)
    memory = plan_tile_memory(model, options=options, height=height, width=width)
    return Runner(model=model, device=options.device, dtype=dtype, tile_px=memory.tile_px,
                  feather_px=options.feather_px, progress=progress, color_fix=options.color_fix,
                  memory_plan=None if model.classical else memory)


# ---------------------------------------------------------------------------------------
# Arrays: colour (network space), grey, data
# ---------------------------------------------------------------------------------------


def upscale_rgb(runner: Runner, rgb: np.ndarray, *, height: int, width: int, fix: bool = True) -> np.ndarray:
    """Upscale an image in the network's colour space to ``height`` x ``width``.

    Args:
        rgb: H,W,3 float32, sRGB-encoded (the proxy of linear pixels, or a video
            frame), any values: the part outside [0, 1] is carried past the
            network by a smooth filter (:func:`framefill.ops.resample.clip_and_carry`).
        fix: apply the runner's colour fix (off for a grey image such as alpha).
    Returns:
        height,width,3 float32 in the same space, unclamped.
    """
    model = runner.model
    if model.classical is True:
        return resize(rgb, height=height, width=width, method=model.method, antiring=True)
    from framefill.models.upscale import array_fn, exact_tiled_fn

    h, w = rgb.shape[:2]
    fn = array_fn(model, device=runner.device, dtype=runner.dtype)
    plan = runner.plan(h, w)
    # DAT pools over the whole frame: it tiles itself, exactly (models/arch/dat_tiled.py).
    exact = exact_tiled_fn(model, tile_px=runner.tile_px, device=runner.device, dtype=runner.dtype,
                           progress=runner.progress) if len(plan.tiles) > 1 else None

    def network(base: np.ndarray) -> np.ndarray:
        chw = np.ascontiguousarray(base.transpose(2, 0, 1))
        net = exact(chw) if exact is not None else run_tiled(fn, chw, plan, scale=runner.scale,
                                                             progress=runner.progress)
        out = fit_resize(np.ascontiguousarray(net.transpose(1, 2, 0)), height=height, width=width)
        if not (fix and runner.color_fix):
            return out
        ref = resize(base, height=height, width=width, method="smooth")
        return color_fix(out, ref, sigma_px=color_fix_sigma_px(max(height / h, width / w)))

    return clip_and_carry(rgb, network, height=height, width=width)


def upscale_grey(runner: Runner, grey: np.ndarray, *, height: int, width: int, method: AlphaMethod) -> np.ndarray:
    """Upscale one channel (alpha, a matte): by the network as a grey image, or anti-ringed Lanczos.

    ``grey``: H,W float. Returns height,width float32, clipped to [0, 1] when
    the input was within [0, 1]; a constant channel stays exactly constant.
    """
    g = grey.astype(np.float32, copy=False)
    if is_constant(g):
        return np.full((height, width), g.reshape(-1)[0], dtype=np.float32)
    if method == "network" and not runner.classical:
        out = upscale_rgb(runner, np.repeat(g[:, :, None], 3, axis=2), height=height, width=width,
                          fix=False).mean(axis=2)
    else:
        out = resize(g, height=height, width=width, method="lanczos", antiring=True)
    if float(np.nanmin(g)) >= 0.0 and float(np.nanmax(g)) <= 1.0:
        np.clip(out, 0.0, 1.0, out=out)
    return out.astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------
# PNG / TIFF / JPEG frames
# ---------------------------------------------------------------------------------------


def lanczos_upscaler() -> Any:
    from framefill.models.upscale import ClassicalUpscaler

    return ClassicalUpscaler("lanczos")


def upscale_image(pixels: np.ndarray, runner: Runner, *, options: UpscaleOptions) -> tuple[np.ndarray, dict[str, Any]]:
    """Upscale an 8/16-bit image (H,W,C in [0, 1], encoded in ``options.color.scene_linear``; None: sRGB).

    RGB through the network on its proxy (the identity for sRGB files), a 4th
    channel as alpha (``options.alpha``), grey as a grey image. Returns H',W',C
    float32 in the file's encoding and the flicker facts.
    """
    h, w, c = pixels.shape
    size = plan_output_size(w, h, scale=options.scale, size=options.size, aspect=options.aspect,
                            default_scale=runner.model.default_scale)
    oh, ow = size.height, size.width
    facts: dict[str, Any] = {"input_size": (w, h)}
    classical = replace(runner, model=lanczos_upscaler()) if not runner.classical else runner
    if c == 1:
        out = upscale_grey(runner, pixels[:, :, 0], height=oh, width=ow, method="network")[:, :, None]
    else:
        setup = options.color or ColorSetup(scene_linear=DEFAULT_NETWORK_SPACE)
        proxy = to_network(pixels[:, :, :3], setup)
        rgb = upscale_rgb(runner, proxy, height=oh, width=ow)
        if options.flicker:
            facts["display"] = np.clip(rgb, 0.0, 1.0)
            facts["display_lanczos"] = np.clip(upscale_rgb(classical, proxy, height=oh, width=ow), 0, 1)
        chans = [from_network(rgb, setup)]
        if c == 4:
            chans.append(upscale_grey(runner, pixels[:, :, 3], height=oh, width=ow, method=options.alpha)[:, :, None])
        out = np.concatenate(chans, axis=2) if len(chans) > 1 else chans[0]
    out = place_on_canvas(out, size)
    facts["output_size"] = (out.shape[1], out.shape[0])
    return out, facts
