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
memory budget for the network's working set.
"""

from __future__ import annotations

import hashlib
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from framefill.color import ColorSetup
from framefill.errors import CancelledError, InputError, SequenceError
from framefill.events import Event, Reporter, never_cancelled, null_reporter
from framefill.frames import FramePattern, read_exr, read_image, write_exr, write_image
from framefill.frames.exr import memory_budget, pixel_sha256
from framefill.frames.images import IMAGE_EXTENSIONS
from framefill.ops.resample import ASPECTS, Aspect, OutputSize, plan_output_size, resize
from framefill.ops.tiling import DEFAULT_FEATHER_PX, TilePlan, plan_tiles, run_tiled, tile_px_for_budget
from framefill.pipeline.manifest import Manifest

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
    "upscale_sequence",
    "choose_tile_px",
    "cast_like",
    "is_constant",
    "lanczos_upscaler",
    "place_on_canvas",
    "file_sha256",
    "peak_rss_mb",
    "recipe",
    "upscale_job",
    "DEFAULT_ALPHA",
    "MAX_TILE_PX",
]

AlphaMethod = Literal["network", "lanczos"]
LayerPolicy = Literal["all", "beauty"]
# Alpha through the network or Lanczos, measured on the sample shot's object mattes
# area-downscaled x4 and upscaled back (bench/upscale_quality.py --alpha --frames
# 1010-1013, 22 mattes): Lanczos 28.2 dB / SSIM 0.975, animevideov3 31.6 dB / 0.991,
# x4plus 33.4 dB / 0.987, x4plus-anime 34.4 dB / 0.995.
# The network wins; a constant alpha (most renders) costs nothing either way.
DEFAULT_ALPHA: AlphaMethod = "network"
# Past ~1K px a bigger tile only costs memory: the overlap overhead of RRDBNet's
# context is already under 1.4x, SRVGG's under 1.1x.
MAX_TILE_PX = 1024
# Share of the free GPU memory a tile may use when no budget is given: the rest
# is the model's weights, the allocator's slack and whatever else runs there.
CUDA_FREE_FRACTION = 0.5
# Half precision halves activations.
HALF_BYTES_FACTOR = 0.5
_HALF_MAX = 65504.0
# x264's constant-rate-factor scale for 8-bit output.
MAX_CRF = 51


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
    color: ColorSetup = ColorSetup()
    alpha: AlphaMethod = DEFAULT_ALPHA
    layers: LayerPolicy = "all"
    flicker: bool = True
    extra_job: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Runner:
    """A loaded upscaler bound to a device and a tiling: what every frame is run through.

    ``model`` is an ``UpscaleModel`` or a ``ClassicalUpscaler``; ``tile_px`` 0 means untiled.
    ``progress`` receives (tiles done, tiles) within a frame.
    """

    model: Any
    device: str = "cpu"
    dtype: Any = None
    tile_px: int = 0
    feather_px: int = DEFAULT_FEATHER_PX
    progress: Callable[[int, int], None] | None = None

    @property
    def classical(self) -> bool:
        return not hasattr(self.model, "module")

    @property
    def scale(self) -> int:
        return 1 if self.classical else int(self.model.scale)

    @property
    def overlap_px(self) -> int:
        return 0 if self.classical else int(self.model.tile_overlap_px) + self.feather_px

    def plan(self, height: int, width: int) -> TilePlan:
        return plan_tiles(
            height, width, tile_px=self.tile_px, overlap_px=self.overlap_px,
            multiple_of=1 if self.classical else int(self.model.multiple_of), feather_px=self.feather_px,
        )


@dataclass(frozen=True)
class FrameOutcome:
    frame: int
    status: str  # upscaled | skipped | cached
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

    def as_dict(self) -> dict[str, Any]:
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

    kind: str  # frames | video
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

    def count(self, status: str) -> int:
        return sum(1 for o in self.frames if o.status == status)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "output": self.output, "model": self.model, "model_sha256": self.model_sha256,
            "input_size": list(self.input_size), "output_size": list(self.output_size),
            "tile_px": self.tile_px, "overlap_px": self.overlap_px, "seconds": round(self.seconds, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "peak_device_mb": None if self.peak_device_mb is None else round(self.peak_device_mb, 1),
            "manifest": self.manifest, "flicker": None if self.flicker is None else self.flicker.as_dict(),
            "video": self.video, "upscaled": self.count("upscaled"), "skipped": self.count("skipped"),
            "cached": self.count("cached"),
            "frames": [{"frame": o.frame, "status": o.status, "seconds": round(o.seconds, 3), "tiles": o.tiles}
                       for o in self.frames],
        }


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _device_budget(device: str) -> int | None:
    if not device.startswith("cuda"):
        return None
    import torch

    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return int(free * CUDA_FREE_FRACTION)


def choose_tile_px(model: Any, *, options: UpscaleOptions, height: int, width: int) -> int:
    """The core size for a frame: ``options.tile_px``, or the largest that fits the memory budget.

    The budget is ``options.memory_budget_bytes``, else ``$FRAMEFILL_MEMORY_BUDGET``,
    else half the free memory of a CUDA device, else a quarter of the RAM; it
    bounds one tile's activations (``model.bytes_per_input_px``, halved in fp16).
    Returns 0 (untiled) when the whole frame fits within :data:`MAX_TILE_PX`.
    """
    if not hasattr(model, "module"):
        return 0
    if options.tile_px is not None:
        return max(0, int(options.tile_px))
    import os

    from framefill.frames.exr import MEMORY_BUDGET_ENV

    budget = options.memory_budget_bytes
    if budget is None and not os.environ.get(MEMORY_BUDGET_ENV):
        budget = _device_budget(options.device)
    if budget is None:
        budget = memory_budget()
    per_px = float(model.bytes_per_input_px) * (HALF_BYTES_FACTOR if options.precision != "fp32" else 1.0)
    overlap = int(model.tile_overlap_px) + options.feather_px
    tile = tile_px_for_budget(budget, bytes_per_px=per_px, overlap_px=overlap,
                              multiple_of=int(model.multiple_of), max_tile_px=MAX_TILE_PX)
    return 0 if max(height, width) <= tile else tile


def make_runner(model: Any, *, options: UpscaleOptions, height: int, width: int,
                progress: Callable[[int, int], None] | None = None) -> Runner:
    """Bind a loaded upscaler to the options' device, precision and a tile size for this frame size."""
    dtype = None
    if hasattr(model, "module"):
        import torch

        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[options.precision]
    return Runner(model=model, device=options.device, dtype=dtype,
                  tile_px=choose_tile_px(model, options=options, height=height, width=width),
                  feather_px=options.feather_px, progress=progress)


