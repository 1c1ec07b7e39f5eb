"""The upscaler descriptors: a network plus what a caller needs to run, tile and export it,
and the classical resampler that shares its interface.

:class:`UpscaleModel` wraps an RRDBNet or SRVGGNetCompact (``models/arch``). Each
family's ``build`` makes one from a state dict with the official Real-ESRGAN key
names, whether it came from an official ``.pth`` or from the ncnn converter
(``models/ncnn_convert``), and sets its tiling advice:

* ``tile_overlap_px``: input pixels of context a tile needs on each side so that
  tiled equals untiled (SRVGGNetCompact exactly; RRDBNet to within 2e-4, see
  ``rrdbnet.TILE_OVERLAP_PX``). A trailing resize (animevideov3 x2/x3) needs
  :data:`RESIZE_EXTRA_CONTEXT_PX` more.
* ``bytes_per_input_px``: fp32 working memory per input pixel of a tile (measured).
* ``frame_bytes_per_input_px``: memory per (padded) input pixel of the whole
  frame that a model tiling itself (:attr:`UpscaleModel.tiles_itself`, DAT)
  holds across its tiles; 0 for the others, whose tiles are independent.

:class:`ClassicalUpscaler` (the ``lanczos`` card) answers the same questions
(``classical``, ``scale``, ``default_scale``, tiling advice) with the values that
mean "resample the whole frame to the size asked"; :data:`Upscaler` is either.

The model never chooses a device; :meth:`UpscaleModel.to` moves it, and
:func:`array_fn` adapts it to the numpy tile operator ``ops.tiling`` runs.
DAT pools over the whole frame, so no tile context suffices: :func:`exact_tiled_fn`
gives its own exact tiler (``models/arch/dat_tiled.py``), which tiled runs use instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from framefill.errors import InputError
from framefill.models.arch.srvgg import ncnn_bicubic_resize
from framefill.ops.resample import Method
from torch import nn

if TYPE_CHECKING:
    from framefill.models.arch.dat import DAT
    from framefill.models.arch.rrdbnet import RRDBNet
    from framefill.models.arch.srvgg import SRVGGNetCompact

__all__ = [
    "UpscaleNet",
    "UpscaleModel",
    "ClassicalUpscaler",
    "Upscaler",
    "describe_upscaler",
    "upscale_model",
    "array_fn",
    "exact_tiled_fn",
    "RESIZE_EXTRA_CONTEXT_PX",
    "CLASSICAL_DEFAULT_SCALE",
]

# A trailing bicubic resize (animevideov3 x2/x3) reads 2 samples each side at x4
# resolution, i.e. half an input pixel: one more pixel of context covers it.
RESIZE_EXTRA_CONTEXT_PX = 1
# The scale a classical upscaler runs at when the caller gives neither a scale
# nor a size: 4, the default network's (realesrgan-x4plus), so the two compare.
CLASSICAL_DEFAULT_SCALE = 4.0


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
    """A loaded upscaler network plus what the caller needs to run, tile and export it.

    ``scale`` is the whole model's (``net_scale`` times a trailing resize, so 2 for
    realesr-animevideov3-x2, whose net is the x4 one). ``net`` keeps the official
    key names; ``module`` is the scriptable whole (pad, net, resize, crop) for
    export. ``multiple_of``: the input size the net needs (padded inside).
    ``tile_overlap_px`` is the context, in input pixels, a tile should carry on
    each side; ``bytes_per_input_px`` the fp32 working memory per input pixel of
    a tile; ``frame_bytes_per_input_px`` what a model that tiles itself holds per
    padded input pixel of the whole frame while it tiles (DAT's token maps; 0 for
    the others). The model does not choose a device: move it with :meth:`to`.
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
    bytes_per_input_px: float
    frame_bytes_per_input_px: float = 0.0

    @property
    def classical(self) -> Literal[False]:
        """Always False: a network (see :class:`ClassicalUpscaler`)."""
        return False

    @property
    def tiles_itself(self) -> bool:
        """Whether tiled runs go through the model's own exact tiler (:func:`exact_tiled_fn`: DAT, no resize)."""
        from framefill.models.arch.dat import DAT

        return isinstance(self.net, DAT) and self.output_resize is None

    @property
    def scale(self) -> int:
        return round(self.net_scale * (self.output_resize if self.output_resize is not None else 1.0))

    @property
    def default_scale(self) -> float:
        """The scale to upscale by when the user asks for no scale or size: the model's own."""
        return float(self.scale)

    def with_output_resize(self, factor: float | None) -> UpscaleModel:
        """This network followed by ncnn's bicubic resize by ``factor`` (the animevideov3 x2/x3 graphs).

        ``None`` or 1 returns this model unchanged.
        """
        if factor is None or factor == 1.0:
            return self
        return replace(
            self,
            output_resize=factor,
            tile_overlap_px=self.tile_overlap_px + RESIZE_EXTRA_CONTEXT_PX,
            frame_bytes_per_input_px=0.0,  # tiled by ops.tiling: nothing held for the whole frame
            module=UpscaleNet(
                self.net, multiple_of=self.multiple_of, net_scale=self.net_scale, output_resize=factor
            ).eval(),
        )

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


