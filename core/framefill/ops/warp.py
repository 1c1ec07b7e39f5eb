"""Backward warping: fetch each output pixel from where a per-pixel flow points.

``out[b, :, y, x] = image[b, :, y + flow[b, 1, y, x], x + flow[b, 0, y, x]]``

Flows are in pixels, x (columns) in channel 0 and y (rows) in channel 1, and
pixel centres sit on integer coordinates (``align_corners=True`` semantics): a
flow of 0 fetches the pixel itself, a flow of (1, 0) its right-hand neighbour.

Three warps live here, all on ``grid_sample``'s bilinear kernel or a gather:

- :func:`rife_warp`, the formulation the RIFE networks were trained with: a
  ``linspace(-1, 1, n)`` base grid plus the flow divided by ``(n - 1) / 2``,
  sampled by ``grid_sample(bilinear, border, align_corners=True)``. In float32
  it equals RIFE's own warp bit for bit, which the parity tests need.
  :func:`rife_warp_pair` warps both frames of a pair in one call (the networks' form).
- :func:`backward_warp`, for the pixels framefill writes: the same sampling,
  except that pixels whose flow is a whole number of pixels (both components)
  are copied from their source. The round trip through normalised
  coordinates lands up to ~1e-4 px off the pixel centres at 2K, so without
  this a zero flow would not return the image unchanged; with it, a static
  background or an integer shift is bit-exact. Elsewhere it equals
  :func:`rife_warp`.
- :func:`backward_warp_nearest` for ID-like channels (object/material IDs,
  cryptomatte) that must never be blended: every output value is an input
  value, for any dtype.

Public functions with options have two spellings: ``backward_warp(image, flow,
*, padding=...)`` for Python callers and ``backward_warp_script(image, flow,
padding)``, the same code in a form ``torch.jit.script`` compiles (TorchScript
rejects keyword-only parameters with defaults).

:class:`PreparedFlow` is :func:`backward_warp` and :func:`backward_warp_nearest` for one
flow that warps many stacks (every layer of a fill): its grid, whole-pixel mask and
nearest indices are made once, and each warp gives the same values as the functions.

Nothing here picks a device: every tensor made follows the flow's device. Base
grids are rebuilt on each call (an ``arange``/``linspace`` of H and W values,
noise next to the sampling), so no cache can leak state across devices.
Coordinates and sampling run in float32 (float64 for float64 images) and only
the result is cast back: half precision spaces values 1/1024 apart near 1.0
(0.9 px at 1920 wide), bf16 1/128. Non-finite source values spread to every
output pixel whose bilinear footprint touches them, as in any bilinear filter.
"""

from typing import List

import torch
import torch.nn.functional as F

__all__ = [
    "WARP_PADDING",
    "rife_warp_pair",
    "backward_warp",
    "backward_warp_nearest",
    "backward_warp_script",
    "backward_warp_nearest_script",
    "PreparedFlow",
    "rife_warp",
]

# Where a flow points outside the image: "border" takes the nearest edge pixel
# (RIFE's choice and the default), "zeros" gives 0.
WARP_PADDING = ("border", "zeros")


def _check_pair(image: torch.Tensor, flow: torch.Tensor, padding: str) -> List[int]:
    """B, C, H, W of ``image`` after checking ``flow`` (B, 2, H, W) and ``padding``."""
    if image.dim() != 4:
        raise ValueError("warp: image must be B,C,H,W")
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError("warp: flow must be B,2,H,W (x then y, in pixels)")
    if flow.shape[0] != image.shape[0] or flow.shape[2] != image.shape[2] or flow.shape[3] != image.shape[3]:
        raise ValueError("warp: flow batch, height and width must equal the image's")
    if not flow.is_floating_point():
        raise ValueError("warp: flow must be a floating-point tensor")
    if padding != "border" and padding != "zeros":
        raise ValueError("warp: padding must be 'border' or 'zeros'")
    return [int(image.shape[0]), int(image.shape[1]), int(image.shape[2]), int(image.shape[3])]


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype == torch.float64:
        return torch.float64
    return torch.float32


