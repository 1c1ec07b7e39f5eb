"""OpenEXR read and write that keep everything: parts, channels, pixel types, windows, tiling, attributes.

Pixels stay in their own type (half -> float16, float -> float32, uint ->
uint32), one 2-D array per channel over the part's data window, so a frame
read and written back is bit-identical (with a lossless compression).
Built on the OpenEXR 3.x Python bindings (``OpenEXR.File``). Structure is
checked first by :mod:`framefill.frames._exrlayout`, so deep, truncated and
corrupt files fail with one clear line instead of library noise.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import OpenEXR

from framefill.atomic import atomic_output, write_errno, write_error
from framefill.errors import ExrError
from framefill.frames import _exrlayout
from framefill.frames._native import clean_note, first_note, quiet_native
from framefill.frames._files import (
    FORMAT_EXTENSIONS,
    file_problem,
    read_problem,
    sniff_format,
)

__all__ = [
    "ExrPart",
    "ExrImage",
    "read_exr",
    "probe_exr",
    "check_exr",
    "count_nonfinite",
    "write_exr",
    "part_from_arrays",
    "image_from_arrays",
    "with_attributes",
    "pixel_sha256",
    "decoded_bytes",
    "chromaticities",
    "COMPRESSIONS",
]

# OpenEXR's own default tile size (and the one most renderers use).
DEFAULT_TILE_PX = 64

_DTYPE_TO_TYPE = {np.dtype(np.float16): "half", np.dtype(np.float32): "float", np.dtype(np.uint32): "uint"}
_TYPE_TO_DTYPE = {v: k for k, v in _DTYPE_TO_TYPE.items()}

# "zip" -> OpenEXR.ZIP_COMPRESSION etc., from whatever the installed bindings offer.
COMPRESSIONS: dict[str, Any] = {
    ("none" if name == "NO_COMPRESSION" else name.removesuffix("_COMPRESSION").lower()): value
    for name, value in OpenEXR.Compression.__members__.items()
    if name.endswith("_COMPRESSION")
}
_COMPRESSION_NAMES = {int(v): k for k, v in COMPRESSIONS.items()}

# Attributes the library derives itself; passing stale ones would corrupt a write.
_DERIVED_ATTRIBUTES = ("channels", "chunkCount", "name")


# ---------------------------------------------------------------------------
# Data model
# ---------------------------------------------------------------------------


@dataclass(eq=False)
class ExrPart:
    """One part of an EXR file.

    ``channels`` maps full channel names (``R``, ``diffuse.R``, ``depth.Z``) to
    2-D arrays over the data window, shape (height, width) divided by the
    channel's sampling, dtype float16/float32/uint32 (half/float/uint),
    scene-linear values untouched. ``header`` holds every attribute as the
    OpenEXR bindings return it (custom ones included; the channel list is
    derived from ``channels``). A probed part has ``channels == {}`` and its
    types in ``channel_types``.
    """

    name: str | None
    channels: dict[str, np.ndarray]
    header: dict[str, Any] = field(default_factory=dict)
    sampling: dict[str, tuple[int, int]] = field(default_factory=dict)
    linear: set[str] = field(default_factory=set)
    channel_types: dict[str, str] = field(default_factory=dict)

    def channel_names(self) -> list[str]:
        return list(self.channels) if self.channels else list(self.channel_types)

    @property
    def data_window(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1), inclusive."""
        box = self.header.get("dataWindow")
        if box is not None:
            return _box_ints(box)
        if self.channels:
            name, arr = next(iter(self.channels.items()))
            xs, ys = self.sampling.get(name, (1, 1))
            return (0, 0, arr.shape[1] * xs - 1, arr.shape[0] * ys - 1)
        return (0, 0, -1, -1)

    @property
    def display_window(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1), inclusive; the data window when the header has none."""
        box = self.header.get("displayWindow")
        return _box_ints(box) if box is not None else self.data_window

    @property
    def width(self) -> int:
        x0, _, x1, _ = self.data_window
        return x1 - x0 + 1

    @property
    def height(self) -> int:
        _, y0, _, y1 = self.data_window
        return y1 - y0 + 1

    @property
    def compression(self) -> str:
        """"zip", "piz", "dwaa", "none", ... ("zip", the library default, when unset)."""
        value = self.header.get("compression")
        return "zip" if value is None else _COMPRESSION_NAMES.get(int(value), str(value))

    @property
    def tiled(self) -> bool:
        return _storage(self.header.get("type")) in ("tiledimage", "deeptile")

    @property
    def tile_size(self) -> tuple[int, int] | None:
        tiles = self.header.get("tiles")
        return (int(tiles.xSize), int(tiles.ySize)) if self.tiled and tiles is not None else None

    def layers(self) -> dict[str, list[str]]:
        """Full channel names grouped by layer (``diffuse.R`` -> "diffuse"; bare ``R`` -> "")."""
        out: dict[str, list[str]] = {}
        for name in self.channel_names():
            out.setdefault(name.rpartition(".")[0], []).append(name)
        return out

    def pixel_types(self) -> dict[str, str]:
        """Channel name -> "half", "float" or "uint"."""
        if self.channels:
            return {n: _DTYPE_TO_TYPE.get(a.dtype, str(a.dtype)) for n, a in self.channels.items()}
        return dict(self.channel_types)


@dataclass(eq=False)
class ExrImage:
    """All parts of one EXR file, in file order."""

    parts: list[ExrPart]
    path: Path | None = None

    def part(self, name_or_index: str | int) -> ExrPart:
        """A part by index or by name.

        Raises:
            ExrError: no such part.
        """
        if isinstance(name_or_index, int):
            if -len(self.parts) <= name_or_index < len(self.parts):
                return self.parts[name_or_index]
        else:
            for p in self.parts:
                if p.name == name_or_index:
                    return p
        names = [p.name for p in self.parts]
        raise ExrError(f"{self.path or 'image'} has no part {name_or_index!r} (parts: {names})")

    def all_channels(self) -> dict[str, np.ndarray]:
        """Every channel array: bare names for one part, ``part/channel`` for several."""
        if len(self.parts) == 1:
            return dict(self.parts[0].channels)
        return {f"{p.name or i}/{n}": a for i, p in enumerate(self.parts) for n, a in p.channels.items()}


def _box_ints(box: Any) -> tuple[int, int, int, int]:
    lo, hi = box
    return (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))


def _storage(value: Any) -> str:
    if value is None:
        return "scanlineimage"
    return getattr(value, "name", str(value))


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def _layout(path: Path, *, check_every_chunk: bool = False) -> _exrlayout.RawLayout:
    """Check the file exists and is a complete, flat EXR; return its structure."""
    problem = file_problem(path)
    if problem is not None:
        raise ExrError(f"cannot read {path}: {problem}")
    try:
        layout = _exrlayout.read_layout(path, check_every_chunk=check_every_chunk)
    except _exrlayout.LayoutError as err:
        if err.kind == "not_exr":
            other = sniff_format(path)
            if other is not None and other != "exr":
                raise ExrError(
                    f"cannot read {path}: it is a {other.upper()} file, not OpenEXR, despite its name; "
                    f"rename it to {path.stem}{FORMAT_EXTENSIONS[other]} or re-render it as EXR"
                ) from None
            raise ExrError(f"cannot read {path}: not an OpenEXR file (no EXR magic number at its start); "
                           f"re-render or re-copy it") from None
        if err.kind == "truncated":
            raise ExrError(
                f"cannot read {path}: the file is truncated or incomplete: {err.reason} "
                f"({path.stat().st_size} bytes); re-render or re-copy it"
            ) from None
        raise ExrError(f"cannot read {path}: {err.reason}; re-render or re-copy it") from None
    except OSError as err:
        raise ExrError(f"cannot read {path}: {read_problem(path, err)}") from None
    if layout.deep:
        raise ExrError(f"cannot read {path}: deep data is not supported; flatten it in your renderer/compositor")
    return layout


def _check_budget(path: Path, layout: _exrlayout.RawLayout, budget: int | None) -> None:
    need = layout.decoded_bytes()
    if budget is not None and need > budget:
        raise ExrError(
            f"cannot read {path}: it decodes to {_gib(need)}, over the memory budget of {_gib(budget)}; "
            f"raise it with --memory-budget or FRAMEFILL_MEMORY_BUDGET "
            f"(e.g. FRAMEFILL_MEMORY_BUDGET={max(1, -(-need // (1 << 30)) + 1)}G)"
        )


def _header_dict(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != "channels"}


def chromaticities(part: ExrPart) -> tuple[float, ...] | None:
    """The part's ``chromaticities`` attribute as (red x, y, green x, y, blue x, y, white x, y), or None."""
    value = part.header.get("chromaticities")
    if value is None:
        return None
    try:
        flat = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    return tuple(float(v) for v in flat) if flat.size == 8 and np.all(np.isfinite(flat)) else None


