"""The upscaler descriptor: our network plus what a caller needs to run, tile and export it.

:class:`UpscaleModel` wraps an RRDBNet or SRVGGNetCompact (``models/arch``) built
from a state dict with the official Real-ESRGAN key names, whether it came from
an official ``.pth`` or from the ncnn converter (``models/ncnn_convert``).

Tiling advice (``tile_overlap_px``, input pixels of context a tile needs on
each side so that tiled equals untiled):

* SRVGGNetCompact: exact. Each 3x3 conv at input resolution reaches one pixel,
  so ``num_conv + 2`` pixels of context give bit-for-bit the untiled value
  (18 for animevideov3). The x2/x3 graphs' trailing bicubic reaches 2 pixels
  at x4 resolution, half an input pixel, hence one more (19).
* RRDBNet: x4plus's receptive field spans ~350 pixels but the influence of far
  pixels fades fast; :data:`TILE_OVERLAP_RRDB_PX` (96) keeps tiles within 2e-4
  of untiled (measured figures there).

The model never chooses a device; :meth:`UpscaleModel.to` moves it, and
:func:`array_fn` adapts it to the numpy tile operator ``ops.tiling`` runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from framefill.errors import InputError, UnsupportedModelError
from framefill.models.arch.srvgg import ncnn_bicubic_resize

__all__ = [
    "UpscaleNet",
    "UpscaleModel",
    "ClassicalUpscaler",
    "upscale_model",
    "array_fn",
    "TILE_OVERLAP_RRDB_PX",
    "SRVGG_CONVS_OUTSIDE_BODY",
]

# Input pixels of context for RRDBNet tiles. Measured (bench/upscale.py --context,
# fp32, CPU, 24-row strips cut 56 px from the left or at column 200): the largest
# change of any output pixel when the input is cut k px away, on the sample shot's
# proxy / on a noise-and-checker texture (the harder case):
#   x4plus        k=48: 8.9e-3 / 2.8e-2   k=64: 2.4e-4 / 8.3e-3   k=80: 9.3e-5 / 1.2e-3
#                 k=88: 1.7e-5 / 4.4e-4   k=96: 7.5e-6 / 1.9e-4   k=112: 5.0e-6 / 1.9e-5
#   x4plus-anime  k=48: 3.5e-4 / 4.1e-2   k=64: 1.6e-6 / 7.0e-5   k>=96: 0 / 0 (its
#                 receptive field, 6 blocks x 15 convs + 2 plus the upsampler, is ~94 px)
# 96 px keeps every weighted output pixel of a tile under 2e-4 of the untiled
# value even on noise, five times inside the 1e-3 we promise.
TILE_OVERLAP_RRDB_PX = 96
# SRVGGNetCompact's receptive field is exact: one pixel per 3x3 conv at input
# resolution (num_conv + 2), beyond which outputs are bit-identical (measured).
SRVGG_CONVS_OUTSIDE_BODY = 2
# A trailing bicubic resize (animevideov3 x2/x3) reads 2 samples each side at x4
# resolution, i.e. half an input pixel: one more pixel of context covers it.
RESIZE_EXTRA_CONTEXT_PX = 1
# Peak working memory of one tile, bytes per input pixel in fp32: the growth of
# the process high-water mark when one tile runs (bench/upscale.py
# --memory-per-px, CPU): animevideov3 1.2 KB (128 px) / 1.4 KB (256 px);
# x4plus-anime 13.6 KB (64 px) / 12.9 KB (96 px); x4plus 10.3 KB (96 px).
# Rounded up for the allocator's slack; fp16 on CUDA needs about half. These
# choose the tile size from a memory budget.
BYTES_PER_INPUT_PX = {"rrdbnet": 16_000.0, "srvgg": 2_000.0}


class UpscaleNet(nn.Module):
    """Pad, network, optional output resize, crop: the whole upscaler as one scriptable module.

    ``forward(x)``: B,C,H,W float in the network's colour space (sRGB-encoded,
    nominally [0, 1], unclamped) -> B,C,H*scale,W*scale, same dtype, not clamped.
    The input is padded at the bottom/right by edge replication to
    ``multiple_of`` and the output cropped back.
    """

    def __init__(self, net: nn.Module, *, multiple_of: int, net_scale: int, output_resize: float | None) -> None:
        super().__init__()
        self.net = net
        self.multiple_of: int = int(multiple_of)
        self.net_scale: int = int(net_scale)
        self.resize: float = 1.0 if output_resize is None else float(output_resize)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = int(x.shape[-2])
        w = int(x.shape[-1])
        m = self.multiple_of
        pad_h = (m - h % m) % m
        pad_w = (m - w % m) % m
        if pad_h or pad_w:
            x = F.pad(x, [0, pad_w, 0, pad_h], mode="replicate")
        out = self.net(x)
        if self.resize != 1.0:
            out = ncnn_bicubic_resize(out, self.resize)
            # Crop to the size the resize gives the unpadded input (ncnn: float32 product, truncated).
            f32 = torch.tensor(self.resize, dtype=torch.float32)
            out_h = int((torch.tensor(float(h * self.net_scale), dtype=torch.float32) * f32).item())
            out_w = int((torch.tensor(float(w * self.net_scale), dtype=torch.float32) * f32).item())
        else:
            out_h = h * self.net_scale
            out_w = w * self.net_scale
        return out[:, :, :out_h, :out_w]


@dataclass(frozen=True, eq=False)
class UpscaleModel:
    """A loaded upscaler: our network plus what the caller needs to run and tile it.

    ``scale`` is the whole model's (``net_scale`` times a trailing resize, so 2 for
    realesr-animevideov3-x2, whose net is the x4 one). ``net`` keeps the official
    key names; ``module`` is the scriptable whole (pad, net, resize, crop) for
    export. ``tile_overlap_px`` is the context, in input pixels, a tile should
    carry on each side; ``bytes_per_input_px`` the fp32 working memory per input
    pixel of a tile. The model does not choose a device: move it with :meth:`to`.
    """

    net: nn.Module
    arch: str
    net_scale: int
    output_resize: float | None
    in_channels: int
    out_channels: int
    multiple_of: int
    supports_half: bool
    tile_overlap_px: int
    module: UpscaleNet
    bytes_per_input_px: float = 0.0

    @property
    def scale(self) -> int:
        return round(self.net_scale * (self.output_resize if self.output_resize is not None else 1.0))

    def to(self, device: Any = None, dtype: torch.dtype | None = None) -> UpscaleModel:
        """Move the network (in place, as torch does) and return this model."""
        self.module.to(device=device, dtype=dtype)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Upscale a batch.

        ``x``: B,C,H,W float on the model's device and dtype, in the network's
        colour space (sRGB-encoded, nominally [0, 1]; not clamped, so HDR proxies
        pass through) -> B,C,H*scale,W*scale, same dtype and device, not clamped.
        Runs under ``torch.inference_mode``, so the result carries no autograd graph.

        Raises:
            InputError: wrong rank or channel count.
        """
        if x.ndim != 4 or int(x.shape[1]) != self.in_channels:
            raise InputError(f"{self.arch} upscaler expects B,{self.in_channels},H,W input, got {tuple(x.shape)}")
        with torch.inference_mode():
            return self.module(x)


