"""Upscale one EXR image: every part, every channel by its kind, windows scaled, attributes kept.

The colour path (network on the clip-and-carry proxy), alpha, data and ID
rules are described in :mod:`framefill.pipeline.upscale`; this module applies
them to the parts of an :class:`~framefill.frames.exr.ExrImage` and maps the
data and display windows. Non-finite input pixels (NaN, +/-Inf) are read as 0
and +/-65504 before any filter or network sees them, so one bad sample never
spreads (the job counts them, warns and records them in the manifest).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from framefill._version import __version__
from framefill.color import ColorSetup, from_network, to_network
from framefill.errors import ExrError
from framefill.frames.channels import channel_kind, find_beauty, split_channel
from framefill.frames.exr import ExrImage, ExrPart
from framefill.ops.pixels import cast_like, finite, is_constant
from framefill.ops.resample import OutputSize, plan_output_size, resize
from framefill.pipeline.upscale import (
    Runner,
    UpscaleOptions,
    lanczos_upscaler,
    upscale_grey,
    upscale_rgb,
)

__all__ = ["part_geometry", "upscale_part", "upscale_exr"]

# Layers whose values are pixel offsets (renderers' motion/vector passes).
_MOTION_LAYERS = ("motion", "vector", "velocity", "forward", "backward", "mv")


@dataclass(frozen=True)
class _PartGeometry:
    data: tuple[int, int, int, int]
    display: tuple[int, int, int, int]
    size: OutputSize

    @property
    def shape(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.data
        return (y1 - y0 + 1, x1 - x0 + 1)


def part_geometry(part: ExrPart, *, options: UpscaleOptions, default_scale: float) -> _PartGeometry:
    """Scaled data and display windows of a part (inclusive boxes) and the content size mapping.

    The display window is what ``--scale``/``--size`` refer to; the data window
    follows the same mapping ``X' = X0' + offset + (X - X0) * scale``.
    """
    dx0, dy0, dx1, dy1 = part.display_window
    size = plan_output_size(dx1 - dx0 + 1, dy1 - dy0 + 1, scale=options.scale, size=options.size,
                            aspect=options.aspect, default_scale=default_scale)
    ndx0, ndy0 = round(dx0 * size.scale_x), round(dy0 * size.scale_y)
    display = (ndx0, ndy0, ndx0 + size.canvas_width - 1, ndy0 + size.canvas_height - 1)

    def mx(x: float) -> int:
        return round(ndx0 + size.offset_x + (x - dx0) * size.scale_x)

    def my(y: float) -> int:
        return round(ndy0 + size.offset_y + (y - dy0) * size.scale_y)

    x0, y0, x1, y1 = part.data_window
    nx0, ny0 = mx(x0), my(y0)
    nx1, ny1 = max(nx0, mx(x1 + 1) - 1), max(ny0, my(y1 + 1) - 1)
    return _PartGeometry((nx0, ny0, nx1, ny1), display, size)


def _box(values: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array(values[:2], dtype=np.int32), np.array(values[2:], dtype=np.int32))


def _triplets(names: Sequence[str]) -> list[tuple[str, str, str]]:
    layers: dict[str, dict[str, str]] = {}
    for name in names:
        layer, channel = split_channel(name)
        layers.setdefault(layer, {})[channel] = name
    out = []
    for chans in layers.values():
        if all(c in chans for c in "RGB"):
            out.append((chans["R"], chans["G"], chans["B"]))
    return out


def upscale_part(
    part: ExrPart,
    runner: Runner,
    *,
    options: UpscaleOptions,
    warn: Callable[[str], None] = lambda m: None,
) -> tuple[ExrPart, dict[str, Any]]:
    """Upscale one EXR part (every channel by its kind, see the module docstring).

    Returns the new part (same names, order, pixel types, header attributes;
    scaled windows) and facts: for the beauty, ``display`` and ``display_lanczos``
    proxies (H',W',3 in [0, 1]) for the flicker measure.

    Raises:
        ExrError: subsampled channels.
    """
    if part.sampling:
        name = next(iter(part.sampling))
        raise ExrError(f"part {part.name or 0}: channel {name} is subsampled, which upscale cannot handle; "
                       "convert it to full resolution first")
    geo = part_geometry(part, options=options, default_scale=runner.model.default_scale)
    oh, ow = geo.shape
    names = list(part.channels)
    beauty = find_beauty(names)
    facts: dict[str, Any] = {}
    out: dict[str, np.ndarray] = {}
    kinds = {n: ("id" if part.channels[n].dtype == np.uint32 else channel_kind(n)) for n in names}
    classical = replace(runner, model=lanczos_upscaler()) if not runner.classical else runner
    color = options.color or ColorSetup()
    for triplet in _triplets([n for n in names if kinds[n] == "color"]):
        rgb = finite(np.stack([part.channels[c].astype(np.float32) for c in triplet], axis=-1))
        proxy = to_network(rgb, color)
        del rgb
        use = runner if (options.layers == "all" or triplet == beauty) else classical
        up = upscale_rgb(use, proxy, height=oh, width=ow)
        if triplet == beauty and options.flicker:
            facts["display"] = np.clip(up, 0.0, 1.0)
            facts["display_lanczos"] = np.clip(upscale_rgb(classical, proxy, height=oh, width=ow), 0.0, 1.0)
        del proxy
        linear = from_network(up, color)
        del up
        for i, name in enumerate(triplet):
            out[name] = cast_like(linear[:, :, i], part.channels[name].dtype)
    motion = []
    for name in names:
        if name in out:
            continue
        src = finite(part.channels[name])
        kind = kinds[name]
        if is_constant(src):
            value = np.full((oh, ow), src.reshape(-1)[0], dtype=src.dtype)
            out[name] = value
            continue
        if kind == "id":
            out[name] = resize(src, height=oh, width=ow, method="nearest")
        elif kind == "alpha":
            out[name] = cast_like(upscale_grey(runner, src, height=oh, width=ow, method=options.alpha), src.dtype)
        elif kind == "data":
            if split_channel(name)[0].split(".")[-1].lower() in _MOTION_LAYERS:
                motion.append(name)
            out[name] = cast_like(resize(src, height=oh, width=ow, method="smooth"), src.dtype)
        else:  # a colour channel outside an R,G,B triplet (Y, a single AOV): sharp but never ringing
            out[name] = cast_like(resize(src, height=oh, width=ow, method="lanczos", antiring=True), src.dtype)
    if motion:
        warn(f"{', '.join(motion[:3])}: motion vectors were resampled but their values not multiplied by the "
             f"scale ({geo.size.scale_x:g}); scale them if they are in pixels")
    header = dict(part.header)
    header["dataWindow"] = _box(geo.data)
    header["displayWindow"] = _box(geo.display)
    new = ExrPart(name=part.name, channels={n: out[n] for n in names}, header=header, linear=set(part.linear))
    facts["geometry"] = geo
    return new, facts


def upscale_exr(
    image: ExrImage,
    runner: Runner,
    *,
    options: UpscaleOptions,
    warn: Callable[[str], None] = lambda m: None,
) -> tuple[ExrImage, dict[str, Any]]:
    """Upscale every part of an EXR; adds ``framefill/model``, ``framefill/version`` and ``framefill/upscale``.

    Raises:
        ExrError: subsampled channels.
    """
    parts = []
    facts: dict[str, Any] = {}
    for part in image.parts:
        new, part_facts = upscale_part(part, runner, options=options, warn=warn)
        geo = part_facts.pop("geometry")
        if "display" in part_facts and "display" not in facts:
            facts.update(part_facts)
        facts.setdefault("output_size", (geo.shape[1], geo.shape[0]))
        facts.setdefault("input_size", (part.width, part.height))
        attrs = {
            "framefill/model": json.dumps({"name": options.model_id, "sha256": options.model_sha256}),
            "framefill/version": __version__,
            "framefill/upscale": json.dumps({
                "scale": [round(geo.size.scale_x, 6), round(geo.size.scale_y, 6)],
                "aspect": options.aspect, "tile_px": runner.tile_px, "overlap_px": runner.overlap_px,
                "feather_px": runner.tile_feather_px, "alpha": options.alpha, "layers": options.layers,
                "precision": options.precision, "color_fix": runner.color_fix,
            }, sort_keys=True),
        }
        new.header.update(attrs)
        parts.append(new)
    return ExrImage(parts=parts, path=None), facts
