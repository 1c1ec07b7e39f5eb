"""Frames that are not EXR (PNG, TIFF, JPEG at 8/16 bit; DPX at 8-16 bit) as scene-linear pixels, and back.

A raster frame is read into linear Rec.709 floats through its file's encoding
(:mod:`framefill.frames.encodings`: sRGB for PNG/TIFF/JPEG, Cineon log or
linear for DPX) and shown to the pipelines as a one-part :class:`ExrImage`
(channels R, G, B and A; a grey frame's one channel is R, G and B), so the
EXR path's warp, alpha and manifest apply unchanged. A written frame is
encoded back and quantised to the output's bit depth: a frame decoded and
written again has exactly its codes.

:func:`output_format` decides what an output pattern's extension can hold,
refusing what would lose data outright and warning about what changes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from framefill.errors import InputError
from framefill.frames._files import sniff_format
from framefill.frames.encodings import Encoding, decode, encode
from framefill.frames.exr import ExrImage, image_from_arrays

__all__ = ["RasterKind", "RasterFormat", "Raster", "RASTER_EXTENSIONS", "raster_kind", "read_raster",
           "write_raster", "raster_to_image", "image_to_linear", "output_format", "check_raster_kind"]

RasterKind = Literal["png", "tiff", "jpeg", "dpx"]
_KIND_OF_EXTENSION: dict[str, RasterKind] = {".png": "png", ".tif": "tiff", ".tiff": "tiff", ".jpg": "jpeg",
                                             ".jpeg": "jpeg", ".dpx": "dpx"}
RASTER_EXTENSIONS = tuple(_KIND_OF_EXTENSION)
# Bit depths each format stores.
_DEPTHS: dict[RasterKind, tuple[int, ...]] = {"png": (8, 16), "tiff": (8, 16), "jpeg": (8,), "dpx": (8, 10, 12, 16)}
_CHANNEL_NAMES = {1: "grey", 3: "RGB", 4: "RGBA"}
# The bit depth an EXR (float) frame gets in each format: the most it stores, or the classic 10-bit log scan.
_FROM_FLOAT = {"png": 16, "tiff": 16, "dpx": 10}


def raster_kind(path: str | os.PathLike[str]) -> RasterKind | None:
    """"png", "tiff", "jpeg" or "dpx" by the file name's extension, else None."""
    return _KIND_OF_EXTENSION.get(Path(path).suffix.lower())


@dataclass(frozen=True)
class RasterFormat:
    """How a raster frame is stored: format, bits per channel, channels (1, 3, 4) and encoding."""

    kind: RasterKind
    bit_depth: int
    channels: int
    encoding: Encoding

    def __str__(self) -> str:
        return f"{self.bit_depth}-bit {_CHANNEL_NAMES.get(self.channels, self.channels)} {self.kind.upper()} " \
               f"({self.encoding})"

    @property
    def top(self) -> int:
        """The largest code value."""
        return (1 << self.bit_depth) - 1


@dataclass(eq=False)
class Raster:
    """A decoded raster frame: ``linear`` (H, W, C) float32 scene-linear Rec.709, its format, DPX header."""

    linear: np.ndarray
    format: RasterFormat
    attributes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    path: Path | None = None


def check_raster_kind(path: str | os.PathLike[str]) -> None:
    """Refuse a frame whose bytes are another format than its extension says (a JPEG named .png).

    Raises:
        InputError: naming the file, what it is, and the fix.
    """
    p = Path(path)
    kind, found = raster_kind(p), sniff_format(p)
    if kind is not None and found is not None and found != kind:
        raise InputError(f"{p} is a {found.upper()} file despite its {p.suffix} name; every frame of a sequence "
                         f"must be one format: re-export it as {kind.upper()}")


def read_raster(path: str | os.PathLike[str]) -> Raster:
    """Read a PNG/TIFF/JPEG/DPX frame into scene-linear floats.

    Raises:
        InputError: missing, damaged, float, another format than its name, or not a raster file.
    """
    from framefill.frames.dpx import read_dpx
    from framefill.frames.images import read_image

    p = Path(path)
    kind = raster_kind(p)
    if kind is None:
        raise InputError(f"cannot read {p}: not a PNG, TIFF, JPEG or DPX file name")
    check_raster_kind(p)
    if kind == "dpx":
        dpx = read_dpx(p)
        encoding: Encoding = "linear" if dpx.transfer.lower() == "linear" else "cineon"
        fmt = RasterFormat("dpx", dpx.bit_depth, dpx.codes.shape[2], encoding)
        values = dpx.codes.astype(np.float64) / fmt.top
        return Raster(decode(values, encoding), fmt, dpx.attributes, p)
    values, depth = read_image(p)
    if depth not in (8, 16):
        raise InputError(f"cannot read {p}: a float {kind.upper()}; framefill fills 8 and 16-bit images "
                         "(write float frames as EXR)")
    fmt = RasterFormat(kind, depth, values.shape[2], "srgb")
    return Raster(decode(values, "srgb"), fmt, {}, p)


