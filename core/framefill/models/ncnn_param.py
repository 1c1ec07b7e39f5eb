"""Read ncnn ``.param``/``.bin`` files: layers, parameters and weights, no graph semantics.

* ``.param`` is text: the magic ``7767517``, ``layer_count blob_count``, then one
  layer a line: ``Type name n_in n_out in... out... key=value...``. A key of
  ``-23300 - id`` holds an array ``count,v1,v2,...`` for parameter ``id``.
* ``.bin`` is every layer's weights, back to back, in layer order. A Convolution
  stores its kernel behind a 4-byte storage tag (``0x01306B47`` fp16, padded to
  4 bytes; ``0x0002C056`` or ``0`` fp32), then, with a bias, the raw fp32 bias.
  A PReLU stores raw fp32 slopes. The other layers framefill reads have no weights.

:mod:`~framefill.models.ncnn_convert` walks the graph these describe. Every
error names the file (and line). No torch here: numpy only.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from framefill.errors import UnsupportedModelError

__all__ = [
    "NCNN_MAGIC",
    "ARRAY_KEY_BASE",
    "WEIGHTLESS_LAYERS",
    "ParamValue",
    "Storage",
    "NcnnLayer",
    "parse_param",
    "read_weights",
]

NCNN_MAGIC = 7767517
# ncnn ModelBin storage tags (src/modelbin.cpp).
TAG_FP16 = 0x01306B47
TAG_FP32_RAW = 0x0002C056
TAG_INT8 = 0x000D4B38
# ncnn parameter arrays are stored under key -23300 - id.
ARRAY_KEY_BASE = -23300
# Layers that carry no weights and that our two graphs are made of.
WEIGHTLESS_LAYERS = frozenset({"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle"})
ParamValue = int | float | tuple[int | float, ...]
F32 = npt.NDArray[np.float32]
Storage = Literal["fp16", "fp32"]


@dataclass(frozen=True)
class NcnnLayer:
    """One line of a ``.param`` file."""

    type: str
    name: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    params: Mapping[int, ParamValue] = field(default_factory=dict)
    where: str = "<param>"  # file and line, for error messages

    def get(self, key: int, default: ParamValue) -> ParamValue:
        return self.params.get(key, default)

    def get_int(self, key: int, default: int) -> int:
        value = self.params.get(key, default)
        if not isinstance(value, int):
            raise UnsupportedModelError(f"{self.where}: layer {self.name} parameter {key}={value!r} is not an integer")
        return value

    def get_float(self, key: int, default: float) -> float:
        value = self.params.get(key, default)
        if not isinstance(value, int | float):
            raise UnsupportedModelError(f"{self.where}: layer {self.name} parameter {key}={value!r} is not a number")
        return float(value)

    def get_array(self, key: int) -> tuple[float, ...]:
        value = self.params.get(key, ())
        if not isinstance(value, tuple):
            raise UnsupportedModelError(f"{self.where}: layer {self.name} parameter {key} is not an array")
        return tuple(float(v) for v in value)


def _number(text: str, where: str) -> int | float:
    try:
        # ncnn's own rule: a value with '.', 'e' or 'E' is a float, otherwise an int.
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        raise UnsupportedModelError(f"{where}: bad parameter value {text!r}") from None


def parse_param(text: str, *, source: str = "<param>") -> tuple[NcnnLayer, ...]:
    """Parse the text of an ncnn ``.param`` file.

    Raises:
        UnsupportedModelError: wrong magic, malformed lines or counts (message names ``source``).
    """
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != [str(NCNN_MAGIC)]:
        raise UnsupportedModelError(f"{source}: not an ncnn text param file (first line must be {NCNN_MAGIC})")
    if len(lines) < 2 or len(lines[1]) != 2 or not all(t.isdigit() for t in lines[1]):
        raise UnsupportedModelError(f"{source}: line 2 must be 'layer_count blob_count'")
    layer_count = int(lines[1][0])
    layers: list[NcnnLayer] = []
    for number, tokens in enumerate(lines[2:], start=3):
        where = f"{source} line {number}"
        if len(tokens) < 4 or not tokens[2].isdigit() or not tokens[3].isdigit():
            raise UnsupportedModelError(f"{where}: expected 'Type name n_in n_out ...'")
        n_in, n_out = int(tokens[2]), int(tokens[3])
        blobs = tokens[4 : 4 + n_in + n_out]
        if len(blobs) != n_in + n_out:
            raise UnsupportedModelError(f"{where}: layer {tokens[1]} lists fewer blobs than {n_in} + {n_out}")
        params: dict[int, ParamValue] = {}
        for item in tokens[4 + n_in + n_out :]:
            key_text, sep, value = item.partition("=")
            if not sep or not key_text.lstrip("-").isdigit():
                raise UnsupportedModelError(f"{where}: bad parameter {item!r}")
            key = int(key_text)
            if key <= ARRAY_KEY_BASE:
                count_text, *values = value.split(",")
                if not count_text.isdigit() or int(count_text) != len(values):
                    raise UnsupportedModelError(f"{where}: bad array parameter {item!r}")
                params[ARRAY_KEY_BASE - key] = tuple(_number(v, where) for v in values)
            else:
                params[key] = _number(value, where)
        layers.append(NcnnLayer(tokens[0], tokens[1], tuple(blobs[:n_in]), tuple(blobs[n_in:]), params, where))
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UnsupportedModelError(f"{source}: layer name {dup!r} is used twice")
    if len(layers) != layer_count:
        raise UnsupportedModelError(f"{source}: header says {layer_count} layers, file has {len(layers)}")
    return tuple(layers)


class _BinReader:
    """Sequential reader of a ``.bin`` that names the layer and file when it runs short."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.pos = 0
        self.source = source
        self.storage: set[Storage] = set()

    def _take(self, nbytes: int, layer: str) -> bytes:
        if nbytes < 0:
            raise UnsupportedModelError(f"{self.source}: layer {layer} declares a negative weight count")
        if self.pos + nbytes > len(self.data):
            raise UnsupportedModelError(
                f"{self.source}: truncated; layer {layer} needs {nbytes} bytes at offset {self.pos}, "
                f"file has {len(self.data)}; fetch the model again (`framefill models fetch NAME`)"
            )
        chunk = self.data[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return chunk

    def raw_fp32(self, count: int, layer: str) -> F32:
        return np.frombuffer(self._take(4 * count, layer), dtype="<f4").astype(np.float32)

    def tagged(self, count: int, layer: str) -> F32:
        (tag,) = struct.unpack("<I", self._take(4, layer))
        if tag == TAG_FP16:
            self.storage.add("fp16")
            values = np.frombuffer(self._take(2 * count, layer), dtype="<f2").astype(np.float32)
            self._take((-2 * count) % 4, layer)  # fp16 blocks are padded to 4 bytes
            return values
        if tag in (TAG_FP32_RAW, 0):
            self.storage.add("fp32")
            return self.raw_fp32(count, layer)
        kind = "int8" if tag == TAG_INT8 else f"quantized (tag 0x{tag:08X})"
        raise UnsupportedModelError(f"{self.source}: layer {layer} stores {kind} weights; only fp16/fp32 are supported")


def read_weights(
    layers: tuple[NcnnLayer, ...], data: bytes, *, source: str = "<bin>"
) -> tuple[dict[str, dict[str, F32]], tuple[Storage, ...]]:
    """Read every layer's weights from the bytes of a ``.bin``, in layer order.

    Returns ``({layer name: {"weight": flat float32, "bias": ...}}, storage kinds)``;
    fp16 values become float32 exactly.

    Raises:
        UnsupportedModelError: a layer type we cannot size, quantized weights,
            a truncated file or bytes left over (message names ``source``).
    """
    reader = _BinReader(data, source)
    weights: dict[str, dict[str, F32]] = {}
    for layer in layers:
        if layer.type == "Convolution":
            size, num_output = layer.get_int(6, 0), layer.get_int(0, 0)
            if layer.get_int(8, 0) or layer.get_int(19, 0):
                raise UnsupportedModelError(f"{source}: layer {layer.name} is int8 or has dynamic weights")
            entry = {"weight": reader.tagged(size, layer.name)}
            if layer.get_int(5, 0):
                entry["bias"] = reader.raw_fp32(num_output, layer.name)
            weights[layer.name] = entry
        elif layer.type == "PReLU":
            weights[layer.name] = {"weight": reader.raw_fp32(layer.get_int(0, 0), layer.name)}
        elif layer.type not in WEIGHTLESS_LAYERS:
            raise UnsupportedModelError(
                f"{source}: unsupported ncnn layer type {layer.type!r} (layer {layer.name}); "
                "framefill converts RRDBNet and SRVGGNetCompact graphs only"
            )
    if reader.pos != len(data):
        raise UnsupportedModelError(
            f"{source}: {len(data) - reader.pos} bytes left after the last layer; the .bin does not match the .param"
        )
    return weights, tuple(sorted(reader.storage))
