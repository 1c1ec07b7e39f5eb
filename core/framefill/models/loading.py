"""Turn a model name (or a weights file) into a ready model on a device.

Named models load only cached files whose sha256 matches their card. With
``--weights PATH`` any compatible file loads; its architecture is detected from
the state dict and its own sha256 is recorded instead.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from framefill.errors import InputError, UnsupportedModelError
from framefill.models.cache import check_sha256, require_files, sha256_of
from framefill.models.checkpoint import load_state_dict
from framefill.models.registry import MODELS, ModelCard, Task

if TYPE_CHECKING:
    from framefill.models.interp import Interpolator
    from framefill.models.upscale import Upscaler

__all__ = [
    "LoadedModel",
    "load_state_dict",
    "load_interpolator",
    "model_identity",
    "fused_mix",
    "auto_rife_scale",
    "load_upscaler",
    "keep_models_loaded",
    "pick_upscale_card",
    "torch_dtype",
]

# RIFE's own guidance: full resolution up to ~2K, half for 4K, quarter for 8K.
_RIFE_SCALE_STEPS = ((2048, 1.0), (4096, 0.5))
_RIFE_SCALE_LARGEST = 0.25


M = TypeVar("M")

# Models kept in this process by what they were built from (see keep_models_loaded); None: off.
_KEPT: OrderedDict[tuple[Any, ...], Any] | None = None
_KEPT_MAX = 4


def keep_models_loaded() -> None:
    """From now on, a model loaded again with the same name or weights file, device and precision is
    the one already in memory (its files unchanged since): for a long-lived process (the farm
    worker) that runs many commands. The CLI loads each model once per process anyway.
    The few most recently used models are kept."""
    global _KEPT
    if _KEPT is None:
        _KEPT = OrderedDict()


def _kept(key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
    if _KEPT is None:
        return load()
    if key in _KEPT:
        _KEPT.move_to_end(key)
        return _KEPT[key]
    value = load()
    _KEPT[key] = value
    while len(_KEPT) > _KEPT_MAX:
        _KEPT.popitem(last=False)
    return value


def _weight_files(card: ModelCard, weights: Path | str | None) -> list[Path]:
    """The files a load reads: the card's cached files, or ``weights`` (with an ncnn ``.param``'s ``.bin``).
    A missing file is left out; the load itself then says what is wrong (and nothing is kept)."""
    if weights is None:
        return list(require_files(card).values())
    path = Path(weights)
    candidates = [path, path.with_suffix(".bin")] if path.suffix.lower() == ".param" else [path]
    return [p for p in candidates if p.is_file()]


def _files_key(paths: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """What identifies the weight files on disk: a changed file is loaded (and verified) again."""
    out = []
    for path in paths:
        st = Path(path).stat()
        out.append((str(Path(path).resolve()), st.st_size, st.st_mtime_ns))
    return tuple(out)


@dataclass(frozen=True)
class LoadedModel(Generic[M]):
    """A model ready to run (an ``Interpolator`` or an ``Upscaler``) and what identifies it in
    manifests and headers."""

    name: str
    sha256: str
    model: M


def torch_dtype(precision: str) -> Any:
    """The torch dtype of a precision name: fp32, fp16 or bf16."""
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def auto_rife_scale(width_px: int) -> float:
    """RIFE's resolution scale for a frame width."""
    for limit, scale in _RIFE_SCALE_STEPS:
        if width_px <= limit:
            return scale
    return _RIFE_SCALE_LARGEST


def _card(name: str, task: Task) -> ModelCard:
    card = MODELS.get(name)
    if card.task != task:
        raise InputError(f"model {name!r} is for {card.task}, not {task}; see `framefill models list`")
    return card