def write_raster(path: str | os.PathLike[str], linear: np.ndarray, fmt: RasterFormat, *,
                 attributes: dict[str, tuple[Any, Any]] | None = None) -> str:
    """Encode scene-linear (H, W, C) pixels in ``fmt``, quantise (clipping to the codes), write atomically.

    Returns the sha256 of the written code values (shape, dtype and bytes).

    Raises:
        InputError: the channels do not match ``fmt``, or the write failed.
    """
    from framefill.frames.dpx import write_dpx
    from framefill.frames.images import write_image

    dest = Path(path)
    arr = np.asarray(linear)
    if arr.ndim != 3 or arr.shape[2] != fmt.channels:
        raise InputError(f"cannot write {dest}: pixels of shape {arr.shape} are not {fmt}")
    encoded = np.nan_to_num(encode(arr, fmt.encoding), nan=0.0)
    codes = np.rint(np.clip(encoded, 0.0, 1.0) * fmt.top).astype(np.uint16)
    if fmt.kind == "dpx":
        write_dpx(dest, codes, bit_depth=fmt.bit_depth, attributes=attributes)
    else:
        depth: Literal[8, 16] = 8 if fmt.bit_depth == 8 else 16
        write_image(dest, codes.astype(np.float32) / np.float32(fmt.top), bit_depth=depth)
    digest = hashlib.sha256(f"{codes.shape}:{fmt.bit_depth}".encode())
    digest.update(np.ascontiguousarray(codes).astype("<u2").tobytes())
    return digest.hexdigest()


def raster_to_image(raster: Raster) -> ExrImage:
    """A one-part float32 image of a raster's linear pixels: R, G, B (+ A); grey is R = G = B."""
    px = raster.linear
    if px.shape[2] == 1:
        channels = {"R": px[:, :, 0], "G": px[:, :, 0], "B": px[:, :, 0]}
    else:
        channels = {name: px[:, :, i] for i, name in enumerate("RGBA"[: px.shape[2]])}
    image = image_from_arrays({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in channels.items()})
    image.path = raster.path
    return image


def image_to_linear(image: ExrImage, channels: int) -> np.ndarray:
    """The (H, W, ``channels``) linear pixels of a one-part R, G, B (A) image (1: its R channel)."""
    part = image.parts[0]
    names = {1: "R", 3: "RGB", 4: "RGBA"}[channels]
    return np.stack([np.asarray(part.channels[n], dtype=np.float32) for n in names], axis=-1)


def _exr_channels(image: ExrImage) -> int:
    """3 or 4 when an EXR holds exactly R, G, B (and A) in one part, else 0."""
    if len(image.parts) != 1:
        return 0
    names = set(image.parts[0].channel_names())
    return {frozenset("RGB"): 3, frozenset("RGBA"): 4}.get(frozenset(names), 0)


def output_format(source: RasterFormat | ExrImage, out_path: str | os.PathLike[str]) -> tuple[RasterFormat, str]:
    """The format frames from ``source`` (a raster's format, or a probed EXR) take in ``out_path``, and a warning.

    Same format: kept as is (no warning). Otherwise the bit depth is kept where
    the format stores it (8-bit stays 8, else 16; float EXR gives 16-bit
    PNG/TIFF or 10-bit log DPX), sRGB for PNG/TIFF/JPEG, Cineon log for DPX
    (a DPX source keeps its own); the warning says rendered frames are
    converted, not copied, and what is clipped.

    Raises:
        InputError: a combination that would lose data: EXR layers beyond
            R, G, B, A or several parts, alpha into JPEG, more than 8 bits (or float) into JPEG.
    """
    out = Path(out_path)
    kind = raster_kind(out)
    if kind is None:
        raise InputError(f"cannot write {out}: unknown image type {out.suffix or '(none)'}; "
                         f"use .exr, {', '.join(RASTER_EXTENSIONS)}")
    if isinstance(source, ExrImage):
        channels = _exr_channels(source)
        if not channels:
            count = sum(len(p.channel_names()) for p in source.parts)
            raise InputError(f"cannot write {out}: {source.path} has {count} channels in {len(source.parts)} part(s) "
                             f"and a {kind.upper()} holds R, G, B (A) only; write EXR (--out ....####.exr) to keep "
                             "every layer")
        src_depth, src_encoding, what = 32, "linear", "float EXR"
    else:
        if source.kind == kind:
            return source, ""
        channels, src_depth, src_encoding, what = source.channels, source.bit_depth, source.encoding, str(source)
    if kind == "jpeg" and channels == 4:
        raise InputError(f"cannot write {out}: JPEG has no alpha and the {what} frames have one; use PNG or TIFF")
    if kind == "jpeg" and src_depth > 8:
        raise InputError(f"cannot write {out}: JPEG is 8-bit and the {what} frames have more; use 16-bit PNG or "
                         "TIFF (or DPX)")
    depth = src_depth if src_depth in _DEPTHS[kind] else (_FROM_FLOAT[kind] if src_depth == 32 else 16)
    encoding: Encoding = "cineon" if kind == "dpx" else "srgb"
    fmt = RasterFormat(kind, depth, channels, encoding)
    clipped = "values outside [0, 1] are clipped" if src_encoding != "srgb" and encoding == "srgb" else \
        "values below Cineon code 0 are clipped" if encoding == "cineon" else ""
    warning = (f"the {what} frames are written as {fmt}: rendered frames are converted, not copied byte for byte"
               + (f", and {clipped}" if clipped else ""))
    return fmt, warning
