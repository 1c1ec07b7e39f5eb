"""The one checkpoint reader: a weights file on disk -> a state dict of CPU tensors.

PyTorch files (``.pth``/``.pt``/``.pkl``, zip or legacy pickle) are read with
``torch.load(weights_only=True)``: a pickle that would run code is refused,
never executed. ``.safetensors`` files are read too when the ``safetensors``
package happens to be installed (framefill does not depend on it).

Every error is one line that names the file. PyTorch's own refusal message
advises loading the file unsafely; framefill never passes that advice on.

Importing this module does not import torch; reading a file does.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framefill.errors import InputError, UnsupportedModelError

if TYPE_CHECKING:
    import torch

__all__ = ["CHECKPOINT_KEYS", "load_state_dict", "unwrap_checkpoint"]

# Where training scripts nest the weights, most preferred first: Real-ESRGAN keeps
# the EMA weights (the ones to use) under "params_ema" and sometimes the raw ones
# under "params"; Lightning-style and generic trainers use the other two.
CHECKPOINT_KEYS = ("params_ema", "params", "state_dict", "model")

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"
# torch.load's refusal text: its advice (load with weights_only=False, or allow
# globals) is for files one trusts, which a render farm never knows; only the
# unpickler's own finding is worth repeating.
_TORCH_ADVICE = re.compile(r"weights_only|Weights only load failed|safe_globals|documentation|file an issue", re.I)


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in a weights file, tensors on the CPU in their stored dtype, never running pickled code.

    A checkpoint that nests its weights (see :data:`CHECKPOINT_KEYS`) is unwrapped.

    Raises:
        InputError: the file is missing, a directory or unreadable.
        UnsupportedModelError: empty, not a PyTorch or safetensors file, a pickle
            that would run code, damaged, or holding no state dict.
    """
    path = Path(path)
    head = _head(path)
    if path.suffix.lower() == ".safetensors" or _looks_like_safetensors(head, path.stat().st_size):
        obj: Any = _read_safetensors(path)
    else:
        obj = _read_torch(path, head)
    return unwrap_checkpoint(obj, source=str(path))


def unwrap_checkpoint(obj: Any, *, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint object: the first of :data:`CHECKPOINT_KEYS` that
    holds a mapping, else the object itself, which must map names to tensors.

    Raises:
        UnsupportedModelError: not a non-empty mapping of names to tensors (the message names ``source``).
    """
    import torch

    if isinstance(obj, Mapping):
        for key in CHECKPOINT_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        what = "an empty mapping" if isinstance(obj, Mapping) else f"a {type(obj).__name__}"
        raise UnsupportedModelError(
            f"{source} holds {what}, not a state dict (nor one under {' / '.join(CHECKPOINT_KEYS)})"
        )
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise UnsupportedModelError(f"{source}: checkpoint entry {bad[0]!r} is not a named tensor")
    return dict(obj)


def _head(path: Path) -> bytes:
    """The first bytes of ``path``, after the checks that need no parsing.

    Raises:
        InputError: missing, a directory, or unreadable. UnsupportedModelError: empty.
    """
    if not path.exists():
        raise InputError(f"weights file {path} not found")
    if path.is_dir():
        raise InputError(f"weights file {path} is a directory; give the checkpoint file inside it")
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as err:
        raise InputError(f"cannot read weights file {path}: {err.strerror or type(err).__name__}") from None
    if not head:
        raise UnsupportedModelError(f"weights file {path} is empty (0 bytes); fetch or copy it again")
    return head


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    # A safetensors file starts with its JSON header's length (u64, little-endian), then the header.
    return len(head) > 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise UnsupportedModelError(
            f"{path} is a safetensors file and the safetensors package is not installed: "
            "pip install safetensors, or give a PyTorch .pth"
        ) from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # noqa: BLE001 - its own SafetensorError or an OSError: the file is unusable either way
        raise UnsupportedModelError(f"{path} is not a readable safetensors file: {_first_line(err)}") from None


def _read_torch(path: Path, head: bytes) -> Any:
    import pickle

    import torch

    try:
        with warnings.catch_warnings():
            # The weights-only unpickler warns about pickle protocols it was not written for;
            # the error below (or the successful load) says all there is to say.
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - on arbitrary bytes the unpickler fails with any exception type
        refused_global = isinstance(err, pickle.UnpicklingError) and "GLOBAL" in str(err)
        if not refused_global and not head.startswith((_ZIP_MAGIC, _PICKLE_PROTO)):
            raise UnsupportedModelError(
                f"{path} is not a PyTorch checkpoint (neither a zip archive nor a pickle) nor a safetensors file"
            ) from None
        if isinstance(err, pickle.UnpicklingError):
            raise UnsupportedModelError(
                f"{path} is not a weights-only file: {_unpickler_finding(err)}; framefill never runs code from a "
                "weights file: save the model's state_dict() alone, or convert it to .safetensors"
            ) from None
        if isinstance(err, EOFError):
            raise UnsupportedModelError(f"{path} ends early (truncated?); fetch or copy it again") from None
        raise UnsupportedModelError(f"{path} is damaged or not a PyTorch checkpoint: {_first_line(err)}") from None


def _unpickler_finding(err: BaseException) -> str:
    """What the weights-only unpickler objected to, without PyTorch's advice around it."""
    text = str(err).replace("WeightsUnpickler error:", "\n")
    kept = [ln.strip() for ln in text.splitlines() if ln.strip() and not _TORCH_ADVICE.search(ln)]
    return kept[0].rstrip(".") if kept else "it holds objects other than tensors"


def _first_line(err: BaseException) -> str:
    """The first sentence of ``err`` that is not PyTorch's advice."""
    kept = [ln.strip() for ln in str(err).splitlines() if ln.strip() and not _TORCH_ADVICE.search(ln)]
    return kept[0].split(". ")[0].rstrip(".") if kept else type(err).__name__