def model_identity(name: str, weights: Path | None = None) -> tuple[str, str]:
    """The card name and weights sha256 a job records, without loading anything.

    Raises:
        InputError: unknown model. ModelNotFoundError: named weights not cached.
    """
    card = MODELS.get(name)
    if card.classical:
        return card.name, ""
    if weights is not None and card.members:
        raise InputError(f"--weights is one network's; {card.name} runs {' and '.join(card.members)} from the "
                         "pinned cache: name the model the weights belong to")
    if weights is not None:
        return card.name, sha256_of(Path(weights))
    require_files(card)
    return card.name, card.files[0].sha256 if len(card.files) == 1 else "+".join(w.sha256 for w in card.files)


def fused_mix(name: str, mix: float | None) -> float | None:
    """The share of its first network a fused model fills with (``mix``, else the default); None for a
    model of one network (a mix given for one is refused)."""
    from framefill.models.ensemble import DEFAULT_MIX, check_mix

    if not MODELS.get(name).members:
        if mix is not None:
            raise InputError(f"--mix is the share of each network in a fused model (rife-4+hdv3); {name} runs "
                             "one: leave --mix out")
        return None
    try:
        return check_mix(DEFAULT_MIX if mix is None else mix)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def load_interpolator(
    name: str,
    *,
    weights: Path | None = None,
    device: str = "cpu",
    precision: str = "fp32",
    scale: float = 1.0,
    backend: str = "torch",
    mix: float | None = None,
) -> LoadedModel[Interpolator]:
    """An :class:`~framefill.models.interp.Interpolator` for ``name`` on ``device``.

    ``mix``: a fused model's share of its first network's fill (default
    :data:`~framefill.models.ensemble.DEFAULT_MIX`); refused for any other model.

    ``backend`` ``onnxruntime`` runs rife-4's motion step in ONNX Runtime
    (:mod:`framefill.models.ort_interp`; its session on torch's current thread count); other models are refused.

    Raises:
        ModelNotFoundError: weights not cached (says how to fetch them).
        WeightsMismatchError: a cached file with the wrong sha256.
        UnsupportedModelError: ``weights`` is not a RIFE checkpoint.
    """
    from framefill.models.interp import (
        BlendInterpolator,
        DisFlowInterpolator,
        RifeInterpolator,
    )

    card = _card(name, "interpolate")
    share = fused_mix(card.name, mix)
    if backend not in ("torch", "onnxruntime"):
        raise InputError(f"backend {backend!r} is not one of torch, onnxruntime")
    if backend == "onnxruntime":
        import torch
        from framefill.models.ort_interp import check_ort_interp_model

        check_ort_interp_model(card.name, card.arch)
        threads = torch.get_num_threads()
        ort_key = ("interpolate-ort", card.name, str(weights or ""), _files_key(_weight_files(card, weights)), device,
                   precision, threads, float(scale))
        kept_ort: LoadedModel[Interpolator] = _kept(
            ort_key, lambda: _load_ort_interpolator(card.name, weights, device, precision, scale, threads))
        return kept_ort
    if card.members:
        if weights is not None:
            raise InputError(f"--weights is one network's; {card.name} runs {' and '.join(card.members)} from the "
                             "pinned cache: name the model the weights belong to")
        from framefill.models.ensemble import FusedInterpolator

        assert share is not None
        first, second = (load_interpolator(m, device=device, precision=precision, scale=scale) for m in card.members)
        return LoadedModel(card.name, f"{first.sha256}+{second.sha256}",
                           FusedInterpolator(first.model, second.model, name=card.name, mix=share))
    if card.arch == "dis-flow":
        return LoadedModel(card.name, "", DisFlowInterpolator())
    if card.arch == "blend":
        return LoadedModel(card.name, "", BlendInterpolator())

    from framefill.models.arch.interp_model import InterpModel
    from framefill.models.archs import ARCHS

    dtype = torch_dtype(precision)

    def build() -> tuple[str, InterpModel]:
        if weights is not None:
            path = Path(weights)
            state = load_state_dict(path)  # first: it says what is wrong with a bad path
            sha = sha256_of(path)
            spec = ARCHS.detect(state, task="interpolate")
        else:
            path = require_files(card)["weights"]
            check_sha256(path, card.files[0])
            sha = card.files[0].sha256
            state = load_state_dict(path)
            spec = ARCHS.get(card.arch)
        net = spec.build(state)
        assert isinstance(net, InterpModel)  # every interpolate spec builds one
        return sha, net.to(device=device, dtype=dtype).eval()

    key = ("interpolate", card.name, str(weights or ""), _files_key(_weight_files(card, weights)), device, str(dtype))
    sha, net = _kept(key, build)
    return LoadedModel(card.name, sha, RifeInterpolator(net, name=card.name, scale=scale, dtype=dtype))