def upscale_model(state_dict: Mapping[str, torch.Tensor], *, output_resize: float | None = None) -> UpscaleModel:
    """Build the upscaler a state dict (official key names) describes.

    ``output_resize`` appends ncnn's bicubic resize (the animevideov3 x2/x3 graphs).

    Raises:
        UnsupportedModelError: neither RRDBNet nor SRVGGNetCompact, or shapes that do not fit.
    """
    from framefill.models.arch import rrdbnet, srvgg

    net: rrdbnet.RRDBNet | srvgg.SRVGGNetCompact
    if rrdbnet.detect(state_dict):
        net = rrdbnet.build(state_dict)
        arch, overlap = rrdbnet.ARCH_ID, TILE_OVERLAP_RRDB_PX
    elif srvgg.detect(state_dict):
        net = srvgg.build(state_dict)
        arch, overlap = srvgg.ARCH_ID, net.config.num_conv + SRVGG_CONVS_OUTSIDE_BODY
    else:
        raise UnsupportedModelError(
            "state dict is not an upscaler framefill knows", tried=(rrdbnet.ARCH_ID, srvgg.ARCH_ID)
        )
    if output_resize is not None and output_resize != 1.0:
        overlap += RESIZE_EXTRA_CONTEXT_PX
    channels = (net.config.in_channels, net.config.out_channels)
    multiple_of, net_scale = net.multiple_of, net.scale
    return UpscaleModel(
        net=net,
        arch=arch,
        net_scale=net_scale,
        output_resize=output_resize,
        in_channels=channels[0],
        out_channels=channels[1],
        multiple_of=multiple_of,
        # Both nets run in fp16 on GPUs (Real-ESRGAN's own default); activations stay well inside fp16 range.
        supports_half=True,
        tile_overlap_px=overlap,
        module=UpscaleNet(net, multiple_of=multiple_of, net_scale=net_scale, output_resize=output_resize).eval(),
        bytes_per_input_px=BYTES_PER_INPUT_PX[arch],
    )


def array_fn(model: UpscaleModel, *, device: str = "cpu", dtype: torch.dtype = torch.float32) -> Callable[
    [np.ndarray], np.ndarray
]:
    """The model as a numpy tile operator for :func:`framefill.ops.tiling.run_tiled`.

    The returned callable takes C,h,w float32 (C = the model's channels, network
    colour space, unclamped) and returns C,h*scale,w*scale float32 on the host.
    It moves each tile to ``device`` in ``dtype`` (fp16 on CUDA) and back; the
    model must already be on that device and dtype. Tiles go in channels-last
    (NHWC), the layout :func:`~framefill.models.loading.load_upscaler` gives the
    network, where the fast convolution kernels are.
    """

    def run(tile: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(tile, dtype=np.float32))[None].to(device=device, dtype=dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        y = model(x)
        out = y[0].to(device="cpu", dtype=torch.float32).numpy()
        del x, y
        return out

    return run


@dataclass(frozen=True)
class ClassicalUpscaler:
    """A weightless upscaler (the ``lanczos`` card): any scale, resampled by ``method``."""

    method: str = "lanczos"