# ---------------------------------------------------------------------------------------
# Arrays: colour (network space), grey, data
# ---------------------------------------------------------------------------------------


def _final_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """From the model's own size to the asked size: area when shrinking, anti-ringed Lanczos when growing."""
    if image.shape[:2] == (height, width):
        return image
    shrink = height <= image.shape[0] and width <= image.shape[1]
    return resize(image, height=height, width=width, method="area" if shrink else "lanczos", antiring=True)


def upscale_rgb(runner: Runner, rgb: np.ndarray, *, height: int, width: int) -> np.ndarray:
    """Upscale an image in the network's colour space to ``height`` x ``width``.

    Args:
        rgb: H,W,3 float32, sRGB-encoded (the proxy of linear pixels, or a video
            frame), any values: the part outside [0, 1] is carried past the
            network by a smooth filter (module docstring).
    Returns:
        height,width,3 float32 in the same space, unclamped.
    """
    if runner.classical:
        return resize(rgb, height=height, width=width, method=runner.model.method, antiring=True)
    from framefill.models.upscale import array_fn

    base = np.clip(rgb, 0.0, 1.0)
    excess = rgb - base
    h, w = rgb.shape[:2]
    s = runner.scale
    fn = array_fn(runner.model, device=runner.device, dtype=runner.dtype)
    net = run_tiled(fn, np.ascontiguousarray(base.transpose(2, 0, 1)), runner.plan(h, w), scale=s,
                    progress=runner.progress)
    del base
    out = _final_resize(np.ascontiguousarray(net.transpose(1, 2, 0)), height, width)
    del net
    if np.any(excess):
        out = out + resize(excess, height=height, width=width, method="smooth")
    return out


