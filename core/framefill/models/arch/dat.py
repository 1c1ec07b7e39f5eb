"""DAT (Dual Aggregation Transformer, Chen et al., ICCV 2023), written for framefill from the
paper and the structure of the published checkpoints.

The net works at input resolution on tokens of ``embed_dim`` channels::

    x0   = conv3x3(x - mean)
    t    = LayerNorm(tokens(x0))
    t    = [ResidualGroup] x G, each: t + conv_block([block] x depth (t))
    y    = conv_block(LayerNorm(t)) + x0
    out  = pixel_shuffle(conv3x3(y -> C * s * s), s) + mean

Blocks alternate (even index: spatial, odd: channel) between

* spatial-window self-attention: the channels split in two halves, one attending
  within ``split`` (8x32) windows and the other within transposed (32x8) ones, with
  a relative position bias from a small MLP over the offsets; some blocks shift
  their windows by half a window (a mask keeps wrapped regions apart), and
* channel self-attention: per head, a d x d attention between L2-normalised
  channel vectors over all tokens, scaled by a learned temperature,

each followed by the adaptive interaction module (AIM: a depthwise-conv branch on
V, gated against the attention branch by a channel map and a spatial map) and
the spatial-gate FFN (SGFN: half the hidden channels gate the other half after a
depthwise conv).

Relative position indices and shift masks are computed here for the size each
call sees; the checkpoints' precomputed buffers (``rpe_biases``,
``relative_position_index``, ``attn_mask_*``) are dropped when loading. Only the
DAT-light layout (``pixelshuffledirect`` upsampler, "3conv" residual blocks) is
supported: it is the one framefill ships and tests for parity.

Channel attention and AIM's channel map pool over the whole input, so a tile
that runs the whole net would depend on what else is in the tile. Tiled runs
therefore go block by block over the whole frame (``dat_tiled.py``): the blocks
take those whole-frame statistics as arguments (``conv_mean``, :class:`ChannelStats`),
and tiled equals untiled up to float summation order (measured max 5.8e-6 on a
sample-shot frame in 256-px tiles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from framefill.errors import UnsupportedModelError
from framefill.models.arch.common import StateDict, load_state_dict_exact, tensor_shape
from torch import nn

if TYPE_CHECKING:
    from framefill.models.upscale import UpscaleModel

__all__ = ["ARCH_ID", "TILE_OVERLAP_PX", "BYTES_PER_INPUT_PX", "DATConfig", "DAT", "ChannelStats", "detect",
           "build_net", "build"]

ARCH_ID = "dat"
_FAMILY = "DAT"
# The published nets' RGB mean (DIV2K), subtracted before the first conv.
RGB_MEAN = (0.4488, 0.4371, 0.4040)
# Per-call buffers of the reference implementation: recomputed here, never loaded.
_DERIVED_BUFFERS = ("rpe_biases", "relative_position_index", "attn_mask_0", "attn_mask_1")
# Tiling advice for the exact tiler (dat_tiled.py, which every tiled DAT run goes through): the
# largest crop halo it reads, a spatial block's (one window span, keeping crops on the window grid).
TILE_OVERLAP_PX = 32
# Peak fp32 working memory of one crop, bytes per input pixel: the exact tiler runs one block at a
# time on a crop, the same work as the whole net on a tile of that size, measured by bench/upscale.py
# --memory-per-px (CPU, one thread: 8.7 KB at 64 px, 13.0 KB at 128 px, 11.7 KB at 256 px), rounded up.
# The whole frame's token maps come on top: the model's frame_bytes_per_input_px
# (dat_tiled.token_map_bytes_per_px, 480 B per padded input pixel for DAT-light), which the tile plan counts.
BYTES_PER_INPUT_PX = 16_000.0


@dataclass(frozen=True)
class DATConfig:
    """Hyperparameters of a DAT, read from tensor shapes (``split`` from the offset table when present)."""

    in_channels: int = 3
    embed_dim: int = 60
    depths: tuple[int, ...] = (18,)
    num_heads: int = 6
    hidden_dim: int = 120
    split: tuple[int, int] = (8, 32)
    scale: int = 4

    @property
    def out_channels(self) -> int:
        return self.in_channels


def _conv_block(dim: int) -> nn.Sequential:
    """The "3conv" block: 3x3 to dim/4, 1x1, 3x3 back, LeakyReLU(0.2) between."""
    return nn.Sequential(
        nn.Conv2d(dim, dim // 4, 3, 1, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(dim // 4, dim // 4, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(dim // 4, dim, 3, 1, 1),
    )


def _to_image(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], h, w)


def _to_tokens(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).transpose(1, 2)


class _AIM(nn.Module):
    """The adaptive interaction module's parts: a depthwise branch and two gates."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, groups=dim), nn.BatchNorm2d(dim), nn.GELU())
        self.channel_interaction = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, dim // 8, 1), nn.BatchNorm2d(dim // 8), nn.GELU(),
            nn.Conv2d(dim // 8, dim, 1),
        )
        self.spatial_interaction = nn.Sequential(
            nn.Conv2d(dim, dim // 16, 1), nn.BatchNorm2d(dim // 16), nn.GELU(), nn.Conv2d(dim // 16, 1, 1),
        )


class _PositionMLP(nn.Module):
    """Relative position bias: offsets (dy, dx) -> one bias per head (DAT's dynamic position bias)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.pos_proj = nn.Linear(2, width)
        self.pos1 = nn.Sequential(nn.LayerNorm(width), nn.ReLU(), nn.Linear(width, width))
        self.pos2 = nn.Sequential(nn.LayerNorm(width), nn.ReLU(), nn.Linear(width, width))
        self.pos3 = nn.Sequential(nn.LayerNorm(width), nn.ReLU(), nn.Linear(width, heads))

    def forward(self, offsets: torch.Tensor) -> torch.Tensor:
        return self.pos3(self.pos2(self.pos1(self.pos_proj(offsets))))


class _WindowBranch(nn.Module):
    """Holds one window orientation's position MLP (``attns.N.pos`` in the checkpoints)."""

    def __init__(self, half_dim: int, heads: int) -> None:
        super().__init__()
        self.pos = _PositionMLP(half_dim // 4 // 4, heads)


def _window_bias(mlp: _PositionMLP, wh: int, ww: int, like: torch.Tensor) -> torch.Tensor:
    """heads,N,N bias for a wh x ww window (N = wh*ww), from every pairwise offset."""
    dy = torch.arange(1 - wh, wh, device=like.device)
    dx = torch.arange(1 - ww, ww, device=like.device)
    table = torch.stack(torch.meshgrid(dy, dx, indexing="ij"), dim=-1).reshape(-1, 2).to(like.dtype)
    per_offset = mlp(table)  # (2wh-1)(2ww-1), heads
    ys, xs = torch.meshgrid(torch.arange(wh, device=like.device), torch.arange(ww, device=like.device), indexing="ij")
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    index = (ys[:, None] - ys[None, :] + wh - 1) * (2 * ww - 1) + (xs[:, None] - xs[None, :] + ww - 1)
    return per_offset[index].permute(2, 0, 1)


def _region_labels(size: int, window: int, shift: int, device: torch.device) -> torch.Tensor:
    """Along one axis of a rolled image: 0 for the unwrapped part, 1 and 2 for the last window's two pieces."""
    labels = torch.zeros(size, device=device)
    labels[size - window: size - shift] = 1
    labels[size - shift:] = 2
    return labels


def _shift_mask(h: int, w: int, wh: int, ww: int, sh: int, sw: int, like: torch.Tensor) -> torch.Tensor:
    """nW,N,N additive mask (0 or -100) keeping regions that rolling brought together apart."""
    ly = _region_labels(h, wh, sh, like.device)
    lx = _region_labels(w, ww, sw, like.device)
    region = (ly[:, None] * 3 + lx[None, :]).reshape(h // wh, wh, w // ww, ww).permute(0, 2, 1, 3).reshape(-1, wh * ww)
    differs = region[:, :, None] != region[:, None, :]
    return torch.zeros(differs.shape, dtype=like.dtype, device=like.device).masked_fill(differs, -100.0)


def _window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, heads: int, wh: int, ww: int,
                      bias: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Self-attention within wh x ww windows of B,H,W,C maps q, k, v; returns B,H,W,C."""
    b, h, w, c = q.shape
    d = c // heads

    def windows(t: torch.Tensor) -> torch.Tensor:  # -> B*nW, heads, N, d
        t = t.reshape(b, h // wh, wh, w // ww, ww, heads, d).permute(0, 1, 3, 5, 2, 4, 6)
        return t.reshape(-1, heads, wh * ww, d)

    n_win = (h // wh) * (w // ww)
    attn_bias = bias[None]
    if mask is not None:
        attn_bias = (attn_bias.reshape(1, 1, heads, wh * ww, wh * ww) + mask[None, :, None]).reshape(
            n_win, heads, wh * ww, wh * ww).repeat(b, 1, 1, 1)
    out = F.scaled_dot_product_attention(windows(q), windows(k), windows(v), attn_mask=attn_bias)
    out = out.reshape(b, h // wh, w // ww, heads, wh, ww, d).permute(0, 1, 4, 2, 5, 3, 6)
    return out.reshape(b, h, w, c)


class SpatialAttention(nn.Module):
    """Spatial-window self-attention on two channel halves (8x32 and 32x8 windows), then AIM."""

    def __init__(self, dim: int, heads: int, split: tuple[int, int], shifted: bool) -> None:
        super().__init__()
        self.heads = heads
        self.split = split
        self.shifted = shifted
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.attns = nn.ModuleList([_WindowBranch(dim // 2, heads // 2) for _ in range(2)])
        self.aim = _AIM(dim)

    def conv_branch(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """AIM's depthwise branch on V (B,C,H,W): what the channel map pools."""
        return self.aim.dwconv(_to_image(self.qkv(x)[..., 2 * x.shape[-1]:], h, w))

    def forward(self, x: torch.Tensor, h: int, w: int, conv_mean: torch.Tensor | None = None) -> torch.Tensor:
        """``conv_mean`` (C): the whole frame's mean of :meth:`conv_branch`, given when ``x`` is a crop of it."""
        b, n, c = x.shape
        qkv = self.qkv(x)
        v_image = _to_image(qkv[..., 2 * c:], h, w)
        # Zero-pad q, k and v (the projected values, as the published nets were trained) to whole windows.
        m = max(self.split)
        ph, pw = h + (-h) % m, w + (-w) % m
        grid = F.pad(qkv.reshape(b, h, w, 3 * c), (0, 0, 0, pw - w, 0, ph - h))
        halves = []
        for i, branch in enumerate(self.attns):
            assert isinstance(branch, _WindowBranch)
            wh, ww = self.split if i == 0 else self.split[::-1]
            part = torch.cat([grid[..., j * c + i * c // 2: j * c + (i + 1) * c // 2] for j in range(3)], dim=-1)
            mask = None
            if self.shifted:
                part = torch.roll(part, shifts=(-(wh // 2), -(ww // 2)), dims=(1, 2))
                mask = _shift_mask(ph, pw, wh, ww, wh // 2, ww // 2, x)
            q, k, v = part.chunk(3, dim=-1)
            out = _window_attention(q, k, v, heads=self.heads // 2, wh=wh, ww=ww,
                                    bias=_window_bias(branch.pos, wh, ww, x), mask=mask)
            if self.shifted:
                out = torch.roll(out, shifts=(wh // 2, ww // 2), dims=(1, 2))
            halves.append(out[:, :h, :w].reshape(b, n, c // 2))
        attended = torch.cat(halves, dim=-1)
        conv = self.aim.dwconv(v_image)
        if conv_mean is None:
            channel_gate = torch.sigmoid(self.aim.channel_interaction(conv)).reshape(b, 1, c)
        else:
            pooled = conv_mean.to(x.dtype).reshape(1, c, 1, 1).expand(b, c, 1, 1)
            channel_gate = torch.sigmoid(self.aim.channel_interaction[1:](pooled)).reshape(b, 1, c)
        spatial_gate = torch.sigmoid(self.aim.spatial_interaction(_to_image(attended, h, w)))
        return self.proj(attended * channel_gate + _to_tokens(conv * spatial_gate))


@dataclass
class ChannelStats:
    """Whole-frame sums behind one channel-attention block, accumulated over crops (float64).

    ``gram``: heads,d,d sum of q k^T; ``q_sq``/``k_sq``: heads,d sums of squares (the
    L2 norms F.normalize divides by); ``v_sum``: heads,d; ``tokens``: how many were summed.
    """

    gram: torch.Tensor
    q_sq: torch.Tensor
    k_sq: torch.Tensor
    v_sum: torch.Tensor
    tokens: int = 0

    @classmethod
    def zeros(cls, heads: int, d: int, device: torch.device) -> ChannelStats:
        def z(*shape: int) -> torch.Tensor:
            return torch.zeros(shape, dtype=torch.float64, device=device)

        return cls(z(heads, d, d), z(heads, d), z(heads, d), z(heads, d))

    def add(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Add one crop's q, k, v (1,heads,d,N)."""
        q64, k64, v64 = q[0].double(), k[0].double(), v[0].double()
        self.gram += q64 @ k64.transpose(-2, -1)
        self.q_sq += (q64 * q64).sum(-1)
        self.k_sq += (k64 * k64).sum(-1)
        self.v_sum += v64.sum(-1)
        self.tokens += int(q.shape[-1])

    def attention(self, temperature: torch.Tensor) -> torch.Tensor:
        """softmax(normalize(q) normalize(k)^T * temperature) over the whole frame: heads,d,d float64."""
        eps = 1e-12  # F.normalize's: each norm is clamped below at eps
        q_norm = self.q_sq.sqrt().clamp_min(eps)
        k_norm = self.k_sq.sqrt().clamp_min(eps)
        cosine = self.gram / (q_norm[..., :, None] * k_norm[..., None, :])
        return (cosine * temperature.double()).softmax(dim=-1)

    def v_mean(self) -> torch.Tensor:
        return self.v_sum / max(self.tokens, 1)


class ChannelAttention(nn.Module):
    """Channel self-attention (normalised q, k over all tokens, learned temperature), then AIM."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.aim = _AIM(dim)

    def split_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v of B,N,C tokens, each B,heads,d,N."""
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 4, 1)
        return q, k, v

    def forward(self, x: torch.Tensor, h: int, w: int, stats: ChannelStats | None = None) -> torch.Tensor:
        """``stats``: the whole frame's sums (:class:`ChannelStats`), given when ``x`` is a crop of it."""
        b, n, c = x.shape
        q, k, v = self.split_qkv(x)  # B,heads,d,N
        if stats is None:
            attn = (F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)) * self.temperature
            attended = (attn.softmax(dim=-1) @ v).permute(0, 3, 1, 2).reshape(b, n, c)
        else:
            weights = stats.attention(self.temperature).to(v.dtype)  # heads,d,d
            attended = (weights[None] @ v).permute(0, 3, 1, 2).reshape(b, n, c)
        conv = self.aim.dwconv(v.reshape(b, c, h, w))
        spatial_gate = torch.sigmoid(_to_tokens(self.aim.spatial_interaction(conv)))
        if stats is None:
            channel_gate = torch.sigmoid(self.aim.channel_interaction(_to_image(attended, h, w)))
        else:
            # The pooled mean of attn @ v is attn @ mean(v): attention is linear in v.
            pooled = (weights @ stats.v_mean().to(v.dtype)[..., None]).reshape(1, c, 1, 1).expand(b, c, 1, 1)
            channel_gate = torch.sigmoid(self.aim.channel_interaction[1:](pooled))
        return self.proj(attended * spatial_gate + _to_tokens(conv * channel_gate))


class _SpatialGate(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)


class SGFN(nn.Module):
    """Spatial-gate feed-forward: fc1, GELU, first half times dwconv(norm(second half)), fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.sg = _SpatialGate(hidden // 2)
        self.fc2 = nn.Linear(hidden // 2, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        a, g = F.gelu(self.fc1(x)).chunk(2, dim=-1)
        g = _to_tokens(self.sg.conv(_to_image(self.sg.norm(g), h, w)))
        return self.fc2(a * g)


class DATBlock(nn.Module):
    def __init__(self, config: DATConfig, attn: nn.Module) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.embed_dim)
        self.attn = attn
        self.norm2 = nn.LayerNorm(config.embed_dim)
        self.ffn = SGFN(config.embed_dim, config.hidden_dim)

    def forward(self, x: torch.Tensor, h: int, w: int, stats: torch.Tensor | ChannelStats | None = None
                ) -> torch.Tensor:
        """``stats``: the whole frame's statistics for this block's attention, given when ``x`` is a crop."""
        x = x + (self.attn(self.norm1(x), h, w) if stats is None else self.attn(self.norm1(x), h, w, stats))
        return x + self.ffn(self.norm2(x), h, w)


def _is_shifted(group: int, block: int) -> bool:
    """Which spatial blocks shift their windows (the published nets' schedule)."""
    if group % 2 == 0:
        return block > 0 and (block - 2) % 4 == 0
    return block % 4 == 0


class ResidualGroup(nn.Module):
    def __init__(self, config: DATConfig, group: int, depth: int) -> None:
        super().__init__()
        dim, heads = config.embed_dim, config.num_heads
        self.blocks = nn.ModuleList([
            DATBlock(config, SpatialAttention(dim, heads, config.split, _is_shifted(group, i)) if i % 2 == 0
                     else ChannelAttention(dim, heads))
            for i in range(depth)
        ])
        self.conv = _conv_block(dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        t = x
        for block in self.blocks:
            t = block(t, h, w)
        return x + _to_tokens(self.conv(_to_image(t, h, w)))


class DAT(nn.Module):
    """DAT with a one-step pixel-shuffle upsampler. B,C,H,W (any H, W) -> B,C,H*s,W*s, unclamped.

    Windows are padded internally; ``multiple_of`` (the largest window side) is
    the input size at which no padding is needed and tiles keep the window grid.
    """

    def __init__(self, config: DATConfig) -> None:
        super().__init__()
        self.config = config
        self.scale: int = config.scale
        self.multiple_of: int = max(config.split)
        dim = config.embed_dim
        self.rgb_mean: torch.Tensor
        self.register_buffer("rgb_mean", torch.tensor(RGB_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(config.in_channels, dim, 3, 1, 1)
        self.before_RG = nn.Sequential(nn.Identity(), nn.LayerNorm(dim))
        self.layers = nn.ModuleList([ResidualGroup(config, i, d) for i, d in enumerate(config.depths)])
        self.norm = nn.LayerNorm(dim)
        self.conv_after_body = _conv_block(dim)
        self.upsample = nn.Sequential(nn.Conv2d(dim, config.in_channels * config.scale ** 2, 3, 1, 1),
                                      nn.PixelShuffle(config.scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        mean = self.rgb_mean.to(x.dtype)
        first = self.conv_first(x - mean)
        t = self.before_RG(_to_tokens(first))
        for group in self.layers:
            t = group(t, h, w)
        body = self.conv_after_body(_to_image(self.norm(t), h, w)) + first
        return self.upsample(body) + mean


def _without_derived(state_dict: StateDict) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state_dict.items() if k.rsplit(".", 1)[-1] not in _DERIVED_BUFFERS}


def _checkpoint_keys(state_dict: StateDict) -> dict[str, torch.Tensor]:
    """Checkpoint names -> ours: AIM's parts sit under ``attn.aim`` here, under ``attn`` there."""
    out = {}
    for key, value in _without_derived(state_dict).items():
        for part in ("dwconv.", "channel_interaction.", "spatial_interaction."):
            key = key.replace(f".attn.{part}", f".attn.aim.{part}")
        out[key] = value
    return out


def detect(state_dict: StateDict) -> bool:
    """True for a DAT state dict (official names): channel attention's temperature and a ``before_RG`` norm."""
    return "before_RG.1.weight" in state_dict and "layers.0.blocks.1.attn.temperature" in state_dict


def config_from_state_dict(state_dict: StateDict) -> DATConfig:
    """Every hyperparameter from tensor shapes.

    Raises:
        UnsupportedModelError: keys missing, or a layout other than DAT-light's.
    """
    if "conv_before_upsample.0.weight" in state_dict or "conv_after_body.0.weight" not in state_dict:
        raise UnsupportedModelError("only the DAT-light layout (pixelshuffledirect upsampler, 3conv blocks) "
                                    "is supported, as shipped by the dat-light-x2/x3/x4 cards")
    first = tensor_shape(state_dict, "conv_first.weight", _FAMILY, 4)
    up = tensor_shape(state_dict, "upsample.0.weight", _FAMILY, 4)
    heads = tensor_shape(state_dict, "layers.0.blocks.1.attn.temperature", _FAMILY, 3)[0]
    hidden = tensor_shape(state_dict, "layers.0.blocks.0.ffn.fc1.weight", _FAMILY, 2)[0]
    in_ch, dim = first[1], first[0]
    scale = round((up[0] / in_ch) ** 0.5)
    if scale * scale * in_ch != up[0]:
        raise UnsupportedModelError(f"DAT upsample.0 has {up[0]} out-channels, not {in_ch} x scale^2")
    depths: list[int] = []
    while f"layers.{len(depths)}.conv.0.weight" in state_dict:
        n = 0
        while f"layers.{len(depths)}.blocks.{n}.norm1.weight" in state_dict:
            n += 1
        depths.append(n)
    # The offset table's extremes give the first window's height and width (the table itself is recomputed).
    offsets = state_dict.get("layers.0.blocks.0.attn.attns.0.rpe_biases")
    split = (8, 32) if offsets is None else (int(offsets[:, 0].max()) + 1, int(offsets[:, 1].max()) + 1)
    return DATConfig(in_channels=in_ch, embed_dim=dim, depths=tuple(depths), num_heads=heads, hidden_dim=hidden,
                     split=split, scale=scale)


def build_net(state_dict: StateDict) -> DAT:
    """A DAT with hyperparameters and weights from ``state_dict`` (eval, float32, CPU).

    Raises:
        UnsupportedModelError: shapes or keys that do not fit.
    """
    net = DAT(config_from_state_dict(state_dict))
    load_state_dict_exact(net, _checkpoint_keys(state_dict), _FAMILY)
    return net.eval()


def build(state_dict: StateDict) -> UpscaleModel:
    """The upscaler descriptor of the DAT in ``state_dict``.

    Raises:
        UnsupportedModelError: shapes or keys that do not fit.
    """
    from framefill.models.arch.dat_tiled import token_map_bytes_per_px
    from framefill.models.upscale import describe_upscaler

    net = build_net(state_dict)
    # fp32 everywhere until fp16 is checked against fp32 on a GPU (no test machine has one).
    return describe_upscaler(net, arch=ARCH_ID, tile_overlap_px=TILE_OVERLAP_PX,
                             bytes_per_input_px=BYTES_PER_INPUT_PX, supports_half=False,
                             frame_bytes_per_input_px=float(token_map_bytes_per_px(net.config)))