def read_exr(path: str | os.PathLike[str], *, memory_budget_bytes: int | None = None) -> ExrImage:
    """Read every part and channel of an EXR file, pixels in their own type.

    Arrays are 2-D (rows, cols) over each part's data window, float16/float32/
    uint32, values as stored (scene-linear, unclamped).
    ``memory_budget_bytes`` caps the decoded size (None: no cap; the pipelines
    pass :func:`framefill.runtime.memory.frame_budget`).

    Raises:
        ExrError: missing file, not an EXR, corrupt header or pixels, truncated
            file, deep data, or a decoded size over the memory budget.
    """
    p = Path(path)
    layout = _layout(p)
    _check_budget(p, layout, memory_budget_bytes)
    try:
        with quiet_native() as notes:
            exr = OpenEXR.File(str(p), separate_channels=True)
            bound = list(exr.parts)
            raw = [(bp.name(), dict(bp.header), {n: c.pixels for n, c in bp.channels.items()}) for bp in bound]
    except (RuntimeError, ValueError, TypeError) as err:
        reason = first_note(notes, p) or clean_note(str(err), p)
        raise ExrError(f"cannot read {p}: corrupt file, OpenEXR says: {reason}; re-render or re-copy it") from None
    if len(raw) != len(layout.parts):
        reason = first_note(notes, p) or "some parts could not be decoded"
        raise ExrError(f"cannot read {p}: corrupt or truncated pixel data ({reason}); re-render or re-copy it")
    parts: list[ExrPart] = []
    for (name, header, pixels), rpart in zip(raw, layout.parts, strict=True):
        channels: dict[str, np.ndarray] = {}
        for rch in rpart.channels:
            arr = pixels.get(rch.name)
            want = rpart.channel_shape(rch)
            if not isinstance(arr, np.ndarray) or arr.shape != want or arr.dtype != _TYPE_TO_DTYPE[rch.pixel_type]:
                reason = first_note(notes, p) or f"channel {rch.name} could not be decoded"
                raise ExrError(f"cannot read {p}: corrupt or truncated pixel data ({reason}); re-render or re-copy it")
            channels[rch.name] = arr
        parts.append(
            ExrPart(
                name=name or None,
                channels=channels,
                header=_header_dict(header),
                sampling={c.name: (c.x_sampling, c.y_sampling) for c in rpart.channels if (c.x_sampling, c.y_sampling) != (1, 1)},
                linear={c.name for c in rpart.channels if c.linear},
                channel_types={c.name: c.pixel_type for c in rpart.channels},
            )
        )
    return ExrImage(parts=parts, path=p)


