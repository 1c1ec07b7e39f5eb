"""Host-ready models: TorchScript for Nuke's Inference node, ONNX for Houdini and ONNX Runtime.

Nuke (``framefill export nuke``): a ``torch.jit.script`` module saved as ``.pt``
that keeps the contract of NukeX's Inference node and CatFileCreator: one
1xCxHxW tensor in and one out; any H and W (padded inside, cropped back);
knobs as plain typed attributes set in ``__init__`` (floats, int flags, never
Optional); every class a direct ``nn.Module``; tensors made inside follow the
input's device and dtype ("Use GPU if available", half precision). Nuke hands
over raw scene-linear pixels: with ``linear_input`` 1 the module applies the
unclamped sRGB curve the networks were trained on and, where it returns
pixels, inverts it. The files load in torch 1.12.1 (Nuke 14, 15) and newer
(see :func:`script_module`).

- rife-4 ``<model>.pt``, 1x6xHxW (frame A rgb, frame B rgb) -> 1x5xHxW: the
  backward flows from time t to A (u, v) and to B (u, v) in pixels, in Nuke's
  motion-vector convention (x right, y up: the Inference node gives rows top
  first, as the published RIFE-for-Nuke setup assumes, so v is negated), and
  the weight of A. The frame is ``warp(A, flow_A) * w + warp(B, flow_B) * (1 - w)``;
  the ``.nk`` setup does that with STMaps on EVERY channel of the original frames.
- rife-4 ``<model>_frame.pt``, 1x6xHxW -> 1x3xHxW: that frame, warped inside.
- upscalers ``<model>.pt``, 1x3xHxW -> 1x3x(sH)x(sW).
- knobs: ``timestep`` (float, 0 = A), ``scale`` (RIFE's resolution scale,
  snapped to 0.25..4), ``linear_input`` (int).

ONNX (``framefill export onnx``): :mod:`framefill.runtime.onnx_export` traces
these same modules (RIFE wrapped by :class:`OnnxInterpolator`); ``export_onnx``
and the ``ONNX_*`` constants are importable from here too.

Every scripted class and function stays in this module: their qualified names
(``framefill.runtime.export.*``) are part of the saved TorchScript files.
Importing this module imports torch; only ``framefill export`` imports it.
"""

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Literal, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from framefill.atomic import atomic_write_bytes, atomic_write_text
from framefill.errors import InputError, UnsupportedModelError
from framefill.models.registry import Task
from framefill.ops.warp import backward_warp_nearest_script, rife_warp
from framefill.runtime.nuke_script import (
    NUKE_B_RGB,
    NUKE_MOTION_OUT,
    NUKE_RGB,
    catfilecreator_nk,
    node_name,
    rife_setup_nk,
    upscale_setup_nk,
)

if TYPE_CHECKING:
    from framefill.runtime.onnx_export import (
        DEFAULT_ONNX_SIZE,
        ONNX_MAX_BYTES,
        ONNX_OPSET,
        export_onnx,
    )

__all__ = [
    "NUKE_VARIANTS",
    "NukeVariant",
    "ONNX_OPSET",
    "ONNX_MAX_BYTES",
    "DEFAULT_ONNX_SIZE",
    "LoadedExport",
    "ExportedFile",
    "ExportResult",
    "srgb_encode",
    "srgb_decode",
    "snap_rife_scale",
    "NukeInterpolator",
    "NukeUpscaler",
    "OnnxInterpolator",
    "load_export_model",
    "build_nuke_module",
    "script_module",
    "export_stem",
    "export_nuke",
    "nuke_contract",
    "export_onnx",
    "catfilecreator_nk",
    "rife_setup_nk",
    "upscale_setup_nk",
]

# The sRGB encoding as OCIO's built-in studio config defines it (framefill.color
# uses that config): a power curve of exponent 1/2.4 with offset 0.055, joined
# to a straight line where value and slope meet. Extended linearly below 0 and
# as the power curve above 1, so it is invertible and never clamps HDR values.
SRGB_GAMMA = 2.4
SRGB_OFFSET = 0.055
SRGB_BREAK_ENCODED = SRGB_OFFSET / (SRGB_GAMMA - 1.0)
SRGB_BREAK_LINEAR = (SRGB_OFFSET * SRGB_GAMMA / ((1.0 + SRGB_OFFSET) * (SRGB_GAMMA - 1.0))) ** SRGB_GAMMA
SRGB_SLOPE = SRGB_BREAK_ENCODED / SRGB_BREAK_LINEAR

