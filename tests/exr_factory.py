"""Small EXR files for tests: every pixel type, layered, tiled, multipart, deep, broken.

Pixel values cover the awkward cases on purpose (negative, > 1, inf, NaN,
subnormal halves, full-range uint32) so that a round trip that is not
bit-exact shows up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR
from framefill.frames.exr import ExrImage, ExrPart, part_from_arrays

__all__ = [
    "random_channel",
    "layered_channels",
    "layered_image",
    "multipart_image",
    "write_deep_scanline",
    "write_deep_tiled",
    "truncate_copy",
]


def random_channel(rng: np.random.Generator, shape: tuple[int, int], dtype: str) -> np.ndarray:
    """A 2-D channel of ``dtype`` ("half", "float", "uint") with edge values mixed in."""
    if dtype == "uint":
        arr = rng.integers(0, 2**32, size=shape, dtype=np.uint64).astype(np.uint32)
        arr.flat[:2] = (0, 2**32 - 1)
        return arr
    np_dtype = np.float16 if dtype == "half" else np.float32
    arr = (rng.standard_normal(shape) * 4).astype(np_dtype)
    specials = [np.inf, -np.inf, np.nan, -0.0, 65504.0 if dtype == "half" else 3.0e38]
    if dtype == "half":
        specials.append(np.float16(6e-8))  # a subnormal half
    for i, v in enumerate(specials[: arr.size]):
        arr.flat[i * 3 % arr.size] = v
    return arr


def layered_channels(rng: np.random.Generator, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Beauty RGBA, diffuse.RGB, depth.Z, N.XYZ and a cryptomatte-style set, in mixed types."""
    ch: dict[str, np.ndarray] = {}
    for c in "RGBA":
        ch[c] = random_channel(rng, shape, "half")
    for c in "RGB":
        ch[f"diffuse.{c}"] = random_channel(rng, shape, "half")
    ch["depth.Z"] = random_channel(rng, shape, "float")
    for c in "XYZ":
        ch[f"N.{c}"] = random_channel(rng, shape, "float")
    # Cryptomatte stores float32 hashes (id) and coverages per rank pair.
    for rank in ("00", "01"):
        for c in "rgba":
            ch[f"CryptoObject{rank}.{c}"] = random_channel(rng, shape, "float")
    ch["objectId.u"] = random_channel(rng, shape, "uint")
    return ch


def layered_image(
    rng: np.random.Generator,
    *,
    shape: tuple[int, int] = (24, 33),
    origin: tuple[int, int] = (0, 0),
    display_window: tuple[int, int, int, int] | None = None,
    compression: str = "zip",
    tile_size: tuple[int, int] | None = None,
) -> ExrImage:
    """A single-part image with :func:`layered_channels`."""
    part = part_from_arrays(
        layered_channels(rng, shape),
        origin=origin,
        display_window=display_window,
        compression=compression,
        tile_size=tile_size,
    )
    return ExrImage(parts=[part])


def multipart_image(rng: np.random.Generator) -> ExrImage:
    """Three parts with different windows, types, storage and compression."""
    parts: list[ExrPart] = [
        part_from_arrays(
            {c: random_channel(rng, (16, 20), "half") for c in "RGBA"},
            name="beauty",
            compression="piz",
            attributes={"note": "first part"},
        ),
        part_from_arrays(
            {"depth.Z": random_channel(rng, (9, 7), "float")},
            name="depth",
            origin=(-4, 3),
            display_window=(0, 0, 19, 15),
            compression="zips",
            tile_size=(4, 4),
        ),
        part_from_arrays(
            {"id": random_channel(rng, (16, 20), "uint")},
            name="ids",
            compression="none",
        ),
    ]
    return ExrImage(parts=parts)


def _deep_channel(shape: tuple[int, int]) -> np.ndarray:
    z = np.empty(shape, dtype=object)
    for y in range(shape[0]):
        for x in range(shape[1]):
            z[y, x] = np.arange(1 + (x + y) % 3, dtype=np.float32)
    return z


def write_deep_scanline(path: Path, shape: tuple[int, int] = (4, 5)) -> Path:
    """A real deep-scanline EXR (written by the OpenEXR bindings, version flag 0x800)."""
    header = {"type": OpenEXR.deepscanline, "compression": OpenEXR.NO_COMPRESSION}
    OpenEXR.File(header, {"Z": _deep_channel(shape)}).write(str(path))
    return path


def write_deep_tiled(path: Path, shape: tuple[int, int] = (4, 5)) -> Path:
    """A real deep-tiled EXR."""
    tiles = OpenEXR.TileDescription()
    tiles.xSize, tiles.ySize = 2, 2
    header = {"type": OpenEXR.deeptile, "tiles": tiles, "compression": OpenEXR.NO_COMPRESSION}
    OpenEXR.File(header, {"Z": _deep_channel(shape)}).write(str(path))
    return path


def truncate_copy(src: Path, dest: Path, keep_bytes: int) -> Path:
    """``dest`` holds the first ``keep_bytes`` of ``src`` (negative: drop that many from the end)."""
    data = src.read_bytes()
    dest.write_bytes(data[:keep_bytes])
    return dest