def probe_exr(path: str | os.PathLike[str]) -> ExrImage:
    """Read headers only: channel names and types, windows, compression, attributes; no pixels.

    Each part has ``channels == {}`` and ``channel_types`` filled. The whole
    file structure is checked, so a truncated file fails here too.

    Raises:
        ExrError: as :func:`read_exr`, except for the memory budget.
    """
    p = Path(path)
    layout = _layout(p)
    try:
        with quiet_native() as notes:
            exr = OpenEXR.File(str(p), separate_channels=True, header_only=True)
            headers = [dict(exr.header(i)) for i in range(len(layout.parts))]
    except (RuntimeError, ValueError, TypeError) as err:
        reason = first_note(notes, p) or clean_note(str(err), p)
        raise ExrError(f"cannot read {p}: corrupt file, OpenEXR says: {reason}; re-render or re-copy it") from None
    parts = [
        ExrPart(
            name=rpart.name,
            channels={},
            header=_header_dict(header),
            sampling={c.name: (c.x_sampling, c.y_sampling) for c in rpart.channels if (c.x_sampling, c.y_sampling) != (1, 1)},
            linear={c.name for c in rpart.channels if c.linear},
            channel_types={c.name: c.pixel_type for c in rpart.channels},
        )
        for header, rpart in zip(headers, layout.parts, strict=True)
    ]
    return ExrImage(parts=parts, path=p)


