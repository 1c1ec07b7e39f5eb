"""Turn a model name (or a weights file) into a ready model on a device.

Named models load only cached files whose sha256 matches their card. With
``--weights PATH`` any compatible file loads; its architecture is detected from
the state dict and its own sha256 is recorded instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framefill.errors import InputError, UnsupportedModelError
from framefill.models.cache import check_sha256, require_files, sha256_of
from framefill.models.registry import MODELS, ModelCard

__all__ = ["LoadedModel", "load_state_dict", "load_interpolator", "auto_rife_scale"]

# RIFE's own guidance: full resolution up to ~2K, half for 4K, quarter for 8K.
_RIFE_SCALE_STEPS = ((2048, 1.0), (4096, 0.5))
_RIFE_SCALE_LARGEST = 0.25


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to run and what identifies it in manifests and headers."""

    name: str
    sha256: str
    model: Any


def auto_rife_scale(width_px: int) -> float:
    """RIFE's resolution scale for a frame width."""
    for limit, scale in _RIFE_SCALE_STEPS:
        if width_px <= limit:
            return scale
    return _RIFE_SCALE_LARGEST


def load_state_dict(path: Path) -> dict[str, Any]:
    """A checkpoint's tensors, never executing pickled code (``weights_only=True``)."""
    import pickle

    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UnsupportedModelError(f"{path} is not a loadable weights file: {first}") from None
    if isinstance(obj, dict):
        for key in ("params_ema", "params", "state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise UnsupportedModelError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return obj


def _card(name: str, task: str) -> ModelCard:
    card = MODELS.get(name)
    if card.task != task:
        raise InputError(f"model {name!r} is for {card.task}, not {task}; see `framefill models list`")
    return card


def load_interpolator(
    name: str,
    *,
    weights: Path | None = None,
    device: str = "cpu",
    precision: str = "fp32",
    scale: float = 1.0,
) -> LoadedModel:
    """An :class:`~framefill.models.interp.Interpolator` for ``name`` on ``device``.

    Raises:
        ModelNotFoundError: weights not cached (says how to fetch them).
        WeightsMismatchError: a cached file with the wrong sha256.
        UnsupportedModelError: ``weights`` is not a RIFE checkpoint.
    """
    from framefill.models.interp import BlendInterpolator, DisFlowInterpolator, RifeInterpolator

    card = _card(name, "interpolate")
    if card.arch == "dis-flow":
        return LoadedModel(card.name, "", DisFlowInterpolator())
    if card.arch == "blend":
        return LoadedModel(card.name, "", BlendInterpolator())
    import torch

    from framefill.models.archs import ARCHS

    if weights is not None:
        path, sha = Path(weights), sha256_of(Path(weights))
        spec = ARCHS.detect(load_state := load_state_dict(path), task="interpolate")
    else:
        path = require_files(card)["weights"]
        check_sha256(path, card.files[0])
        sha = card.files[0].sha256
        load_state = load_state_dict(path)
        spec = ARCHS.get(card.arch)
    net = spec.build(load_state)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    net = net.to(device=device, dtype=dtype).eval()
    return LoadedModel(card.name, sha, RifeInterpolator(net, name=card.name, scale=scale, dtype=dtype))
