"""Exact tiling for DAT: tiled equals one untiled pass up to float summation order.

DAT has two whole-frame reductions per block: channel attention's per-head d x d
matrix of normalised q k^T over every token, and AIM's channel map (a global
average pool). A tile that runs the whole net sees only its own pixels in
those, so the generic tiler (``ops/tiling.py``) cannot match the untiled net.
Here the net runs block by block over the whole frame instead:

* The frame is padded to whole windows (edge replication, as ``UpscaleNet``
  does for the untiled pass) and cut into cores on the 32-px window grid.
* The token map (H x W x embed_dim, float32) of the whole frame stays put
  between passes: two copies (the block's input and its output), plus the
  group's input when there is more than one residual group, i.e.
  :func:`token_map_bytes_per_px` per padded input pixel (480 B for DAT-light).
  They live on the host, or on a CUDA device when they and one crop's working
  set fit in its free memory (:func:`token_map_device`: no host round trip per crop).
* Each pass runs one stage on every core, reading a crop of the core plus the
  halo that stage needs, on the job's device, and keeps only the core:

  - embed (conv_first, LayerNorm): 1 px;
  - spatial block: first a statistics pass (1-px crops: LayerNorm, qkv, AIM's
    depthwise branch; sums its output over the core), then the block with the
    whole frame's mean injected, on crops with a 32-px halo, so crops stay on
    the window grid: windows and half-window shifts (8x32, 32x8) coincide with
    the untiled ones, and the crop's own wrap-around and zero padding only
    touch the halo (shifted windows reach 16 px past a core edge, the convs 2);
  - channel block: a statistics pass on the cores (sums of q k^T, q^2, k^2 and
    v, float64), then the block with softmax(q k^T / (|q||k|) * temperature)
    and AIM's pooled mean (attention @ mean(v), attention being linear in v)
    injected, on crops with a 2-px halo (two depthwise convs);
  - residual group's conv block: 2 px; tail (conv_first recomputed,
    LayerNorm, conv_after_body, upsample): 4 px.

A crop edge that is an edge of the (padded) frame behaves as the frame edge
does untiled; every other crop edge lies in the discarded halo.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from framefill.models.arch.dat import (
    BYTES_PER_INPUT_PX,
    DAT,
    ChannelAttention,
    DATConfig,
    ChannelStats,
    DATBlock,
    ResidualGroup,
    SpatialAttention,
    _to_image,
    _to_tokens,
)
from framefill.ops.tiling import plan_tiles

__all__ = ["upscale_tiled", "SPATIAL_HALO_PX", "TOKEN_BYTES_PER_PX", "tile_passes", "token_map_bytes_per_px",
           "token_map_device"]

# A spatial block's crop halo: shifted windows reach half a window (16 px) across a core edge and the
# depthwise convs 2 px more; rounded up to the window grid (32) so crops keep the untiled window partition.
SPATIAL_HALO_PX = 32
# A channel block's: AIM's and SGFN's depthwise 3x3 convs.
_CHANNEL_HALO_PX = 2
# The residual group's conv block: two 3x3 convs.
_GROUP_HALO_PX = 2
# The tail: conv_first (recomputed for the long skip), conv_after_body (two 3x3), upsample's 3x3.
_TAIL_HALO_PX = 4
# Host memory per padded input pixel for each token-map copy (fp32, DAT-light's embed_dim 60).
TOKEN_BYTES_PER_PX = 60 * 4

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _Box:
    """Half-open rows y0..y1, columns x0..x1."""

    y0: int
    y1: int
    x0: int
    x1: int

    def grow(self, halo: int, height: int, width: int) -> _Box:
        return _Box(max(0, self.y0 - halo), min(height, self.y1 + halo),
                    max(0, self.x0 - halo), min(width, self.x1 + halo))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y1 - self.y0, self.x1 - self.x0)

    def inside(self, crop: _Box) -> tuple[slice, slice]:
        """This box's rows and columns in coordinates of ``crop`` (which contains it)."""
        return slice(self.y0 - crop.y0, self.y1 - crop.y0), slice(self.x0 - crop.x0, self.x1 - crop.x0)


def token_map_bytes_per_px(config: DATConfig) -> int:
    """Bytes per padded input pixel of the whole-frame token maps held between passes (fp32).

    Two copies (a pass's input and output), and a third (the group's input, for
    its skip) when there is more than one residual group: 2 x 60 x 4 = 480 for DAT-light.
    """
    copies = 2 if len(config.depths) == 1 else 3
    return copies * config.embed_dim * 4


