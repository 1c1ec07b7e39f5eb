"""Read an OpenEXR file's structure without decoding pixels.

The OpenEXR Python bindings tell neither the pixel type of a channel without
reading its pixels nor, reliably, whether a file is complete: a truncated file
gives a printed warning and a part without pixels. This module parses the
headers and the chunk offset tables itself (the layout is fixed by the
OpenEXR file-format spec) so that framefill can probe quickly and reject
deep, truncated or corrupt files with a clear message before the library
sees them.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["LayoutError", "RawChannel", "RawPart", "RawLayout", "read_layout", "PIXEL_TYPE_NAMES", "PIXEL_BYTES"]

MAGIC = 20000630
FLAG_TILED = 0x200
FLAG_LONG_NAMES = 0x400
FLAG_NON_IMAGE = 0x800  # deep data
FLAG_MULTIPART = 0x1000

PIXEL_TYPE_NAMES = {0: "uint", 1: "half", 2: "float"}
PIXEL_BYTES = {"uint": 4, "half": 2, "float": 4}

# Scanlines per chunk for the classic compressions (OpenEXR file-format spec).
# Newer codecs are left out on purpose: their chunk table is sized from the
# file itself instead (see _single_part_chunk_count).
_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}

# Any real header fits in far less; a larger claim is a corrupt size field.
_MAX_ATTRIBUTE_BYTES = 1 << 30


def show(text: str | bytes, limit: int = 40, *, quote: bool = True) -> str:
    """Text from a possibly corrupt file, made safe for a one-line message."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    cut = text[:limit]
    shown = "".join(c if c.isprintable() else f"\\x{ord(c) & 0xFF:02x}" for c in cut)
    shown += "..." if len(text) > limit else ""
    return f"'{shown}'" if quote else shown


def _utf8(raw: bytes, what: str) -> str:
    """The bindings fail on names that are not UTF-8; say which one instead."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise LayoutError("corrupt", f"corrupt header: {what} {show(raw)} is not UTF-8 text") from None


class LayoutError(Exception):
    """The file is not a usable EXR. ``kind`` is "not_exr", "corrupt" or "truncated"."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class RawChannel:
    name: str
    pixel_type: str  # "half", "float" or "uint"
    linear: bool
    x_sampling: int
    y_sampling: int


@dataclass(frozen=True)
class RawPart:
    name: str | None
    storage: str  # "scanlineimage", "tiledimage", "deepscanline", "deeptile"
    channels: tuple[RawChannel, ...]
    data_window: tuple[int, int, int, int]
    display_window: tuple[int, int, int, int]
    compression: int
    line_order: int
    tiles: tuple[int, int, int, int] | None  # x size, y size, level mode, rounding mode
    chunk_count: int | None

    @property
    def deep(self) -> bool:
        return self.storage.startswith("deep")

    def channel_shape(self, channel: RawChannel) -> tuple[int, int]:
        """(rows, cols) of a channel's samples over the data window."""
        x0, y0, x1, y1 = self.data_window
        return (_samples(y0, y1, channel.y_sampling), _samples(x0, x1, channel.x_sampling))

    def decoded_bytes(self) -> int:
        total = 0
        for ch in self.channels:
            rows, cols = self.channel_shape(ch)
            total += rows * cols * PIXEL_BYTES[ch.pixel_type]
        return total


@dataclass(frozen=True)
class RawLayout:
    flags: int
    parts: tuple[RawPart, ...]
    file_size: int
    table_start: int = 0  # byte offset of the first chunk offset table (right after the headers)

    @property
    def multipart(self) -> bool:
        return bool(self.flags & FLAG_MULTIPART)

    @property
    def deep(self) -> bool:
        return bool(self.flags & FLAG_NON_IMAGE) or any(p.deep for p in self.parts)

    def decoded_bytes(self) -> int:
        return sum(p.decoded_bytes() for p in self.parts)