def check_exr(path: str | os.PathLike[str], *, memory_budget_bytes: int | None = None) -> None:
    """Check that a file is a complete, readable flat EXR without decoding its pixels.

    Cheap enough to run on every rendered frame before it is used: it parses
    the headers and reads the chunk offset table plus each chunk's few-byte
    leader (milliseconds, no decompression). It catches a missing path, a
    folder, a broken or looping link, a 0-byte file, a file of another format
    named ``.exr``, a corrupt header, a truncated file, an offset table that
    was never filled in or holds garbage (offsets past the end, chunks that
    name the wrong scanline/tile/part, overlapping chunks), deep data, and a
    decoded size over ``memory_budget_bytes`` (None: no cap).
    Damage inside compressed pixel data is found only by :func:`read_exr`.

    Raises:
        ExrError: one line naming the file, the problem and the fix.
    """
    p = Path(path)
    layout = _layout(p, check_every_chunk=True)
    _check_budget(p, layout, memory_budget_bytes)


# Bits that are all set in the exponent of an Inf or NaN, per float width.
_EXPONENT_BITS = {2: (np.uint16, 0x7C00), 4: (np.uint32, 0x7F800000)}


def count_nonfinite(image: ExrImage) -> dict[str, int]:
    """Pixels that are NaN or +/-Inf, per float (half or float) channel that has any.

    Keys as :meth:`ExrImage.all_channels` (bare names for one part,
    ``part/channel`` for several); channels without non-finite pixels and
    uint channels are left out, so an empty dict means a clean frame.
    One pass over the bits of each array (the exponent all ones), no copies
    in float: a 4K four-channel half frame takes a few milliseconds.
    """
    counts: dict[str, int] = {}
    for name, arr in image.all_channels().items():
        if arr.dtype.kind != "f" or arr.dtype.itemsize not in _EXPONENT_BITS:
            if arr.dtype.kind == "f":  # float64 from a caller: not an EXR type, count it plainly
                bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
                if bad:
                    counts[name] = bad
            continue
        utype, mask = _EXPONENT_BITS[arr.dtype.itemsize]
        bits = np.ascontiguousarray(arr).view(utype)
        bad = int(np.count_nonzero((bits & utype(mask)) == utype(mask)))
        if bad:
            counts[name] = bad
    return counts


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def _compression_value(name: Any, dest: Path) -> Any:
    if isinstance(name, OpenEXR.Compression):
        return name
    key = str(name).lower().removesuffix("_compression")
    if key in ("no", "uncompressed"):
        key = "none"
    if key not in COMPRESSIONS:
        raise ExrError(f"cannot write {dest}: unknown compression {name!r}; use one of {', '.join(COMPRESSIONS)}")
    return COMPRESSIONS[key]