def _load_ort_interpolator(name: str, weights: Path | None, device: str, precision: str, scale: float,
                           threads: int) -> LoadedModel[Interpolator]:
    """rife-4 in ONNX Runtime: the network built on the CPU in float32 (what the export traces), then wrapped."""
    from framefill.models.interp import RifeInterpolator
    from framefill.models.ort_interp import OrtRifeInterpolator

    cpu = load_interpolator(name, weights=weights, device="cpu", precision="fp32", scale=scale)
    assert isinstance(cpu.model, RifeInterpolator)  # check_ort_interp_model let only rife-4 through
    model = OrtRifeInterpolator(cpu.model.net, cpu.sha256, name=cpu.name, scale=scale, device=device,
                                precision=precision, threads=threads)
    return LoadedModel(cpu.name, cpu.sha256, model)


# ---------------------------------------------------------------------------------------
# Upscalers
# ---------------------------------------------------------------------------------------


def pick_upscale_card(name: str, scale: float | None) -> str:
    """The card that runs ``name`` at ``scale``.

    A family name (a card's alias, e.g. ``realesr-animevideov3``) with a whole
    ``scale`` picks the family's card of that scale when one exists
    (``realesr-animevideov3`` + 2 -> ``realesr-animevideov3-x2``: the release's
    own x2 graph, the x4 net followed by ncnn's bicubic 0.5). A full card name
    is taken as asked; the pipeline then resamples the card's output to the
    requested size (area when shrinking).

    Raises:
        InputError: an unknown model name.
    """
    card = MODELS.get(name)
    if scale is None or name == card.name or card.classical or not float(scale).is_integer():
        return card.name
    sibling = f"{name}-x{int(scale)}"
    if sibling in MODELS and MODELS.get(sibling).task == "upscale":
        return MODELS.get(sibling).name
    return card.name


def load_upscaler(
    name: str,
    *,
    weights: Path | str | None = None,
    device: str = "cpu",
    precision: str = "fp32",
    backend: str = "torch",
) -> LoadedModel[Upscaler]:
    """An upscaler for ``name`` on ``device``: an :class:`~framefill.models.upscale.UpscaleModel`,
    or a :class:`~framefill.models.upscale.ClassicalUpscaler` for ``lanczos``.

    ``backend`` ``onnxruntime`` runs the network in ONNX Runtime instead of torch
    (:mod:`framefill.models.ort_backend`; an ``OrtUpscaleModel``, its session on
    torch's current thread count); a classical upscaler ignores it.

    Named models load their cached ncnn files (sha256-checked against the card)
    through the converter. ``weights`` loads a file instead: an official
    Real-ESRGAN ``.pth`` (weights-only unpickling, architecture detected from the
    state dict) or an ncnn ``.param`` with its ``.bin`` beside it; its own
    sha256 is recorded. ``precision`` fp16/bf16 applies to networks that support
    half precision (not DAT); on the CPU only bf16 (fp16 there runs fp32).

    Raises:
        InputError: unknown name, a model for another task, or unreadable weights.
        ModelNotFoundError: weights not cached (says how to fetch them).
        WeightsMismatchError: a cached file with the wrong sha256.
        UnsupportedModelError: ``weights`` is not an RRDBNet, SRVGGNetCompact or DAT-light upscaler;
            a DAT upscaler on the onnxruntime backend.
    """
    from framefill.models.upscale import ClassicalUpscaler

    if backend not in ("torch", "onnxruntime"):
        raise InputError(f"backend {backend!r} is not one of torch, onnxruntime")

    card = _card(name, "upscale")
    if card.classical:
        return LoadedModel(card.name, "", ClassicalUpscaler(method=card.arch))  # type: ignore[arg-type]  # "lanczos"
    files = _weight_files(card, weights)
    if backend == "onnxruntime":
        import torch
        from framefill.models.ort_backend import import_onnxruntime

        import_onnxruntime()  # says what to install before anything loads
        threads = torch.get_num_threads()
        ort_key = ("upscale-ort", card.name, str(weights or ""), _files_key(files), device, precision, threads)
        kept_ort: LoadedModel[Upscaler] = _kept(
            ort_key, lambda: _load_ort_upscaler(card, weights, device, precision, threads))
        return kept_ort
    key = ("upscale", card.name, str(weights or ""), _files_key(files), device, precision)
    loaded: LoadedModel[Upscaler] = _kept(key, lambda: _load_upscaler(card, weights, device, precision))
    return loaded