NukeVariant = Literal["motion", "frame"]
NUKE_VARIANTS: Tuple[NukeVariant, ...] = ("motion", "frame")
ExportTarget = Literal["nuke", "onnx"]
FileRole = Literal["torchscript", "nk-catfilecreator", "nk-setup", "onnx", "sidecar"]
# Names that moved to onnx_export.py, still importable from here (see __getattr__).
_ONNX_NAMES = frozenset({"ONNX_OPSET", "ONNX_MAX_BYTES", "DEFAULT_ONNX_SIZE", "export_onnx"})


# --------------------------------------------------------------------------- colour


def srgb_encode(x: torch.Tensor) -> torch.Tensor:
    """Scene-linear -> sRGB-encoded, unclamped; any shape, result in ``x``'s dtype.

    Computed in float32 (half precision cannot hold the curve's small values),
    linear below the break point (negative values included), the power curve
    above (values over 1 included). Equals framefill.color's OCIO transform to
    ~1e-7 on [0, 1]. The literals are SRGB_* above (TorchScript cannot read
    module globals); a unit test holds them equal.
    """
    v = x.float()
    power = 1.055 * torch.pow(torch.clamp(v, min=0.0030399346397784323), 1.0 / 2.4) - 0.055
    return torch.where(v <= 0.0030399346397784323, v * 12.923210180787853, power).to(x.dtype)