def _samples(lo: int, hi: int, sampling: int) -> int:
    """Samples of a channel with this sampling over [lo, hi] (positions divisible by it)."""
    if sampling <= 1:
        return hi - lo + 1
    return (hi // sampling) - ((lo - 1) // sampling)


class _Reader:
    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh = fh
        self.size = size

    @property
    def pos(self) -> int:
        return self.fh.tell()

    def take(self, n: int, what: str) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise LayoutError("truncated", f"it ends inside the {what}")
        return data

    def cstring(self, what: str, limit: int = 255) -> bytes:
        out = bytearray()
        while True:
            b = self.fh.read(1)
            if not b:
                raise LayoutError("truncated", f"it ends inside the {what}")
            if b == b"\0":
                return bytes(out)
            out += b
            if len(out) > limit:
                raise LayoutError("corrupt", f"corrupt header: an {what} longer than {limit} bytes")


def read_layout(
    path: str | os.PathLike[str], *, check_chunks: bool = True, check_every_chunk: bool = False
) -> RawLayout:
    """Parse every header of an EXR file and, with ``check_chunks``, verify its chunk tables.

    ``check_chunks`` checks that every offset points inside the file and that
    the last chunk ends inside it. ``check_every_chunk`` also reads each
    chunk's leader (a few bytes, no pixels): the part number, the scanline or
    tile it names must be the one its table entry stands for, its size must
    be positive, and no two chunks may overlap. That catches an offset table
    that is garbage but happens to point inside the file.

    Raises:
        LayoutError: not an EXR file, a corrupt header, or a file that ends
            before its last chunk (truncated, or a writer that never finished).
        OSError: the file cannot be opened.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        r = _Reader(fh, size)
        head = fh.read(8)
        if len(head) < 4 or struct.unpack("<i", head[:4])[0] != MAGIC:
            raise LayoutError("not_exr", "not an OpenEXR file (no EXR magic number at its start)")
        if len(head) < 8:
            raise LayoutError("truncated", "it ends inside the version field")
        version = struct.unpack("<i", head[4:8])[0]
        flags = version & ~0xFF
        if version & 0xFF != 2:
            raise LayoutError("corrupt", f"unsupported EXR version {version & 0xFF}")
        multipart = bool(flags & FLAG_MULTIPART)
        parts: list[RawPart] = []
        while True:
            attrs = _read_header(r)
            if attrs is None:  # empty header ends a multipart header list
                break
            parts.append(_make_part(attrs, flags, multipart))
            if not multipart:
                break
        if not parts:
            raise LayoutError("corrupt", "corrupt header: no parts")
        layout = RawLayout(flags=flags, parts=tuple(parts), file_size=size, table_start=r.pos)
        if (check_chunks or check_every_chunk) and not layout.deep:
            _check_chunk_tables(r, layout, every_chunk=check_every_chunk)
        return layout


def _read_header(r: _Reader) -> dict[str, tuple[str, bytes]] | None:
    attrs: dict[str, tuple[str, bytes]] = {}
    while True:
        raw_name = r.cstring("attribute name")
        if not raw_name:
            return attrs or None
        name = _utf8(raw_name, "attribute name")
        raw_type = r.cstring("attribute type")
        type_name = _utf8(raw_type, "attribute type")
        (length,) = struct.unpack("<i", r.take(4, "header"))
        if length < 0 or length > _MAX_ATTRIBUTE_BYTES:
            raise LayoutError("corrupt", f"corrupt header: attribute {show(name)} claims {length} bytes")
        if r.pos + length > r.size:
            raise LayoutError("truncated", "it ends inside the header")
        value = r.take(length, "header")
        if type_name in ("string", "stringvector"):
            _check_text(name, type_name, value)
        attrs[name] = (type_name, value)


def _check_text(name: str, type_name: str, value: bytes) -> None:
    """The bindings fail on text that is not UTF-8; name the attribute instead."""
    texts = [value]
    if type_name == "stringvector":
        texts, pos = [], 0
        while pos + 4 <= len(value):
            (n,) = struct.unpack("<i", value[pos : pos + 4])
            if n < 0 or pos + 4 + n > len(value):
                raise LayoutError("corrupt", f"corrupt header: string list {show(name)} is malformed")
            texts.append(value[pos + 4 : pos + 4 + n])
            pos += 4 + n
    for text in texts:
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            raise LayoutError(
                "corrupt", f"attribute {show(name)} holds text that is not UTF-8, which the OpenEXR bindings cannot read"
            ) from None


def _attr(attrs: dict[str, tuple[str, bytes]], name: str, type_name: str, required: bool = True) -> bytes | None:
    if name not in attrs:
        if required:
            raise LayoutError("corrupt", f"corrupt header: required attribute {name!r} is missing")
        return None
    got_type, data = attrs[name]
    if got_type != type_name:
        raise LayoutError("corrupt", f"corrupt header: attribute {show(name)} has type {show(got_type)}, expected {type_name!r}")
    return data


def _box(data: bytes, name: str) -> tuple[int, int, int, int]:
    if len(data) != 16:
        raise LayoutError("corrupt", f"corrupt header: {name} has {len(data)} bytes, expected 16")
    x0, y0, x1, y1 = struct.unpack("<4i", data)
    if x1 < x0 - 1 or y1 < y0 - 1:
        raise LayoutError("corrupt", f"corrupt header: {name} {(x0, y0, x1, y1)} is inverted")
    return x0, y0, x1, y1


def _channels(data: bytes) -> tuple[RawChannel, ...]:
    out: list[RawChannel] = []
    pos = 0
    while True:
        end = data.find(b"\0", pos)
        if end < 0:
            raise LayoutError("corrupt", "corrupt header: unterminated channel list")
        if end == pos:
            break
        name = _utf8(data[pos:end], "channel name")
        pos = end + 1
        if pos + 16 > len(data):
            raise LayoutError("corrupt", "corrupt header: short channel list")
        ptype, linear, xs, ys = struct.unpack("<iB3xii", data[pos : pos + 16])
        pos += 16
        if ptype not in PIXEL_TYPE_NAMES:
            raise LayoutError("corrupt", f"corrupt header: channel {show(name)} has unknown pixel type {ptype}")
        if xs < 1 or ys < 1:
            raise LayoutError("corrupt", f"corrupt header: channel {show(name)} has sampling {xs}x{ys}")
        out.append(RawChannel(name, PIXEL_TYPE_NAMES[ptype], bool(linear), xs, ys))
    return tuple(out)


def _make_part(attrs: dict[str, tuple[str, bytes]], flags: int, multipart: bool) -> RawPart:
    channels = _channels(_attr(attrs, "channels", "chlist") or b"")
    comp = _attr(attrs, "compression", "compression") or b"\0"
    data_window = _box(_attr(attrs, "dataWindow", "box2i") or b"", "dataWindow")
    display_window = _box(_attr(attrs, "displayWindow", "box2i") or b"", "displayWindow")
    line_order_raw = _attr(attrs, "lineOrder", "lineOrder") or b"\0"
    type_raw = _attr(attrs, "type", "string", required=multipart or bool(flags & FLAG_NON_IMAGE))
    if type_raw is not None:
        storage = type_raw.decode("ascii", errors="replace")
        if storage not in ("scanlineimage", "tiledimage", "deepscanline", "deeptile"):
            raise LayoutError("corrupt", f"corrupt header: unknown part type {show(storage)}")
    else:
        storage = "tiledimage" if flags & FLAG_TILED else "scanlineimage"
    name_raw = _attr(attrs, "name", "string", required=multipart)
    tiles = None
    if storage in ("tiledimage", "deeptile"):
        tiles_raw = _attr(attrs, "tiles", "tiledesc") or b""
        if len(tiles_raw) != 9:
            raise LayoutError("corrupt", "corrupt header: bad tile description")
        tx, ty, mode = struct.unpack("<IIB", tiles_raw)
        if tx < 1 or ty < 1:
            raise LayoutError("corrupt", f"corrupt header: tile size {tx}x{ty}")
        tiles = (tx, ty, mode & 0x0F, mode >> 4)
    count_raw = _attr(attrs, "chunkCount", "int", required=multipart)
    chunk_count = struct.unpack("<i", count_raw)[0] if count_raw and len(count_raw) == 4 else None
    return RawPart(
        name=name_raw.decode("utf-8", errors="replace") if name_raw is not None else None,
        storage=storage,
        channels=channels,
        data_window=data_window,
        display_window=display_window,
        compression=comp[0] if comp else 0,
        line_order=line_order_raw[0] if line_order_raw else 0,
        tiles=tiles,
        chunk_count=chunk_count,
    )


def _expected_chunks(part: RawPart) -> int | None:
    """Chunk count from the header alone, where the spec fixes it; else None."""
    x0, y0, x1, y1 = part.data_window
    w, h = x1 - x0 + 1, y1 - y0 + 1
    if w <= 0 or h <= 0:
        return 0
    if part.tiles is None:
        lines = _LINES_PER_CHUNK.get(part.compression)
        return math.ceil(h / lines) if lines else None
    tx, ty, mode, _ = part.tiles
    if mode == 0:  # one level
        return math.ceil(w / tx) * math.ceil(h / ty)
    return None  # mip/rip levels: sized from the table itself


def _check_chunk_tables(r: _Reader, layout: RawLayout, *, every_chunk: bool = False) -> None:
    """Every chunk offset must point inside the file and the last chunk must fit in it.

    With ``every_chunk``, every chunk's leader is read instead of only the last one's
    (see :func:`_check_every_chunk`), so a table of garbage is called corrupt, not truncated.
    """
    table_start = r.pos
    counts: list[int] = []
    if layout.multipart:
        for part in layout.parts:
            if part.chunk_count is None or part.chunk_count < 0:
                raise LayoutError("corrupt", "corrupt header: a part has no valid chunkCount")
            counts.append(part.chunk_count)
    else:
        expected = _expected_chunks(layout.parts[0])
        counts.append(expected if expected is not None else _single_part_chunk_count(r, table_start))
    table_bytes = 8 * sum(counts)
    table_end = table_start + table_bytes
    if table_end > r.size:
        raise LayoutError("truncated", "it ends inside its chunk offset table")
    r.fh.seek(table_start)
    raw = r.take(table_bytes, "chunk offset table")
    offsets = struct.unpack(f"<{sum(counts)}Q", raw)
    if not offsets:
        return
    bad = [o for o in offsets if o < table_end or o >= r.size]
    if bad:
        if any(o == 0 for o in bad):
            raise LayoutError("truncated", "its chunk offset table was never filled in; the writer did not finish")
        raise LayoutError("truncated", "its chunks point past its end")
    if every_chunk:
        _check_every_chunk(r, layout, counts, offsets, table_end)
        return
    # Find which part the last chunk belongs to, to know its leader layout.
    last = max(range(len(offsets)), key=offsets.__getitem__)
    index = last
    part_index = 0
    for part_index, count in enumerate(counts):
        if index < count:
            break
        index -= count
    part = layout.parts[part_index]
    r.fh.seek(offsets[last])
    leader = 4 if layout.multipart else 0
    leader += 16 if part.tiles is not None else 4
    head = r.take(leader + 4, "last chunk")
    if layout.multipart and struct.unpack("<i", head[:4])[0] != part_index:
        raise LayoutError("corrupt", "a chunk names the wrong part (corrupt chunk table)")
    (packed,) = struct.unpack("<i", head[-4:])
    if packed < 0 or offsets[last] + leader + 4 + packed > r.size:
        raise LayoutError("truncated", "its last chunk runs past its end")


def _tile_counts(part: RawPart) -> list[tuple[int, int, int, int]]:
    """(level x, level y, tiles across, tiles down) of every level, in chunk-table order.

    Follows the OpenEXR file-format spec: one level, mip-map levels (lx == ly)
    or rip-map levels (every lx for each ly), each level rounded down or up.
    """
    assert part.tiles is not None
    tx, ty, mode, rounding = part.tiles
    x0, y0, x1, y1 = part.data_window
    w, h = x1 - x0 + 1, y1 - y0 + 1

    def levels(size: int) -> int:
        n, value = 1, size
        while value > 1:
            value = (value + 1) // 2 if rounding == 1 else value // 2
            n += 1
        return n

    def level_size(size: int, level: int) -> int:
        div = 1 << level
        return max(1, -(-size // div) if rounding == 1 else size // div)

    if mode == 0:
        pairs = [(0, 0)]
    elif mode == 1:
        pairs = [(n, n) for n in range(levels(max(w, h)))]
    elif mode == 2:
        pairs = [(lx, ly) for ly in range(levels(h)) for lx in range(levels(w))]
    else:
        raise LayoutError("corrupt", f"corrupt header: unknown tile level mode {mode}")
    return [(lx, ly, -(-level_size(w, lx) // tx), -(-level_size(h, ly) // ty)) for lx, ly in pairs]


def _expected_leaders(part: RawPart, count: int) -> list[tuple[int, ...]] | None:
    """What each table entry's chunk leader must say (scanline y, or tile dx, dy, lx, ly); None if unknown."""
    x0, y0, x1, y1 = part.data_window
    if part.tiles is None:
        lines = _LINES_PER_CHUNK.get(part.compression)
        if lines is None:
            return None
        return [(y0 + i * lines,) for i in range(count)]
    out: list[tuple[int, ...]] = [
        (dx, dy, lx, ly) for lx, ly, nx, ny in _tile_counts(part) for dy in range(ny) for dx in range(nx)
    ]
    return out if len(out) == count else None


def _check_every_chunk(
    r: _Reader, layout: RawLayout, counts: list[int], offsets: tuple[int, ...], table_end: int
) -> None:
    """Read every chunk leader: it must name its own part and position, and chunks must not overlap.

    A chunk may hold 0 bytes of data (a line where every channel is subsampled away), never fewer.
    """
    spans: list[tuple[int, int, int]] = []  # start, end, table index
    index = 0
    for part_index, (part, count) in enumerate(zip(layout.parts, counts, strict=True)):
        expected = _expected_leaders(part, count)
        x0, y0, x1, y1 = part.data_window
        leader = (4 if layout.multipart else 0) + (16 if part.tiles is not None else 4)
        seen: set[tuple[int, ...]] = set()
        for i in range(count):
            offset = offsets[index + i]
            r.fh.seek(offset)
            head = r.fh.read(leader + 4)
            if len(head) != leader + 4:
                raise LayoutError("truncated", f"chunk {index + i} of its offset table points past its end")
            fields = struct.unpack(f"<{len(head) // 4}i", head)
            if layout.multipart:
                if fields[0] != part_index:
                    raise LayoutError("corrupt", f"chunk {index + i} names part {fields[0]}, not {part_index} "
                                                 "(corrupt chunk offset table)")
                fields = fields[1:]
            where, packed = tuple(fields[:-1]), fields[-1]
            if expected is not None:
                if where != expected[i]:
                    raise LayoutError("corrupt", f"chunk {index + i} holds {_where(where)}, not "
                                                 f"{_where(expected[i])} (corrupt chunk offset table)")
            elif part.tiles is None:
                if not y0 <= where[0] <= y1 or where in seen:
                    raise LayoutError("corrupt", f"chunk {index + i} holds {_where(where)} (corrupt chunk offset table)")
                seen.add(where)
            if packed < 0:
                raise LayoutError("corrupt", f"chunk {index + i} claims {packed} bytes (corrupt chunk)")
            if offset + leader + 4 + packed > r.size:
                last = offset == max(offsets)
                raise LayoutError("truncated", "its last chunk runs past its end" if last else
                                  f"chunk {index + i} runs past its end")
            spans.append((offset, offset + leader + 4 + packed, index + i))
        index += count
    spans.sort()
    previous_end = table_end
    for start, end, i in spans:
        if start < previous_end:
            raise LayoutError("corrupt", f"chunk {i} overlaps another chunk or the header (corrupt chunk offset table)")
        previous_end = end


def _where(fields: tuple[int, ...]) -> str:
    if len(fields) == 1:
        return f"scanline {fields[0]}"
    return f"tile ({fields[0]}, {fields[1]}) of level ({fields[2]}, {fields[3]})"


def _single_part_chunk_count(r: _Reader, table_start: int) -> int:
    """Size a single-part table that the spec does not fix: it ends where the first chunk starts."""
    r.fh.seek(table_start)
    first_chunk = r.size
    count = 0
    while table_start + 8 * count < first_chunk:
        data = r.fh.read(8)
        if len(data) != 8:
            raise LayoutError("truncated", "it ends inside its chunk offset table")
        (offset,) = struct.unpack("<Q", data)
        count += 1
        if offset < table_start + 8 * count or offset >= r.size:
            raise LayoutError("truncated", "its chunk offset table is incomplete or points past its end")
        first_chunk = min(first_chunk, offset)
    return count