def _load_ort_upscaler(card: ModelCard, weights: Path | str | None, device: str, precision: str,
                       threads: int) -> LoadedModel[Upscaler]:
    """The card's network in ONNX Runtime: built on the CPU in float32 (what the export traces), then wrapped."""
    from framefill.models.ort_backend import ort_upscaler
    from framefill.models.upscale import UpscaleModel

    cpu = _load_upscaler(card, weights, "cpu", "fp32")
    assert isinstance(cpu.model, UpscaleModel)  # not classical: the caller returned those already
    model = ort_upscaler(cpu.model, cpu.sha256, device=device, precision=precision, threads=threads)
    return LoadedModel(cpu.name, cpu.sha256, model)


def _load_upscaler(card: ModelCard, weights: Path | str | None, device: str, precision: str,
                   ) -> LoadedModel[Upscaler]:
    import torch
    from framefill.models.ncnn_convert import load_ncnn
    from framefill.models.upscale import upscale_model

    if weights is not None:
        path = Path(weights)
        if not path.exists():
            raise InputError(f"weights file {path} not found; pass an official .pth or an ncnn .param")
        if path.suffix.lower() == ".param":
            bin_path = path.with_suffix(".bin")
            model = load_ncnn(path, bin_path)
            sha = f"{sha256_of(path)}+{sha256_of(bin_path)}" if bin_path.is_file() else sha256_of(path)
        else:
            try:
                model = upscale_model(load_state_dict(path))
            except UnsupportedModelError as err:
                raise UnsupportedModelError(f"{path}: {err}; framefill runs RRDBNet (Real-ESRGAN/ESRGAN), "
                                            "SRVGGNetCompact and DAT-light checkpoints") from None
            sha = sha256_of(path)
    else:
        files = require_files(card)
        for weight in card.files:
            check_sha256(files[weight.role], weight)
        # A PyTorch checkpoint (dat-light) or an ncnn pair (the Real-ESRGAN cards).
        model = (upscale_model(load_state_dict(files["weights"])) if "weights" in files
                 else load_ncnn(files["param"], files["bin"]))
        sha = "+".join(w.sha256 for w in card.files)
    if not model.supports_half or (device == "cpu" and precision == "fp16"):
        precision = "fp32"
    dtype = torch_dtype(precision)
    model.to(device=device, dtype=dtype)
    # NHWC lets oneDNN (CPU) and cuDNN (tensor cores) pick their fast convolutions:
    # measured 1.7x (animevideov3) and 2.9x (x4plus-anime) on this CPU, same values to 3e-6.
    model.module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stub omits it
    return LoadedModel(card.name, sha, model)