def _source_coords(flow: torch.Tensor, h: int, w: int, work: torch.dtype) -> List[torch.Tensor]:
    """Absolute source x and y (B, H, W) in ``work`` dtype; a NaN flow fetches the pixel itself."""
    b = int(flow.shape[0])
    col = torch.arange(w, dtype=work, device=flow.device).view(1, 1, w).expand(b, h, w)
    row = torch.arange(h, dtype=work, device=flow.device).view(1, h, 1).expand(b, h, w)
    src_x = col + flow[:, 0].to(work)
    src_y = row + flow[:, 1].to(work)
    src_x = torch.where(torch.isnan(src_x), col, src_x)
    src_y = torch.where(torch.isnan(src_y), row, src_y)
    return [src_x, src_y]


def _gather(flat: torch.Tensor, yi: torch.Tensor, xi: torch.Tensor, w: int) -> torch.Tensor:
    """Values of ``flat`` (B, C, H*W) at integer positions (B, H, W) -> B, C, H, W."""
    b, c = int(flat.shape[0]), int(flat.shape[1])
    h, ww = int(yi.shape[1]), int(yi.shape[2])
    index = (yi * w + xi).view(b, 1, h * ww).expand(b, c, h * ww)
    return flat.gather(2, index).view(b, c, h, ww)


def _sampling_grid(flow: torch.Tensor, work: torch.dtype) -> torch.Tensor:
    """RIFE's formulation: a normalised base grid plus the normalised flow, B,H,W,2 for ``grid_sample``."""
    b, h, w = int(flow.shape[0]), int(flow.shape[2]), int(flow.shape[3])
    # A one-pixel axis has no extent to normalise by; any divisor works there
    # because grid_sample maps every coordinate of a size-1 axis to its pixel.
    half_w = (w - 1.0) / 2.0 if w > 1 else 1.0
    half_h = (h - 1.0) / 2.0 if h > 1 else 1.0
    base_x = torch.linspace(-1.0, 1.0, w, dtype=work, device=flow.device).view(1, 1, 1, w)
    base_y = torch.linspace(-1.0, 1.0, h, dtype=work, device=flow.device).view(1, 1, h, 1)
    grid_x = base_x + flow[:, 0:1].to(work) / half_w
    grid_y = base_y + flow[:, 1:2].to(work) / half_h
    return torch.cat([grid_x.expand(b, 1, h, w), grid_y.expand(b, 1, h, w)], 1).permute(0, 2, 3, 1)


def _grid_warp(image: torch.Tensor, flow: torch.Tensor, padding: str) -> torch.Tensor:
    """RIFE's formulation: normalised base grid plus normalised flow, ``grid_sample`` bilinear."""
    work = _work_dtype(image.dtype)
    grid = _sampling_grid(flow, work)
    source = image if image.dtype == work else image.to(work)
    out = F.grid_sample(source, grid, mode="bilinear", padding_mode=padding, align_corners=True)
    return out if out.dtype == image.dtype else out.to(image.dtype)