def is_constant(channel: np.ndarray) -> bool:
    flat = channel.reshape(-1)
    first = flat[0]
    return bool(np.all(flat == first)) or bool(np.all(np.isnan(flat)))


def upscale_grey(runner: Runner, grey: np.ndarray, *, height: int, width: int, method: AlphaMethod) -> np.ndarray:
    """Upscale one channel (alpha, a matte): by the network as a grey image, or anti-ringed Lanczos.

    ``grey``: H,W float. Returns height,width float32, clipped to [0, 1] when
    the input was within [0, 1]; a constant channel stays exactly constant.
    """
    g = grey.astype(np.float32, copy=False)
    if is_constant(g):
        return np.full((height, width), g.reshape(-1)[0], dtype=np.float32)
    if method == "network" and not runner.classical:
        out = upscale_rgb(runner, np.repeat(g[:, :, None], 3, axis=2), height=height, width=width).mean(axis=2)
    else:
        out = resize(g, height=height, width=width, method="lanczos", antiring=True)
    if float(np.nanmin(g)) >= 0.0 and float(np.nanmax(g)) <= 1.0:
        np.clip(out, 0.0, 1.0, out=out)
    return out.astype(np.float32, copy=False)


def cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint32:
        return np.clip(np.rint(values), 0, np.iinfo(np.uint32).max).astype(np.uint32)
    if dtype == np.float16:
        # A value past half's range would become inf; the input held none there.
        return np.clip(values, -_HALF_MAX, _HALF_MAX).astype(np.float16)
    return values.astype(dtype, copy=False)


# ---------------------------------------------------------------------------------------
# PNG / TIFF / JPEG frames
# ---------------------------------------------------------------------------------------


def lanczos_upscaler() -> Any:
    from framefill.models.upscale import ClassicalUpscaler

    return ClassicalUpscaler("lanczos")


def upscale_image(pixels: np.ndarray, runner: Runner, *, options: UpscaleOptions) -> tuple[np.ndarray, dict[str, Any]]:
    """Upscale an 8/16-bit image (H,W,C in [0, 1], file encoding = the network's space).

    RGB through the network, a 4th channel as alpha (``options.alpha``), grey
    as a grey image. Returns H',W',C float32 and the flicker facts.
    """
    h, w, c = pixels.shape
    size = plan_output_size(w, h, scale=options.scale, size=options.size, aspect=options.aspect,
                            default_scale=float(runner.scale if not runner.classical else 4))
    oh, ow = size.height, size.width
    facts: dict[str, Any] = {"input_size": (w, h)}
    classical = replace(runner, model=lanczos_upscaler()) if not runner.classical else runner
    if c == 1:
        out = upscale_grey(runner, pixels[:, :, 0], height=oh, width=ow, method="network")[:, :, None]
    else:
        rgb = upscale_rgb(runner, pixels[:, :, :3], height=oh, width=ow)
        if options.flicker:
            facts["display"] = np.clip(rgb, 0.0, 1.0)
            facts["display_lanczos"] = np.clip(upscale_rgb(classical, pixels[:, :, :3], height=oh, width=ow), 0, 1)
        chans = [rgb]
        if c == 4:
            chans.append(upscale_grey(runner, pixels[:, :, 3], height=oh, width=ow, method=options.alpha)[:, :, None])
        out = np.concatenate(chans, axis=2) if len(chans) > 1 else rgb
    out = place_on_canvas(out, size)
    facts["output_size"] = (out.shape[1], out.shape[0])
    return out, facts