def _write_header(part: ExrPart, index: int, dest: Path, compression: Any) -> dict[str, Any]:
    """A fresh header dict for the bindings (they keep what they are given)."""
    header = {k: v for k, v in part.header.items() if k not in _DERIVED_ATTRIBUTES}
    storage = _storage(header.get("type"))
    if storage.startswith("deep"):
        raise ExrError(f"cannot write {dest}: part {index} is deep; deep data is not supported")
    if "dataWindow" not in header:
        x0, y0, x1, y1 = part.data_window
        header["dataWindow"] = (np.array([x0, y0], np.int32), np.array([x1, y1], np.int32))
    if "displayWindow" not in header:
        header["displayWindow"] = header["dataWindow"]
    if compression is not None:
        header["compression"] = compression
    elif "compression" in header:
        header["compression"] = _compression_value(header["compression"], dest)
    if storage == "tiledimage":
        tiles = header.get("tiles")
        one = OpenEXR.TileDescription()
        one.xSize = int(tiles.xSize) if tiles is not None else DEFAULT_TILE_PX
        one.ySize = int(tiles.ySize) if tiles is not None else DEFAULT_TILE_PX
        # The bindings write only level 0; a mip/rip-mapped header would promise
        # levels that never get written, so the copy is single-level.
        one.mode = OpenEXR.ONE_LEVEL
        one.roundingMode = tiles.roundingMode if tiles is not None else OpenEXR.ROUND_DOWN
        header["tiles"] = one
    return header


def _check_part(part: ExrPart, index: int, dest: Path) -> None:
    if not part.channels:
        raise ExrError(f"cannot write {dest}: part {index} has no channels")
    x0, y0, x1, y1 = part.data_window
    for name, arr in part.channels.items():
        if not isinstance(arr, np.ndarray) or arr.ndim != 2:
            raise ExrError(f"cannot write {dest}: channel {name} must be a 2-D array")
        if arr.dtype not in _DTYPE_TO_TYPE:
            raise ExrError(
                f"cannot write {dest}: channel {name} has dtype {arr.dtype}; EXR stores float16, float32 or uint32"
            )
        xs, ys = part.sampling.get(name, (1, 1))
        if (xs, ys) != (1, 1):
            raise ExrError(f"cannot write {dest}: channel {name} is subsampled ({xs}x{ys}), which the writer cannot do")
        want = (y1 - y0 + 1, x1 - x0 + 1)
        if arr.shape != want:
            raise ExrError(
                f"cannot write {dest}: channel {name} is {arr.shape[1]}x{arr.shape[0]} but the data window "
                f"{(x0, y0, x1, y1)} is {want[1]}x{want[0]}"
            )


def write_exr(path: str | os.PathLike[str], image: ExrImage, *, compression: str | None = None) -> None:
    """Write ``image`` atomically, keeping parts, channels, types, windows, tiling and attributes.

    Part names and order, pixel types, data/display windows, tile size, line
    order, compression (unless ``compression`` overrides it for every part)
    and every header attribute are kept. Mip/rip-mapped tiled parts are
    written single-level (the bindings cannot write the other levels).

    Raises:
        ExrError: an image the format cannot hold (no parts, bad dtype or
            shape, duplicate part names, deep or subsampled channels), an
            unknown compression, or a failed write.
    """
    dest = Path(path)
    if not image.parts:
        raise ExrError(f"cannot write {dest}: the image has no parts")
    if len(image.parts) > 1:
        names = [p.name for p in image.parts]
        if any(not n for n in names) or len(set(names)) != len(names):
            raise ExrError(f"cannot write {dest}: a multipart file needs unique part names, got {names}")
    override = _compression_value(compression, dest) if compression is not None else None
    bound_parts = []
    for index, part in enumerate(image.parts):
        _check_part(part, index, dest)
        header = _write_header(part, index, dest, override)
        channels = {
            name: OpenEXR.Channel(name, np.ascontiguousarray(arr), 1, 1, name in part.linear)
            for name, arr in part.channels.items()
        }
        bound_parts.append(OpenEXR.Part(header, channels, part.name or ""))
    with atomic_output(dest) as tmp:
        try:
            with quiet_native() as notes:
                OpenEXR.File(bound_parts).write(str(tmp))
        except (RuntimeError, ValueError, TypeError) as err:
            text = " ".join([*notes, str(err)])
            if write_errno(text) is not None:  # a system cause framefill can name: disk full, read-only, ...
                raise ExrError(write_error(dest, text).msg) from None
            reason = first_note(notes, tmp) or clean_note(str(err), tmp)
            raise ExrError(f"cannot write {dest}: {reason}") from None


# ---------------------------------------------------------------------------
# Helpers for pipelines and tests
# ---------------------------------------------------------------------------