def backward_warp_script(image: torch.Tensor, flow: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """Bilinear backward warp; the TorchScript-compilable form of :func:`backward_warp`."""
    _check_pair(image, flow, padding)
    if not image.is_floating_point():
        raise ValueError("warp: bilinear warping needs a floating-point image; use backward_warp_nearest")
    flow = torch.where(torch.isnan(flow), torch.zeros_like(flow), flow)
    out = _grid_warp(image, flow, padding)
    # grid_sample's normalised coordinates come back a hair off the pixel
    # centres, so pixels whose flow is a whole number of pixels (a static
    # background, an integer shift) are copied from their source instead:
    # exact, and no neighbour leaks in through a near-zero weight.
    whole = (flow == torch.round(flow)).all(dim=1, keepdim=True)
    if bool(whole.any()):
        exact = backward_warp_nearest_script(image, flow, padding)
        out = torch.where(whole, exact, out)
    return out


def backward_warp_nearest_script(image: torch.Tensor, flow: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """Nearest-neighbour backward warp; the TorchScript-compilable form of :func:`backward_warp_nearest`."""
    b, c, h, w = _check_pair(image, flow, padding)
    src_x, src_y = _source_coords(flow, h, w, _work_dtype(flow.dtype))
    # torch.round sends halves to even, like grid_sample's nearest mode.
    src_x = torch.round(src_x)
    src_y = torch.round(src_y)
    inside = (src_x >= 0) & (src_x <= w - 1) & (src_y >= 0) & (src_y <= h - 1)
    # Clamp before the integer cast so that huge flows cannot overflow it.
    xi = src_x.clamp(0, w - 1).to(torch.long)
    yi = src_y.clamp(0, h - 1).to(torch.long)
    out = _gather(image.reshape(b, c, h * w), yi, xi, w)
    if padding == "zeros":
        out = torch.where(inside.unsqueeze(1), out, torch.zeros_like(out))
    return out


def rife_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinear backward warp exactly as RIFE computes it (normalised grid, border padding).

    Args:
        image: B,C,H,W floating-point tensor, any C and values.
        flow: B,2,H,W floating-point tensor in pixels, x then y.

    Returns:
        B,C,H,W tensor of the image's dtype. In float32 the result equals RIFE's
        ``warplayer.warp`` bit for bit; half inputs are sampled in float32.

    Raises:
        ValueError: shapes that do not match or an integer image.
    """
    _check_pair(image, flow, "border")
    if not image.is_floating_point():
        raise ValueError("warp: bilinear warping needs a floating-point image")
    return _grid_warp(image, flow, "border")


def rife_warp_pair(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Both frames of a pair warped by RIFE's two flows in one call.

    Args:
        images: 2B,C,H,W: the B frames 0 stacked over the B frames 1 on the batch axis.
        flow: B,4,H,W: the flows to frame 0 (channels 0-1) and to frame 1 (channels 2-3).

    Returns:
        ``rife_warp(frames0, flow[:, 0:2])`` stacked over ``rife_warp(frames1, flow[:, 2:4])``, value
        for value. On the CPU, ``grid_sample`` runs its batch in parallel and nothing else: two
        one-frame calls use one thread each, this call all of them.
    """
    return rife_warp(images, torch.cat((flow[:, 0:2], flow[:, 2:4]), 0))


def backward_warp(image: torch.Tensor, flow: torch.Tensor, *, padding: str = "border") -> torch.Tensor:
    """Sample ``image`` bilinearly where ``flow`` points; whole-pixel flows copy exactly.

    Args:
        image: B,C,H,W floating-point tensor (float16/bfloat16/float32/float64),
            any C, any values (never clamped: scene-linear and HDR pass through).
        flow: B,2,H,W floating-point tensor on the image's device, in pixels,
            x then y: where each output pixel fetches its value. A NaN component
            fetches the pixel itself.
        padding: "border" (the nearest edge pixel, as RIFE does) or "zeros".

    Returns:
        B,C,H,W tensor of the image's dtype and device. Where a flow is a whole
        number of pixels the source pixel is copied bit for bit (a zero flow
        returns the image unchanged); elsewhere the result equals
        :func:`rife_warp` (with the chosen padding).

    Raises:
        ValueError: shapes that do not match, an integer image (use
            :func:`backward_warp_nearest`) or an unknown padding.
    """
    return backward_warp_script(image, flow, padding)


def backward_warp_nearest(image: torch.Tensor, flow: torch.Tensor, *, padding: str = "border") -> torch.Tensor:
    """Copy, for each output pixel, the source pixel nearest to where ``flow`` points.

    For ID-like channels that must never be blended: every output value is one
    of the input values, bit for bit, whatever the dtype.

    Args:
        image: B,C,H,W tensor of any dtype (float, integer or bool), any C.
        flow: B,2,H,W floating-point tensor on the image's device, in pixels,
            x then y. Coordinates round half to even; a NaN component fetches
            the pixel itself.
        padding: "border" (nearest edge pixel) or "zeros" (0 outside the image).

    Returns:
        B,C,H,W tensor of the image's dtype and device.

    Raises:
        ValueError: shapes that do not match or an unknown padding.
    """
    return backward_warp_nearest_script(image, flow, padding)


class PreparedFlow:
    """One flow made ready to warp many float32 stacks: :meth:`warp` equals :func:`backward_warp`
    and :meth:`nearest` equals :func:`backward_warp_nearest` (border padding), value for value.

    The sampling grid, the mask of whole-pixel flows and the nearest source indices are made
    once here instead of on every call.
    """

    def __init__(self, flow: torch.Tensor) -> None:
        if flow.dim() != 4 or flow.shape[1] != 2 or not flow.is_floating_point():
            raise ValueError("warp: flow must be a floating-point B,2,H,W tensor (x then y, in pixels)")
        # NaN as 0, infinities kept: the values of backward_warp's torch.where, in one pass.
        self.flow = torch.nan_to_num(flow, nan=0.0, posinf=float("inf"), neginf=float("-inf"))
        b, _, h, w = (int(n) for n in self.flow.shape)
        self.shape = (b, h, w)
        self.grid = _sampling_grid(self.flow, torch.float32)
        on_pixel = self.flow == torch.round(self.flow)
        whole = on_pixel[:, 0:1] & on_pixel[:, 1:2]  # both components whole (cheaper than .all(dim=1))
        self.whole = whole if bool(whole.any()) else None
        self._index: torch.Tensor | None = None

    def _check(self, image: torch.Tensor) -> None:
        b, h, w = self.shape
        if image.dim() != 4 or int(image.shape[0]) != b or int(image.shape[2]) != h or int(image.shape[3]) != w:
            raise ValueError("warp: flow batch, height and width must equal the image's")

    def index(self) -> torch.Tensor:
        """Flat source index (B, 1, H*W) of the nearest pixel, border padding (made on first use)."""
        if self._index is None:  # backward_warp_nearest's values, in fewer passes: the flow has no NaN left
            b, h, w = self.shape
            work = _work_dtype(self.flow.dtype)
            col = torch.arange(w, dtype=work, device=self.flow.device).view(1, 1, w)
            row = torch.arange(h, dtype=work, device=self.flow.device).view(1, h, 1)
            xi = (self.flow[:, 0].to(work) + col).round_().clamp_(0, w - 1).to(torch.long)
            yi = (self.flow[:, 1].to(work) + row).round_().clamp_(0, h - 1).to(torch.long)
            self._index = yi.mul_(w).add_(xi).view(b, 1, h * w)
        return self._index

    def nearest(self, image: torch.Tensor) -> torch.Tensor:
        """The source pixel nearest to where the flow points, any dtype: :func:`backward_warp_nearest`."""
        self._check(image)
        b, c, h, w = (int(n) for n in image.shape)
        return image.reshape(b, c, h * w).gather(2, self.index().expand(b, c, h * w)).view(b, c, h, w)

    def warp(self, image: torch.Tensor) -> torch.Tensor:
        """Bilinear, whole-pixel flows copied exactly: :func:`backward_warp` for a float32 ``image``."""
        self._check(image)
        if image.dtype != torch.float32:
            return backward_warp(image, self.flow)
        out = F.grid_sample(image, self.grid, mode="bilinear", padding_mode="border", align_corners=True)
        if self.whole is not None:
            out = torch.where(self.whole, self.nearest(image), out)
        return out