def place_on_canvas(content: np.ndarray, size: OutputSize) -> np.ndarray:
    """Put resampled content on its canvas: bars (zeros) for ``fit``, a centred crop for ``fill``."""
    if (size.width, size.height) == (size.canvas_width, size.canvas_height):
        return content
    canvas = np.zeros((size.canvas_height, size.canvas_width, content.shape[2]), dtype=content.dtype)
    sy0, sx0 = max(0, -size.offset_y), max(0, -size.offset_x)
    dy0, dx0 = max(0, size.offset_y), max(0, size.offset_x)
    hh = min(content.shape[0] - sy0, size.canvas_height - dy0)
    ww = min(content.shape[1] - sx0, size.canvas_width - dx0)
    canvas[dy0 : dy0 + hh, dx0 : dx0 + ww] = content[sy0 : sy0 + hh, sx0 : sx0 + ww]
    return canvas


# ---------------------------------------------------------------------------------------
# Sequences (EXR or images), with manifest and resume
# ---------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _kind(path: str) -> str:
    ext = Path(path).suffix.lower()
    if ext == ".exr":
        return "exr"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    return ext or "(none)"


def recipe(options: UpscaleOptions, source_sha256: str) -> dict[str, Any]:
    """What an output frame is made from; a rerun redoes a frame whose recipe changed."""
    return {
        "kind": "upscale", "source": source_sha256, "model": options.model_id,
        "model_sha256": options.model_sha256, "scale": options.scale,
        "size": list(options.size) if options.size else None, "aspect": options.aspect,
        "tile_px": options.tile_px, "feather_px": options.feather_px, "precision": options.precision,
        "alpha": options.alpha, "layers": options.layers,
        "color": [options.color.config, options.color.scene_linear, options.color.network],
    }