def token_map_device(device: torch.device, map_bytes: int, crop_bytes: int) -> torch.device:
    """Where the token maps live: on a CUDA ``device`` when ``map_bytes`` plus one crop's
    ``crop_bytes`` fit in its free memory (``torch.cuda.mem_get_info``), else on the host."""
    if device.type != "cuda":
        return torch.device("cpu")
    free, _total = torch.cuda.mem_get_info(device)
    return device if map_bytes + crop_bytes <= free else torch.device("cpu")


def tile_passes(net: DAT) -> int:
    """Passes over the cores one frame takes: embed, two per block, one per group, tail."""
    blocks = sum(len(group.blocks) for group in net.layers if isinstance(group, ResidualGroup))
    return 1 + 2 * blocks + len(net.layers) + 1


class _ExactRun:
    """One frame through ``net``, stage by stage over the cores (see the module doc)."""

    def __init__(self, net: DAT, image: np.ndarray, cores: list[_Box], device: torch.device, dtype: torch.dtype,
                 progress: Progress | None, maps: torch.device) -> None:
        self.net = net
        self.image = image  # C,H,W float32, padded to the window grid
        self.height, self.width = int(image.shape[1]), int(image.shape[2])
        self.cores = cores
        self.device = device
        self.dtype = dtype
        self.maps = maps  # where the token maps live (token_map_device)
        self.progress = progress
        self.dim = net.config.embed_dim
        self.done = 0
        self.total = len(cores) * tile_passes(net)

    # --- host <-> device ---

    def _tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _pixels(self, crop: _Box) -> torch.Tensor:
        """1,C,h,w input pixels of ``crop``."""
        piece = np.ascontiguousarray(self.image[:, crop.y0:crop.y1, crop.x0:crop.x1])
        return torch.from_numpy(piece)[None].to(device=self.device, dtype=self.dtype)

    def _tokens(self, grid: torch.Tensor, crop: _Box) -> torch.Tensor:
        """1,h*w,C tokens of ``crop`` from a token map (read only: nothing writes into its input)."""
        h, w = crop.shape
        piece = grid[crop.y0:crop.y1, crop.x0:crop.x1]
        return piece.to(device=self.device, dtype=self.dtype).reshape(1, h * w, self.dim)

    def _store(self, grid: torch.Tensor, tokens: torch.Tensor, crop: _Box, core: _Box) -> None:
        rows, cols = core.inside(crop)
        h, w = crop.shape
        kept = tokens.reshape(h, w, self.dim)[rows, cols]
        grid[core.y0:core.y1, core.x0:core.x1] = kept.to(device=grid.device, dtype=torch.float32)

    def _embed(self, crop: _Box) -> torch.Tensor:
        """The residual groups' first input (LayerNorm of conv_first) on ``crop``: 1,h*w,C."""
        mean = self.net.rgb_mean.to(self.dtype)
        return self.net.before_RG(_to_tokens(self.net.conv_first(self._pixels(crop) - mean)))

    # --- passes ---

    def embed(self, out: torch.Tensor) -> None:
        for core in self.cores:
            crop = core.grow(1, self.height, self.width)
            self._store(out, self._embed(crop), crop, core)
            self._tick()

    def spatial_mean(self, block: DATBlock, attn: SpatialAttention, grid: torch.Tensor) -> torch.Tensor:
        """The whole frame's mean of AIM's depthwise branch (C, float64)."""
        total = torch.zeros(self.dim, dtype=torch.float64, device=self.device)
        for core in self.cores:
            crop = core.grow(1, self.height, self.width)
            h, w = crop.shape
            conv = attn.conv_branch(block.norm1(self._tokens(grid, crop)), h, w)[0]
            rows, cols = core.inside(crop)
            total += conv[:, rows, cols].double().sum(dim=(1, 2))
            self._tick()
        return total / (self.height * self.width)

    def channel_stats(self, block: DATBlock, attn: ChannelAttention, grid: torch.Tensor) -> ChannelStats:
        stats = ChannelStats.zeros(attn.heads, self.dim // attn.heads, self.device)
        for core in self.cores:
            q, k, v = attn.split_qkv(block.norm1(self._tokens(grid, core)))
            stats.add(q, k, v)
            self._tick()
        return stats

    def block(self, block: DATBlock, src: torch.Tensor, dst: torch.Tensor) -> None:
        attn = block.attn
        stats: torch.Tensor | ChannelStats
        if isinstance(attn, SpatialAttention):
            stats, halo = self.spatial_mean(block, attn, src), SPATIAL_HALO_PX
        else:
            assert isinstance(attn, ChannelAttention)
            stats, halo = self.channel_stats(block, attn, src), _CHANNEL_HALO_PX
        for core in self.cores:
            crop = core.grow(halo, self.height, self.width)
            h, w = crop.shape
            self._store(dst, block(self._tokens(src, crop), h, w, stats), crop, core)
            self._tick()

    def group_end(self, group: ResidualGroup, group_in: torch.Tensor | None, src: torch.Tensor,
                  dst: torch.Tensor) -> None:
        """``group input + conv_block(blocks' output)``; ``group_in`` None: recompute it (the first group)."""
        for core in self.cores:
            crop = core.grow(_GROUP_HALO_PX, self.height, self.width)
            h, w = crop.shape
            skip = self._embed(crop) if group_in is None else self._tokens(group_in, crop)
            self._store(dst, skip + _to_tokens(group.conv(_to_image(self._tokens(src, crop), h, w))), crop, core)
            self._tick()

    def tail(self, grid: torch.Tensor) -> np.ndarray:
        net, s = self.net, self.net.scale
        out = np.empty((self.image.shape[0], self.height * s, self.width * s), dtype=np.float32)
        mean = net.rgb_mean.to(self.dtype)
        for core in self.cores:
            crop = core.grow(_TAIL_HALO_PX, self.height, self.width)
            h, w = crop.shape
            first = net.conv_first(self._pixels(crop) - mean)
            body = net.conv_after_body(_to_image(net.norm(self._tokens(grid, crop)), h, w)) + first
            up = (net.upsample(body) + mean)[0]
            rows, cols = core.inside(crop)
            kept = up[:, rows.start * s:rows.stop * s, cols.start * s:cols.stop * s]
            out[:, core.y0 * s:core.y1 * s, core.x0 * s:core.x1 * s] = kept.to("cpu", torch.float32).numpy()
            self._tick()
        return out

    def run(self) -> np.ndarray:
        tokens = torch.empty((self.height, self.width, self.dim), dtype=torch.float32, device=self.maps)
        spare = torch.empty_like(tokens)
        self.embed(tokens)
        for index, group in enumerate(self.net.layers):
            assert isinstance(group, ResidualGroup)
            group_in = None if index == 0 else tokens.clone()
            for block in group.blocks:
                assert isinstance(block, DATBlock)
                self.block(block, tokens, spare)
                tokens, spare = spare, tokens
            self.group_end(group, group_in, tokens, spare)
            tokens, spare = spare, tokens
            del group_in
        del spare
        return self.tail(tokens)


def upscale_tiled(net: DAT, image: np.ndarray, *, tile_px: int, device: str | torch.device = "cpu",
                  dtype: torch.dtype = torch.float32, progress: Progress | None = None) -> np.ndarray:
    """Upscale C,H,W float32 (network colour space, unclamped) by ``net`` in cores of about ``tile_px``.

    Equals ``UpscaleNet(net)`` on the whole frame (edge-padded to the window grid,
    output cropped) up to float summation order; ``tile_px`` <= 0 runs one core.
    ``net`` must be on ``device`` in ``dtype``. ``progress`` gets (crops done, crops)
    over every pass. Returns C,H*scale,W*scale float32 on the host.
    """
    c, h, w = (int(n) for n in image.shape)
    grid = int(net.multiple_of)
    hp, wp = math.ceil(h / grid) * grid, math.ceil(w / grid) * grid
    padded = np.ascontiguousarray(image, dtype=np.float32)
    if (hp, wp) != (h, w):
        padded = np.pad(padded, ((0, 0), (0, hp - h), (0, wp - w)), mode="edge")
    plan = plan_tiles(hp, wp, tile_px=tile_px, overlap_px=0, multiple_of=grid)
    cores = [_Box(t.y0, t.y1, t.x0, t.x1) for t in plan.tiles]
    run_on = torch.device(device)
    largest_crop = max(math.prod(c.grow(SPATIAL_HALO_PX, hp, wp).shape) for c in cores)
    maps = token_map_device(run_on, token_map_bytes_per_px(net.config) * hp * wp,
                            int(BYTES_PER_INPUT_PX * largest_crop))
    with torch.inference_mode():
        out = _ExactRun(net, padded, cores, run_on, dtype, progress, maps).run()
    s = net.scale
    if (hp, wp) == (h, w):
        return out
    return np.ascontiguousarray(out[:, :h * s, :w * s])

