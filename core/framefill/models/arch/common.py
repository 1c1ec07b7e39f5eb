"""State-dict helpers every architecture family shares.

Reading shapes, numbering and prefixes of a checkpoint, and loading it into one
of our networks with nothing missing, nothing extra and every shape equal.
Imports torch; only the family modules import this.
"""

from __future__ import annotations

import re
from typing import Any

from framefill.errors import UnsupportedModelError
from framefill.models.archs import StateDict
from torch import nn

__all__ = [
    "StateDict",
    "load_state_dict_exact",
    "strip_module_prefix",
    "alias_module_list",
    "tensor_shape",
    "contiguous_indices",
    "is_4d",
]

# DataParallel saves every key under this prefix.
_DATA_PARALLEL_PREFIX = "module."


def load_state_dict_exact(net: nn.Module, state_dict: StateDict, family: str) -> None:
    """Load ``state_dict`` into ``net`` as float32, requiring exactly the same keys and shapes.

    Raises:
        UnsupportedModelError: a missing or extra key, or a shape that differs (one line).
    """
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise UnsupportedModelError(
            f"{family} state dict does not match: missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}"
        )
    for key, tensor in expected.items():
        got = tuple(state_dict[key].shape)
        if got != tuple(tensor.shape):
            raise UnsupportedModelError(f"{family} state dict: {key} has shape {got}, expected {tuple(tensor.shape)}")
    net.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)


def strip_module_prefix(state_dict: StateDict) -> dict[str, Any]:
    """The state dict with a leading ``module.`` (DataParallel's wrapper) removed from every key."""
    n = len(_DATA_PARALLEL_PREFIX)
    return {(k[n:] if k.startswith(_DATA_PARALLEL_PREFIX) else k): v for k, v in state_dict.items()}


def alias_module_list(module: nn.Module, attr: str, stem: str) -> None:
    """Make ``module.<attr>`` (an ``nn.ModuleList``) save and load as ``<stem>0.``, ``<stem>1.``, ...

    Checkpoints name blocks ``block0``, ``block1``...; a ModuleList keeps the
    block count free and lets TorchScript loop over the blocks, and these two
    hooks keep the checkpoint's names in ``state_dict``/``load_state_dict``.
    (A scripted copy saves under the list's own names.)
    """
    internal = attr + "."
    pattern = re.compile(re.escape(stem) + r"(\d+)\.(.+)$")

    def to_checkpoint_names(_mod: nn.Module, state_dict: dict[str, Any], prefix: str, _meta: Any) -> None:
        head = prefix + internal
        for key in [k for k in state_dict if k.startswith(head)]:
            index, _, tail = key[len(head) :].partition(".")
            state_dict[f"{prefix}{stem}{index}.{tail}"] = state_dict.pop(key)

    def from_checkpoint_names(_mod: nn.Module, state_dict: dict[str, Any], prefix: str, *_args: Any) -> None:
        for key in [k for k in state_dict if k.startswith(prefix)]:
            match = pattern.match(key[len(prefix) :])
            if match:
                state_dict[f"{prefix}{internal}{match.group(1)}.{match.group(2)}"] = state_dict.pop(key)

    module.register_state_dict_post_hook(to_checkpoint_names)  # type: ignore[no-untyped-call]  # torch's own
    module.register_load_state_dict_pre_hook(from_checkpoint_names)  # type: ignore[no-untyped-call]


def tensor_shape(state_dict: StateDict, key: str, family: str, ndim: int | None = None) -> tuple[int, ...]:
    """The shape of ``state_dict[key]``, which must be a tensor (of ``ndim`` dimensions when given).

    Raises:
        UnsupportedModelError: the key is missing or holds something else.
    """
    shape = getattr(state_dict.get(key), "shape", None)
    if shape is None or (ndim is not None and len(shape) != ndim):
        kind = f"a {ndim}-D tensor" if ndim is not None else "a tensor"
        raise UnsupportedModelError(f"{family} state dict: {key!r} is missing or not {kind}")
    return tuple(int(d) for d in shape)


def contiguous_indices(state_dict: StateDict, pattern: str, family: str) -> list[int]:
    """The integers ``pattern``'s first group captures over the keys, sorted; they must run 0..n-1.

    Raises:
        UnsupportedModelError: a gap in the numbering.
    """
    regex = re.compile(pattern)
    found = sorted({int(m.group(1)) for k in state_dict if (m := regex.match(k))})
    if found != list(range(len(found))):
        raise UnsupportedModelError(f"{family} block numbering is not contiguous from 0: {found[:8]}")
    return found


def is_4d(state_dict: StateDict, key: str) -> bool:
    """True when ``state_dict[key]`` exists and has four dimensions (a conv kernel)."""
    shape = getattr(state_dict.get(key), "shape", None)
    return shape is not None and len(shape) == 4