def describe_upscaler(
    net: RRDBNet | SRVGGNetCompact | DAT,
    *,
    arch: str,
    tile_overlap_px: int,
    bytes_per_input_px: float,
    supports_half: bool = True,
    frame_bytes_per_input_px: float = 0.0,
) -> UpscaleModel:
    """The descriptor of a built upscaler network, no output resize: scale, channels and
    input multiple come from the network; the family ``build`` functions give its tiling advice.
    """
    multiple_of, net_scale = int(net.multiple_of), int(net.scale)
    return UpscaleModel(
        net=net,
        arch=arch,
        net_scale=net_scale,
        output_resize=None,
        in_channels=net.config.in_channels,
        out_channels=net.config.out_channels,
        multiple_of=multiple_of,
        # The Real-ESRGAN nets run in fp16 on GPUs (their own default); activations stay well inside fp16 range.
        supports_half=supports_half,
        tile_overlap_px=tile_overlap_px,
        module=UpscaleNet(net, multiple_of=multiple_of, net_scale=net_scale, output_resize=None).eval(),
        bytes_per_input_px=bytes_per_input_px,
        frame_bytes_per_input_px=frame_bytes_per_input_px,
    )


def upscale_model(state_dict: Mapping[str, torch.Tensor], *, output_resize: float | None = None) -> UpscaleModel:
    """Build the upscaler a state dict (official key names) describes, through the architecture registry.

    ``output_resize`` appends ncnn's bicubic resize (the animevideov3 x2/x3 graphs).

    Raises:
        UnsupportedModelError: no upscaler architecture recognises it, or shapes that do not fit.
    """
    from framefill.models.archs import ARCHS

    model = ARCHS.detect(state_dict, task="upscale").build(state_dict)
    assert isinstance(model, UpscaleModel)  # every upscale spec builds one
    return model.with_output_resize(output_resize)


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


def exact_tiled_fn(model: Any, *, tile_px: int, device: str = "cpu", dtype: torch.dtype | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Callable[[np.ndarray], np.ndarray] | None:
    """A whole-frame operator that tiles the network itself, exactly, or None where the generic tiler serves.

    DAT pools over the whole frame in every block, so it runs block by block over
    the frame in cores of ``tile_px`` (``models/arch/dat_tiled.py``): C,H,W float32
    -> C,H*scale,W*scale float32, equal to one untiled pass up to float summation
    order. Every other architecture: None (tiles from ``ops.tiling`` carry enough context).
    """
    if not isinstance(model, UpscaleModel) or not model.tiles_itself:
        return None
    from framefill.models.arch.dat import DAT
    from framefill.models.arch.dat_tiled import upscale_tiled

    net = model.net
    assert isinstance(net, DAT)

    def run(image: np.ndarray) -> np.ndarray:
        return upscale_tiled(net, image, tile_px=tile_px, device=device, dtype=dtype or torch.float32,
                             progress=progress)

    return run


@dataclass(frozen=True)
class ClassicalUpscaler:
    """A weightless upscaler (the ``lanczos`` card): resamples the whole frame by ``method``.

    It has no scale of its own: the caller sets the output size, so ``scale`` is
    1 and ``default_scale`` (used when the user gives neither scale nor size) is
    :data:`CLASSICAL_DEFAULT_SCALE`. It needs no tiles, padding or half precision.
    """

    method: Method = "lanczos"

    @property
    def classical(self) -> Literal[True]:
        return True

    @property
    def scale(self) -> int:
        return 1

    @property
    def default_scale(self) -> float:
        return CLASSICAL_DEFAULT_SCALE

    @property
    def tile_overlap_px(self) -> int:
        return 0

    @property
    def multiple_of(self) -> int:
        return 1

    @property
    def supports_half(self) -> bool:
        return False

    @property
    def bytes_per_input_px(self) -> float:
        return 0.0

    @property
    def frame_bytes_per_input_px(self) -> float:
        return 0.0

    @property
    def tiles_itself(self) -> bool:
        return False


Upscaler = UpscaleModel | ClassicalUpscaler
"""Either kind of upscaler; tell them apart with ``.classical``."""