def upscale_sequence(
    input_pattern: str,
    output_pattern: str,
    *,
    frames: Sequence[int] | None,
    model: Any,
    options: UpscaleOptions,
    report: Reporter = null_reporter,
    cancelled: Callable[[], bool] = never_cancelled,
) -> UpscaleResult:
    """Upscale the frames of a sequence (EXR, or PNG/TIFF/JPEG) into ``output_pattern``.

    Each output frame is written atomically and recorded in the manifest
    beside the outputs; frames whose entry (recipe and file sha256) still
    verifies are skipped, so a rerun or a retried farm chunk resumes.

    Raises:
        SequenceError: no input frames, a requested frame missing, or an output
            pattern equal to the input.
        InputError: input and output of different kinds (EXR vs image).
        CancelledError: ``cancelled()`` became true; finished frames are kept.
    """
    started = time.perf_counter()
    src, dst = FramePattern.parse(input_pattern), FramePattern.parse(output_pattern)
    kind = _kind(src.path(0))
    if kind not in ("exr", "image"):
        raise InputError(f"cannot upscale {input_pattern}: use an EXR, PNG, TIFF or JPEG sequence or a video file")
    if _kind(dst.path(0)) != kind:
        raise InputError(f"output {output_pattern} must be the same kind of file as the input ({src.suffix}); "
                         "framefill keeps every layer of an EXR only in an EXR")
    if Path(src.path(0)).resolve() == Path(dst.path(0)).resolve():
        raise SequenceError(f"--out {output_pattern} is the input pattern; upscaled frames need their own files")
    on_disk = src.scan()
    if not on_disk:
        raise SequenceError(f"no frames match {input_pattern}; check the path and the padding (#)")
    wanted = tuple(sorted(set(frames))) if frames is not None else tuple(on_disk)
    missing = [f for f in wanted if f not in on_disk]
    if missing:
        from framefill.frames import format_frame_range

        raise SequenceError(f"frames {format_frame_range(missing)} of {input_pattern} are missing; "
                            f"on disk: {format_frame_range(on_disk)}")
    manifest = Manifest(output_pattern)
    meter = FlickerMeter()
    outcomes: list[FrameOutcome] = []
    runner: Runner | None = None
    sizes: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
    report(Event("start", stage="upscale", message=f"upscaling {len(wanted)} frame(s) to {output_pattern}",
                 total=len(wanted)))

    def warn(message: str) -> None:
        report(Event("warning", stage="upscale", message=message))

    warned: set[str] = set()

    def warn_once(message: str) -> None:
        if message not in warned:
            warned.add(message)
            warn(message)

    for index, frame in enumerate(wanted):
        if cancelled():
            raise CancelledError(f"cancelled after {index} of {len(wanted)} frames; rerun to resume")
        t0 = time.perf_counter()
        source, out_path = Path(on_disk[frame]), Path(dst.path(frame))
        want = recipe(options, file_sha256(source))
        entry = manifest.get(frame)
        if entry and entry.get("recipe") == want and out_path.is_file() and \
                file_sha256(out_path) == entry.get("file_sha256"):
            meter.add(None, None)
            outcomes.append(FrameOutcome(frame, "skipped"))
            report(Event("frame", stage="upscale", frame=frame, done=index + 1, total=len(wanted),
                         data={"status": "skipped"}))
            continue

        def progress(done: int, total: int, frame: int = frame) -> None:
            report(Event("progress", stage="tiles", frame=frame, done=done, total=total))

        if kind == "exr":
            image = read_exr(source)
            first = image.parts[0]
            if runner is None:
                runner = make_runner(model, options=options, height=first.height, width=first.width,
                                     progress=progress)
            runner = replace(runner, progress=progress)
            from framefill.pipeline.upscale_exr import upscale_exr

            result, facts = upscale_exr(image, runner, options=options, warn=warn_once)
            del image
            write_exr(out_path, result)
            pixels = pixel_sha256(result)
        else:
            pixels_in, depth = read_image(source)
            if runner is None:
                runner = make_runner(model, options=options, height=pixels_in.shape[0], width=pixels_in.shape[1],
                                     progress=progress)
            runner = replace(runner, progress=progress)
            up, facts = upscale_image(pixels_in, runner, options=options)
            bits = 8 if depth == 8 or out_path.suffix.lower() in (".jpg", ".jpeg") else 16
            write_image(out_path, up, bit_depth=bits)  # type: ignore[arg-type]
            pixels = hashlib.sha256(np.ascontiguousarray(up).tobytes()).hexdigest()
        sizes = (tuple(facts["input_size"]), tuple(facts["output_size"]))  # type: ignore[assignment]
        meter.add(facts.get("display"), facts.get("display_lanczos"))
        manifest.put(frame, {
            "status": "upscaled", "recipe": want, "file_sha256": file_sha256(out_path), "pixel_sha256": pixels,
            "tile_px": runner.tile_px, "overlap_px": runner.overlap_px,
        })
        seconds = time.perf_counter() - t0
        tiles = len(runner.plan(*reversed(sizes[0])).tiles) if not runner.classical else 0
        outcomes.append(FrameOutcome(frame, "upscaled", seconds, tiles))
        report(Event("frame", stage="upscale", frame=frame, done=index + 1, total=len(wanted),
                     data={"status": "upscaled", "seconds": round(seconds, 3), "tiles": tiles}))

    peak_dev = None
    if options.device.startswith("cuda"):
        import torch

        peak_dev = torch.cuda.max_memory_allocated(options.device) / 2**20
    flicker = meter.result() if options.flicker else None
    manifest.publish(model=options.model_id, model_sha256=options.model_sha256, device=options.device,
                     precision=options.precision, input=str(input_pattern), task="upscale", **options.extra_job)
    return UpscaleResult(
        kind="frames", output=output_pattern, model=options.model_id, model_sha256=options.model_sha256,
        frames=tuple(outcomes), input_size=sizes[0], output_size=sizes[1],
        tile_px=runner.tile_px if runner else 0, overlap_px=runner.overlap_px if runner else 0,
        seconds=time.perf_counter() - started, peak_rss_mb=peak_rss_mb(), peak_device_mb=peak_dev,
        manifest=str(manifest.path), flicker=flicker,
    )


# ---------------------------------------------------------------------------------------
# The job: what api.upscale and the CLI call
# ---------------------------------------------------------------------------------------