def srgb_decode(x: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded -> scene-linear; the exact inverse of :func:`srgb_encode` (same literals)."""
    v = x.float()
    power = torch.pow((torch.clamp(v, min=0.03928571428571429) + 0.055) / 1.055, 2.4)
    return torch.where(v <= 0.03928571428571429, v / 12.923210180787853, power).to(x.dtype)


def snap_rife_scale(scale: float) -> float:
    """RIFE's scale from a knob value: the nearest of 0.25, 0.5, 1, 2, 4 in log2 (1 for 0, NaN or less)."""
    if not scale > 0.0:  # also catches NaN
        return 1.0
    # Geometric midpoints between neighbours (TorchScript has no math.log2): sqrt(1/8), sqrt(1/2), sqrt(2), sqrt(8).
    if scale < 0.3535533905932738:
        return 0.25
    if scale < 0.7071067811865476:
        return 0.5
    if scale < 1.4142135623730951:
        return 1.0
    if scale < 2.8284271247461903:
        return 2.0
    return 4.0


def _warp_exact(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """framefill's own warp (ops.warp.backward_warp, border) with no data-dependent branch.

    Bilinear as RIFE warps, except that pixels whose flow is a whole number of
    pixels are copied from their source, so it equals what ``framefill
    interpolate`` writes; written as one ``where`` so that ONNX tracing keeps
    both paths.
    """
    bilinear = rife_warp(image, flow)
    whole = (flow == torch.round(flow)).all(dim=1, keepdim=True)
    return torch.where(whole, backward_warp_nearest_script(image, flow, "border"), bilinear)


# --------------------------------------------------------------------------- Nuke modules


class NukeInterpolator(nn.Module):
    """RIFE for Nuke's Inference node: two frames in one tensor -> motion (or the frame) at ``timestep``.

    ``forward(x)``: x 1x6xHxW float (fp32 or fp16, any device): channels 0-2
    frame A rgb, 3-5 frame B rgb, scene-linear (``linear_input`` 1) or
    sRGB-encoded (0), never clamped. Returns, in x's dtype and device,
    1x5xHxW ``[uA, vA, uB, vB, wA]`` (flows in pixels, x right and y UP, from
    time t back to A and to B; ``wA`` the weight of warped A) or, with
    ``output_frame`` 1, the 1x3xHxW frame at t made from the rgb given.

    Raises:
        ValueError (in TorchScript, "RuntimeError" in Nuke): not 1x6xHxW.
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        pad_base: int,
        output_frame: bool = False,
        timestep: float = 0.5,
        scale: float = 1.0,
        linear_input: bool = True,
    ) -> None:
        super().__init__()
        self.net = net
        # Knobs: plain typed attributes, never Optional (CatFileCreator maps knobs to them by name).
        self.timestep: float = float(timestep)
        self.scale: float = float(scale)
        self.linear_input: int = int(bool(linear_input))
        # Fixed at export: which output the .pt produces, and RIFE's padding multiple at scale 1.
        self.output_frame: int = int(bool(output_frame))
        self.pad_base: int = int(pad_base)

    def motion(
        self, img0: torch.Tensor, img1: torch.Tensor, timestep: torch.Tensor, scale: float
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Flows (Bx4xHxW, pixels, x right, y DOWN) and the weight of img0 (Bx1xHxW) at ``timestep``."""
        h = int(img0.shape[2])
        w = int(img0.shape[3])
        a = img0
        b = img1
        if self.linear_input != 0:
            a = srgb_encode(a)
            b = srgb_encode(b)
        # Zero padding at the bottom and right, as the reference inference pads.
        multiple = max(self.pad_base, int(self.pad_base / scale))
        pad_h = (multiple - h % multiple) % multiple
        pad_w = (multiple - w % multiple) % multiple
        if pad_h > 0 or pad_w > 0:
            a = F.pad(a, [0, pad_w, 0, pad_h])
            b = F.pad(b, [0, pad_w, 0, pad_h])
        out = self.net(a, b, timestep, scale)
        flow = out.flow[:, :, :h, :w]
        mask = out.mask[:, :, :h, :w]
        return flow, mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or int(x.shape[1]) != 6:
            raise ValueError("framefill RIFE takes 1x6xHxW: frame A rgb then frame B rgb")
        img0 = x[:, 0:3]
        img1 = x[:, 3:6]
        t = min(max(self.timestep, 0.0), 1.0)
        times = torch.full([int(x.shape[0]), 1, 1, 1], t, dtype=x.dtype, device=x.device)
        flow, mask = self.motion(img0, img1, times, snap_rife_scale(self.scale))
        if self.output_frame != 0:
            frame = _warp_exact(img0, flow[:, 0:2]) * mask + _warp_exact(img1, flow[:, 2:4]) * (1.0 - mask)
            return frame.contiguous()
        # Nuke's y axis points up: negate the vertical components.
        vectors = torch.cat((flow[:, 0:1], -flow[:, 1:2], flow[:, 2:3], -flow[:, 3:4], mask), 1)
        return vectors.to(x.dtype).contiguous()


class NukeUpscaler(nn.Module):
    """An upscaler for Nuke's Inference node (set CatFileCreator's Output Scale to ``output_scale``).

    ``forward(x)``: x 1x3xHxW float (fp32 or fp16, any device), scene-linear
    (``linear_input`` 1: encoded to sRGB before the network and decoded after,
    unclamped) or sRGB-encoded (0) -> 1x3x(sH)x(sW) in x's dtype and device.

    Raises:
        ValueError: not 1x3xHxW.
    """

    def __init__(self, upscaler: nn.Module, *, output_scale: int, linear_input: bool = True) -> None:
        super().__init__()
        self.upscaler = upscaler
        self.linear_input: int = int(bool(linear_input))
        self.output_scale: int = int(output_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or int(x.shape[1]) != 3:
            raise ValueError("framefill upscaler takes 1x3xHxW rgb")
        y = x
        if self.linear_input != 0:
            y = srgb_encode(y)
        out = self.upscaler(y)
        if self.linear_input != 0:
            out = srgb_decode(out)
        return out.contiguous()


# --------------------------------------------------------------------------- ONNX modules


class OnnxInterpolator(nn.Module):
    """RIFE for ONNX: ``(frame0, frame1, timestep) -> (flow0, flow1, mask)`` or ``frame``.

    frame0/frame1 1x3xHxW float32, timestep 1x1xHxW (its mean, clamped to
    [0, 1], is t). flow0/flow1 1x2xHxW in pixels (x right, y down; y up with
    ``flow_y_up``), mask 1x1xHxW the weight of frame0; or ``frame`` 1x3xHxW.
    """

    def __init__(self, inner: NukeInterpolator, *, scale: float, flow_y_up: bool) -> None:
        super().__init__()
        self.inner = inner
        self.scale: float = snap_rife_scale(scale)
        self.flow_y_up: int = int(bool(flow_y_up))

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor, timestep: torch.Tensor) -> Any:
        t = timestep.float().mean().clamp(0.0, 1.0).to(frame0.dtype).reshape(1, 1, 1, 1)
        flow, mask = self.inner.motion(frame0, frame1, t, self.scale)
        if self.inner.output_frame != 0:
            return _warp_exact(frame0, flow[:, 0:2]) * mask + _warp_exact(frame1, flow[:, 2:4]) * (1.0 - mask)
        flow0 = flow[:, 0:2]
        flow1 = flow[:, 2:4]
        if self.flow_y_up != 0:
            flip = torch.tensor([1.0, -1.0], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
            flow0 = flow0 * flip
            flow1 = flow1 * flip
        return flow0, flow1, mask


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class LoadedExport:
    """The network behind an export: RIFE's inner net (with its padding base) or a whole upscaler."""

    name: str
    task: Task
    sha256: str
    module: nn.Module
    pad_base: int = 0
    scale: int = 1


def load_export_model(name: str, *, weights: Optional[Path] = None) -> LoadedExport:
    """Load the float32 CPU network of a registered model for export.

    Raises:
        InputError: an unknown model name.
        UnsupportedModelError: a model with no network (flow, blend, lanczos) or
            one whose procedure a single graph cannot hold (rife-hdv3).
        ModelNotFoundError, WeightsMismatchError: weights not cached or altered.
    """
    from framefill.models.arch.interp_model import InterpModel
    from framefill.models.cache import check_sha256, require_files, sha256_of
    from framefill.models.checkpoint import load_state_dict
    from framefill.models.loading import load_upscaler
    from framefill.models.registry import MODELS
    from framefill.models.upscale import UpscaleModel

    card = MODELS.get(name)
    if card.classical:
        raise UnsupportedModelError(
            f"model {card.name!r} is a classical method with no network to export; "
            "export rife-4 or a Real-ESRGAN model (framefill models list)"
        )
    if card.members:
        raise UnsupportedModelError(
            f"{card.name} is two networks whose motions are fused after they run; export each of "
            f"{' and '.join(card.members)} (rife-4 is the exportable one)"
        )
    if card.arch == "rife-hdv3":
        raise UnsupportedModelError(
            "rife-hdv3 predicts only t = 0.5 and reaches other times by bisection, which one TorchScript/ONNX "
            "graph with a timestep knob cannot hold; export rife-4"
        )
    if card.arch == "dat":
        raise UnsupportedModelError(
            f"{card.name} (DAT) is not exportable yet: its windowed attention does not compile to TorchScript; "
            "export a Real-ESRGAN model (framefill models list)"
        )
    if card.task == "interpolate":
        from framefill.models.archs import ARCHS

        if weights is not None:
            path = Path(weights)
            state = load_state_dict(path)  # first: it says what is wrong with a bad path
            sha = sha256_of(path)
        else:
            path = require_files(card)["weights"]
            check_sha256(path, card.files[0])
            sha = card.files[0].sha256
            state = load_state_dict(path)
        model = ARCHS.get(card.arch).build(state)
        assert isinstance(model, InterpModel)  # an interpolation card names an interpolation arch
        return LoadedExport(card.name, "interpolate", sha, model.net.eval(), pad_base=int(model.multiple_of))
    loaded = load_upscaler(card.name, weights=weights)  # verified cached ncnn files, or a .pth / .param
    upscaler = loaded.model
    assert isinstance(upscaler, UpscaleModel)  # not classical: refused above
    return LoadedExport(card.name, "upscale", loaded.sha256, upscaler.module.eval(), scale=int(upscaler.scale))


def build_nuke_module(
    loaded: LoadedExport,
    *,
    variant: NukeVariant = "motion",
    timestep: float = 0.5,
    scale: float = 1.0,
    linear_input: bool = True,
) -> nn.Module:
    """The eager (not yet scripted) Nuke module for a loaded model, in eval mode.

    ``variant`` is ``motion`` (flows and mask) or ``frame`` (the frame at t);
    upscalers ignore it and ``timestep``/``scale``.

    Raises:
        InputError: an unknown variant.
    """
    if variant not in NUKE_VARIANTS:
        raise InputError(f"unknown Nuke export variant {variant!r}; use one of {', '.join(NUKE_VARIANTS)}")
    if loaded.task == "interpolate":
        return NukeInterpolator(
            loaded.module, pad_base=loaded.pad_base, output_frame=variant == "frame", timestep=timestep,
            scale=scale, linear_input=linear_input,
        ).eval()
    return NukeUpscaler(loaded.module, output_scale=loaded.scale, linear_input=linear_input).eval()


def _interpolate_for_old_torch(
    input: torch.Tensor,
    size: Optional[List[int]] = None,
    scale_factor: Optional[float] = None,
    mode: str = "nearest",
    align_corners: Optional[bool] = None,
    recompute_scale_factor: Optional[bool] = None,
    antialias: bool = False,
) -> torch.Tensor:
    """``F.interpolate`` for the calls framefill's networks make, as the single aten op it dispatches to.

    4-D input, a scale factor, bilinear or nearest: the same ``upsample_*2d.vec``
    op F.interpolate calls, so results are bit-identical. What differs is the
    saved graph: torch 2.x's scripted F.interpolate carries every mode's branch,
    and one of them (``aten::_upsample_lanczos2d_aa``) makes torch 1.12, Nuke 14
    and 15's, refuse to load the whole file.
    """
    if size is not None or input.dim() != 4 or antialias:
        raise ValueError("framefill export: interpolate supports 4-D input with a scale factor only")
    if scale_factor is None:
        raise ValueError("framefill export: interpolate needs a scale factor")
    factors = [float(scale_factor), float(scale_factor)]
    corners = False
    if align_corners is not None:
        corners = align_corners
    if mode == "bilinear":
        return torch._C._nn.upsample_bilinear2d(input, None, corners, factors)
    if mode == "nearest":
        return torch._C._nn.upsample_nearest2d(input, None, factors)
    raise ValueError("framefill export: interpolate supports bilinear and nearest only")


def script_module(module: nn.Module) -> torch.jit.ScriptModule:
    """``torch.jit.script`` the module (Nuke needs scripting, not tracing), gradients off.

    While it compiles, ``F.interpolate`` is :func:`_interpolate_for_old_torch`
    (the networks look it up by name at compile time), so the file loads in
    Nuke 14-15's torch 1.12 as well as in newer ones. TorchScript caches what it
    compiled per module class and per function, so a class scripted earlier in the
    process (with the real F.interpolate) would be reused: the caches are cleared
    before and after.
    """
    import torch.nn.functional as functional

    module = module.eval()
    for param in module.parameters():
        param.requires_grad_(False)
    original = functional.interpolate
    with warnings.catch_warnings():
        # torch 2.13 deprecates torch.jit.script in favour of torch.export, which
        # Nuke cannot read; the warning is noise for this exporter.
        warnings.simplefilter("ignore", DeprecationWarning)
        functional.interpolate = _interpolate_for_old_torch  # type: ignore[assignment]
        _clear_script_caches()
        try:
            return torch.jit.script(module)
        finally:
            functional.interpolate = original
            _clear_script_caches()


def _clear_script_caches() -> None:
    """Forget TorchScript's compiled module types and functions (private torch state, checked by a test)."""
    from torch.jit import _recursive, _state

    _recursive.concrete_type_store.type_store.clear()
    _state._jit_caching_layer.clear()


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ExportedFile:
    """One file written by an export and what it is."""

    path: Path
    role: FileRole


@dataclass(frozen=True)
class ExportResult:
    """What ``framefill export`` wrote, and the tensor contract of each model."""

    target: ExportTarget
    model: str
    sha256: str
    files: Tuple[ExportedFile, ...]
    contracts: Tuple[dict, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        files = [{"path": str(f.path), "role": f.role} for f in self.files]
        return {"target": self.target, "model": self.model, "sha256": self.sha256, "files": files,
                "contracts": list(self.contracts)}


def export_stem(name: str) -> str:
    """The file-name stem of a model's exports (dots would read as extensions)."""
    return name.replace(".", "_")


# --------------------------------------------------------------------------- Nuke export


def export_nuke(
    name: str,
    out_dir: str | Path,
    *,
    weights: Optional[Path] = None,
    timestep: float = 0.5,
    scale: float = 1.0,
    linear_input: bool = True,
    report: Optional[Callable[[str], None]] = None,
) -> ExportResult:
    """Write TorchScript ``.pt`` files and their ``.nk`` snippets for NukeX's Inference node.

    For rife-4: ``<name>.pt`` (motion) with ``<name>_CatFileCreator.nk`` and
    ``<name>_setup.nk`` (the FrameHold / Inference / STMap / Keymix group that
    warps every channel of the original frames), plus ``<name>_frame.pt`` (the
    frame directly) with its own CatFileCreator snippet. For an upscaler:
    ``<name>.pt``, ``<name>_CatFileCreator.nk`` and ``<name>_setup.nk``.
    Every file is written atomically; each ``.pt`` is loaded back and run once
    on a small odd-sized input before the export counts as done.

    Raises:
        InputError, UnsupportedModelError, ModelNotFoundError: see :func:`load_export_model`.
    """
    say = report or (lambda _msg: None)
    out = Path(out_dir).expanduser().resolve()
    say(f"loading {name}")
    loaded = load_export_model(name, weights=weights)
    stem = export_stem(loaded.name)
    files: List[ExportedFile] = []
    contracts: List[dict] = []
    for variant in NUKE_VARIANTS if loaded.task == "interpolate" else ("motion",):
        base = stem if variant == "motion" else f"{stem}_{variant}"
        pt, cat = out / f"{base}.pt", out / f"{base}.cat"
        say(f"scripting {pt.name}")
        knobs: dict[str, Any] = {"timestep": timestep, "scale": scale, "linear_input": linear_input}
        scripted = script_module(build_nuke_module(loaded, variant=variant, **knobs))
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer)
        _check_round_trip(buffer.getvalue(), channels_in=6 if loaded.task == "interpolate" else 3, where=pt)
        atomic_write_bytes(pt, buffer.getvalue())
        contract = nuke_contract(loaded, variant=variant, **knobs)
        contracts.append({"file": str(pt), **contract})
        nk = out / f"{base}_CatFileCreator.nk"
        atomic_write_text(nk, catfilecreator_nk(
            pt, cat, model_id=f"framefill_{base}", channels_in=contract["channels_in"],
            channels_out=contract["channels_out"], output_scale=contract["output_scale"], knobs=contract["knobs"]))
        files += [ExportedFile(pt, "torchscript"), ExportedFile(nk, "nk-catfilecreator")]
        setup = out / f"{stem}_setup.nk"
        if loaded.task == "interpolate" and variant == "motion":
            text = rife_setup_nk(cat, name=f"FF_{node_name(stem)}_Retime", scale=scale, linear_input=linear_input)
        elif loaded.task == "upscale":
            text = upscale_setup_nk(cat, name=f"FF_{node_name(stem)}_Upscale", linear_input=linear_input)
        else:
            continue
        atomic_write_text(setup, text)
        files.append(ExportedFile(setup, "nk-setup"))
    return ExportResult("nuke", loaded.name, loaded.sha256, tuple(files), tuple(contracts))


def nuke_contract(
    loaded: LoadedExport, *, variant: NukeVariant, timestep: float = 0.5, scale: float = 1.0, linear_input: bool = True
) -> dict[str, Any]:
    """Channel mapping, output scale and knobs (name, type, default) of a Nuke export."""
    flag = ("linear_input", "int", int(bool(linear_input)))
    if loaded.task == "interpolate":
        return {
            "input": "1x6xHxW: frame A rgb, frame B rgb",
            "output": "1x3xHxW frame at t" if variant == "frame" else
                      "1x5xHxW: flow to A (u, v), flow to B (u, v) in pixels, y up; weight of A",
            "channels_in": list(NUKE_RGB + NUKE_B_RGB),
            "channels_out": list(NUKE_RGB if variant == "frame" else NUKE_MOTION_OUT),
            "output_scale": 1,
            "knobs": [("timestep", "float", float(timestep)), ("scale", "float", float(scale)), flag],
        }
    return {"input": "1x3xHxW rgb", "output": f"1x3x{loaded.scale}Hx{loaded.scale}W rgb",
            "channels_in": list(NUKE_RGB), "channels_out": list(NUKE_RGB), "output_scale": loaded.scale,
            "knobs": [flag]}


# Odd on purpose: the round trip must exercise the padding and the crop.
_ROUND_TRIP_SIZE = (37, 29)


def _check_round_trip(data: bytes, *, channels_in: int, where: Path) -> None:
    """Load the saved bytes back and run them once; an export that cannot do that is not written.

    Raises:
        UnsupportedModelError: the archive does not load or run.
    """
    w, h = _ROUND_TRIP_SIZE
    try:
        loaded = torch.jit.load(io.BytesIO(data), map_location="cpu")  # type: ignore[no-untyped-call]
        with torch.inference_mode():
            out = loaded(torch.rand(1, channels_in, h, w))
    except (RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UnsupportedModelError(f"{where.name}: the scripted model does not load and run back: {first}") from None
    if out.dim() != 4 or out.shape[0] != 1:
        raise UnsupportedModelError(f"{where.name}: the scripted model returned shape {tuple(out.shape)}")


def __getattr__(name: str) -> Any:
    """The ONNX names (:data:`_ONNX_NAMES`), loaded from onnx_export on first use: that module imports this one."""
    if name in _ONNX_NAMES:
        from framefill.runtime import onnx_export

        return getattr(onnx_export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