def part_from_arrays(
    channels: Mapping[str, np.ndarray],
    *,
    name: str | None = None,
    origin: tuple[int, int] = (0, 0),
    display_window: tuple[int, int, int, int] | None = None,
    compression: str = "zip",
    tile_size: tuple[int, int] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> ExrPart:
    """Build a part from channel arrays (all the same 2-D shape) with its data window at ``origin``.

    Raises:
        ExrError: no channels, or arrays of different shapes.
    """
    arrays = dict(channels)
    if not arrays:
        raise ExrError("an EXR part needs at least one channel")
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ExrError(f"channel arrays must share one 2-D shape, got {sorted(shapes)}")
    h, w = next(iter(shapes))
    x0, y0 = origin
    data = (np.array([x0, y0], np.int32), np.array([x0 + w - 1, y0 + h - 1], np.int32))
    disp = data if display_window is None else (
        np.array(display_window[:2], np.int32), np.array(display_window[2:], np.int32))
    header: dict[str, Any] = {
        "compression": _compression_value(compression, Path("<new image>")),
        "dataWindow": data,
        "displayWindow": disp,
        "lineOrder": OpenEXR.INCREASING_Y,
        "type": OpenEXR.tiledimage if tile_size else OpenEXR.scanlineimage,
    }
    if tile_size:
        tiles = OpenEXR.TileDescription()
        tiles.xSize, tiles.ySize = int(tile_size[0]), int(tile_size[1])
        tiles.mode = OpenEXR.ONE_LEVEL
        tiles.roundingMode = OpenEXR.ROUND_DOWN
        header["tiles"] = tiles
    header.update(attributes or {})
    return ExrPart(name=name, channels=arrays, header=header)


def image_from_arrays(channels: Mapping[str, np.ndarray], **kwargs: Any) -> ExrImage:
    """A single-part image; keyword arguments as :func:`part_from_arrays`."""
    return ExrImage(parts=[part_from_arrays(channels, **kwargs)])


def with_attributes(image: ExrImage, attributes: Mapping[str, Any], *, drop: Sequence[str] = ()) -> ExrImage:
    """A copy of ``image`` with ``attributes`` merged into every part's header (arrays shared).

    Use it for framefill's own attributes (``framefill/source``,
    ``framefill/model``, ``framefill/version``); existing names are replaced and
    the names in ``drop`` removed.
    """
    parts = [
        ExrPart(
            name=p.name,
            channels=dict(p.channels),
            header={**{k: v for k, v in p.header.items() if k not in drop}, **attributes},
            sampling=dict(p.sampling),
            linear=set(p.linear),
            channel_types=dict(p.channel_types),
        )
        for p in image.parts
    ]
    return ExrImage(parts=parts, path=None)


_PIXEL_BYTES = {"half": 2, "float": 4, "uint": 4}


def decoded_bytes(image: ExrImage) -> int:
    """Bytes a frame takes decoded, from its headers alone (a :func:`probe_exr` result will do)."""
    total = 0
    for part in image.parts:
        x0, y0, x1, y1 = part.data_window
        area = max(0, x1 - x0 + 1) * max(0, y1 - y0 + 1)
        total += area * sum(_PIXEL_BYTES.get(str(kind), 4) for kind in part.pixel_types().values())
    return total


def pixel_sha256(image: ExrImage) -> str:
    """sha256 of the decoded pixels of every part and channel, independent of compression.

    Covers, in order: each part's name and data window, then each channel
    (sorted by name) with its dtype, shape, sampling and little-endian bytes.
    Equal hashes mean bit-identical pixels; attributes are not included.
    """
    h = hashlib.sha256()
    h.update(b"framefill-pixels-v1\0")
    for part in image.parts:
        h.update(f"part\0{part.name or ''}\0{part.data_window}\0".encode())
        for name in sorted(part.channels):
            arr = part.channels[name]
            le = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
            xs, ys = part.sampling.get(name, (1, 1))
            h.update(f"chan\0{name}\0{le.dtype.str}\0{le.shape}\0{xs},{ys}\0".encode())
            h.update(le.data)  # the array's own buffer (contiguous), no copy
    return h.hexdigest()