def upscale_job(
    input_path: str,
    output_path: str,
    *,
    frames: Sequence[int] | None = None,
    model: str | None = None,
    weights: str | Path | None = None,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    aspect: Aspect = "error",
    tile_px: int | None = None,
    memory_budget_bytes: int | None = None,
    device: str = "auto",
    alpha: AlphaMethod = DEFAULT_ALPHA,
    layers: LayerPolicy = "all",
    color: ColorSetup = ColorSetup(),
    codec: str = "auto",
    crf: int | None = None,
    cache_dir: str | Path | None = None,
    keep_cache: bool = False,
    report: Reporter = null_reporter,
    cancelled: Callable[[], bool] = never_cancelled,
) -> UpscaleResult:
    """Upscale a frame sequence (EXR, PNG, TIFF, JPEG pattern) or a video file.

    ``model`` defaults to the registry's default upscaler; a family name with a
    whole ``scale`` picks the family's card of that scale (see
    :func:`framefill.models.loading.pick_upscale_card`). ``scale`` or ``size``
    (not both) set the output; ``aspect`` says what to do when ``size`` changes
    the aspect ratio. ``tile_px`` fixes the tile size, else it follows
    ``memory_budget_bytes`` (or ``$FRAMEFILL_MEMORY_BUDGET``). Video only:
    ``codec``, ``crf``, ``cache_dir``, ``keep_cache``; ``frames`` is for sequences.

    Raises:
        InputError: bad arguments, unreadable inputs, or kinds that do not match.
        SequenceError, ExrError, ModelNotFoundError, WeightsMismatchError,
        UnsupportedModelError, DeviceError: as their names say.
        CancelledError: ``cancelled()`` became true; finished work is kept.
    """
    from framefill.frames.video import is_video_path
    from framefill.models.loading import load_upscaler, pick_upscale_card
    from framefill.models.registry import DEFAULT_UPSCALE_MODEL
    from framefill.runtime.device import configure_determinism, resolve_devices

    if alpha not in ("network", "lanczos"):
        raise InputError(f"unknown alpha method {alpha!r}; use network or lanczos")
    if layers not in ("all", "beauty"):
        raise InputError(f"unknown layers policy {layers!r}; use all or beauty")
    if crf is not None and not 0 <= crf <= MAX_CRF:
        raise InputError(f"bad --crf {crf}; H.264's constant rate factor runs from 0 (lossless) to {MAX_CRF}")
    if aspect not in ASPECTS:
        raise InputError(f"unknown aspect policy {aspect!r}; use one of {', '.join(ASPECTS)}")
    if tile_px is not None and tile_px < 0:
        raise InputError(f"bad tile size {tile_px}; use 0 (untiled) or a size in pixels such as 512")
    video_in, video_out = is_video_path(input_path), is_video_path(output_path)
    if video_in != video_out:
        raise InputError(f"{input_path} -> {output_path}: a video upscales to a video and frames to frames")
    if video_in and frames is not None:
        raise InputError("--frames selects frames of a sequence; a video is upscaled whole")
    plan_output_size(16, 16, scale=scale, size=size, aspect="stretch")  # validates scale/size early
    spec = resolve_devices(device)[0]
    determinism = configure_determinism()
    name = pick_upscale_card(model or DEFAULT_UPSCALE_MODEL, scale)
    loaded = load_upscaler(name, weights=weights, device=spec.device, precision=spec.precision)
    precision = spec.precision if hasattr(loaded.model, "module") and spec.is_cuda else "fp32"
    options = UpscaleOptions(
        model_id=loaded.name, model_sha256=loaded.sha256, scale=scale, size=size, aspect=aspect, tile_px=tile_px,
        memory_budget_bytes=memory_budget_bytes, device=spec.device, precision=precision, color=color,
        alpha=alpha, layers=layers,
        extra_job={"determinism": determinism, "bit_identical": not spec.is_cuda},
    )
    if video_in:
        from framefill.pipeline.video import upscale_video

        return upscale_video(input_path, output_path, model=loaded.model, options=options, codec=codec, crf=crf,
                             cache_dir=cache_dir, keep_cache=keep_cache, report=report, cancelled=cancelled)
    return upscale_sequence(input_path, output_path, frames=frames, model=loaded.model, options=options,
                            report=report, cancelled=cancelled)
