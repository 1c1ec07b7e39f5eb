"""EXR round trips are bit-exact and keep everything; broken files give one clear line."""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import OpenEXR
import pytest
from exr_factory import (
    layered_channels,
    layered_image,
    multipart_image,
    random_channel,
    truncate_copy,
    write_deep_scanline,
    write_deep_tiled,
)
from framefill.errors import ExrError, InputError
from framefill.frames import (
    COMPRESSIONS,
    ExrImage,
    ExrPart,
    image_from_arrays,
    part_from_arrays,
    pixel_sha256,
    probe_exr,
    read_exr,
    with_attributes,
    write_exr,
)
from framefill.runtime.memory import MEMORY_BUDGET_ENV, parse_byte_size
from framefill.runtime.memory import frame_budget as memory_budget

# Lossless codecs (pxr24, b44, b44a, dwaa and dwab are lossy); newer ones where the bindings have them.
LOSSLESS = tuple(c for c in ("none", "rle", "zips", "zip", "piz", "zstd", "htj2k256", "htj2k32", "lj2k")
                 if c in COMPRESSIONS)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240531)


def assert_same_pixels(a: ExrImage, b: ExrImage) -> None:
    """Every part, channel name, dtype, window and bit of every pixel is equal."""
    assert [p.name for p in a.parts] == [p.name for p in b.parts]
    for pa, pb in zip(a.parts, b.parts, strict=True):
        assert sorted(pa.channels) == sorted(pb.channels)
        assert pa.data_window == pb.data_window
        assert pa.display_window == pb.display_window
        for name, arr in pa.channels.items():
            got = pb.channels[name]
            assert got.dtype == arr.dtype, name
            assert got.shape == arr.shape, name
            # NaN payloads and -0.0 included: compare the bits, not the values
            assert np.array_equal(got.view(f"u{arr.itemsize}"), arr.view(f"u{arr.itemsize}")), name


# ---------------------------------------------------------------------------
# Bit-exact round trips
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [pytest.param(c, id=c) for c in LOSSLESS])
@pytest.mark.parametrize("pixel_type", [pytest.param(t, id=t) for t in ("half", "float", "uint")])
def test_every_pixel_type_round_trips_bit_exact(tmp_path, rng, pixel_type, compression):
    channels = {c: random_channel(rng, (19, 23), pixel_type) for c in "RGBA"}
    image = image_from_arrays(channels, compression=compression)
    path = tmp_path / "t.exr"
    write_exr(path, image)
    back = read_exr(path)
    assert_same_pixels(image, back)
    part = back.parts[0]
    assert part.pixel_types() == {c: pixel_type for c in "RGBA"}
    assert part.compression == compression
    assert back.path == path
    for name in channels:
        assert np.array_equal(part.channels[name], channels[name], equal_nan=pixel_type != "uint")


@pytest.mark.parametrize(
    "tile_size",
    [pytest.param(None, id="scanline"), pytest.param((8, 8), id="tiled-8"), pytest.param((16, 5), id="tiled-16x5")],
)
def test_multi_layer_round_trips_bit_exact(tmp_path, rng, tile_size):
    image = layered_image(rng, shape=(37, 29), origin=(-7, -3), display_window=(0, 0, 19, 24),
                          compression="piz", tile_size=tile_size)
    path = tmp_path / "layers.exr"
    write_exr(path, image)
    back = read_exr(path)
    assert_same_pixels(image, back)
    part = back.parts[0]
    assert part.tiled is (tile_size is not None)
    assert part.tile_size == tile_size
    assert part.layers() == {
        "": ["A", "B", "G", "R"],
        "CryptoObject00": [f"CryptoObject00.{c}" for c in "abgr"],
        "CryptoObject01": [f"CryptoObject01.{c}" for c in "abgr"],
        "N": ["N.X", "N.Y", "N.Z"],
        "depth": ["depth.Z"],
        "diffuse": ["diffuse.B", "diffuse.G", "diffuse.R"],
        "objectId": ["objectId.u"],
    }
    types = part.pixel_types()
    assert types["R"] == "half" and types["depth.Z"] == "float" and types["objectId.u"] == "uint"
    assert types["CryptoObject00.r"] == "float"
    for name, arr in image.parts[0].channels.items():
        assert np.array_equal(part.channels[name], arr, equal_nan=arr.dtype.kind == "f"), name


@pytest.mark.parametrize(
    ("origin", "shape", "display"),
    [
        pytest.param((0, 0), (1, 1), None, id="one-pixel"),
        pytest.param((-5, -9), (7, 3), None, id="negative-origin"),
        pytest.param((-20, -10), (60, 80), (0, 0, 39, 29), id="overscan"),
        pytest.param((10, 12), (5, 6), (0, 0, 99, 99), id="crop-inside"),
        pytest.param((200, -50), (4, 4), (0, 0, 63, 63), id="outside-display"),
        pytest.param((3, 1), (33, 17), (-4, -2, 40, 30), id="negative-display"),
    ],
)
def test_odd_windows_round_trip(tmp_path, rng, origin, shape, display):
    channels = {"R": random_channel(rng, shape, "half"), "depth.Z": random_channel(rng, shape, "float")}
    image = image_from_arrays(channels, origin=origin, display_window=display)
    path = tmp_path / "w.exr"
    write_exr(path, image)
    back = read_exr(path)
    assert_same_pixels(image, back)
    x0, y0 = origin
    assert back.parts[0].data_window == (x0, y0, x0 + shape[1] - 1, y0 + shape[0] - 1)
    assert back.parts[0].display_window == (display or back.parts[0].data_window)
    assert (back.parts[0].width, back.parts[0].height) == (shape[1], shape[0])


def test_multipart_keeps_names_order_windows_and_storage(tmp_path, rng):
    image = multipart_image(rng)
    path = tmp_path / "multi.exr"
    write_exr(path, image)
    back = read_exr(path)
    assert_same_pixels(image, back)
    assert [p.name for p in back.parts] == ["beauty", "depth", "ids"]
    assert [p.compression for p in back.parts] == ["piz", "zips", "none"]
    assert [p.tiled for p in back.parts] == [False, True, False]
    assert back.parts[1].tile_size == (4, 4)
    assert back.parts[1].data_window == (-4, 3, 2, 11)
    assert back.parts[1].display_window == (0, 0, 19, 15)
    assert back.parts[0].header["note"] == "first part"
    assert back.part("ids") is back.parts[2]
    assert back.part(-1) is back.parts[2]
    assert set(back.all_channels()) == {"beauty/A", "beauty/B", "beauty/G", "beauty/R", "depth/depth.Z", "ids/id"}
    with pytest.raises(ExrError, match="no part 'nope'"):
        back.part("nope")
    # and once more through our own writer: still identical
    write_exr(tmp_path / "multi2.exr", back)
    assert pixel_sha256(read_exr(tmp_path / "multi2.exr")) == pixel_sha256(image)


def test_named_single_part_keeps_its_name(tmp_path, rng):
    image = image_from_arrays({"Y": random_channel(rng, (4, 4), "half")}, name="left")
    write_exr(tmp_path / "n.exr", image)
    back = read_exr(tmp_path / "n.exr")
    assert len(back.parts) == 1 and back.parts[0].name == "left"


def test_line_order_and_linear_flag_kept(tmp_path, rng):
    part = part_from_arrays({"R": random_channel(rng, (40, 9), "half"), "G": random_channel(rng, (40, 9), "half")},
                            compression="zip", attributes={"lineOrder": OpenEXR.DECREASING_Y})
    part.linear = {"R"}
    write_exr(tmp_path / "lo.exr", ExrImage([part]))
    back = read_exr(tmp_path / "lo.exr")
    assert back.parts[0].header["lineOrder"] == OpenEXR.DECREASING_Y
    assert back.parts[0].linear == {"R"}
    assert_same_pixels(ExrImage([part]), back)


def test_mipmapped_header_is_written_single_level(tmp_path, rng):
    part = part_from_arrays({"R": random_channel(rng, (16, 16), "float")}, tile_size=(4, 4))
    part.header["tiles"].mode = OpenEXR.MIPMAP_LEVELS
    write_exr(tmp_path / "mip.exr", ExrImage([part]))
    back = read_exr(tmp_path / "mip.exr")
    assert back.parts[0].header["tiles"].mode == OpenEXR.ONE_LEVEL
    assert back.parts[0].tile_size == (4, 4)
    assert np.array_equal(back.parts[0].channels["R"], part.channels["R"], equal_nan=True)


def test_write_does_not_mutate_the_image(tmp_path, rng):
    # The bindings replace the arrays of the dicts they are given by Channel objects.
    image = layered_image(rng, shape=(8, 8))
    before = {n: a.copy() for n, a in image.parts[0].channels.items()}
    header_keys = set(image.parts[0].header)
    write_exr(tmp_path / "a.exr", image)
    write_exr(tmp_path / "b.exr", image)
    for name, arr in image.parts[0].channels.items():
        assert isinstance(arr, np.ndarray)
        assert np.array_equal(arr, before[name], equal_nan=arr.dtype.kind == "f")
    assert set(image.parts[0].header) == header_keys
    assert pixel_sha256(read_exr(tmp_path / "a.exr")) == pixel_sha256(read_exr(tmp_path / "b.exr"))


def test_read_arrays_outlive_the_file_object(tmp_path, rng):
    image = layered_image(rng, shape=(32, 32))
    write_exr(tmp_path / "a.exr", image)
    back = read_exr(tmp_path / "a.exr")
    clutter = [np.full((256, 256), i, np.float32) for i in range(20)]  # reuse freed memory, if any
    assert_same_pixels(image, back)
    assert len(clutter) == 20


# ---------------------------------------------------------------------------
# Header attributes and compression
# ---------------------------------------------------------------------------


def _custom_attributes() -> dict[str, Any]:
    tc = OpenEXR.TimeCode()
    tc.hours, tc.minutes, tc.seconds, tc.frame = 1, 2, 3, 4
    return {
        "studio/string": "shot_010 beauty v003",
        "studio/unicode": "plan \u00e9t\u00e9 \u2013 ok",
        "studio/int": -123456,
        "studio/float": 0.5,
        "studio/double": np.array([0.1], dtype=np.float64),
        "studio/v2i": np.array([3, -4], dtype=np.int32),
        "studio/v2f": np.array([1.5, -2.25], dtype=np.float32),
        "studio/v3f": np.array([1.0, 2.0, 3.5], dtype=np.float32),
        "studio/v3i": np.array([7, 8, 9], dtype=np.int32),
        "studio/v3d": np.array([0.1, 0.2, 0.3], dtype=np.float64),
        "worldToCamera": np.arange(16, dtype=np.float32).reshape(4, 4) / 7,
        "studio/m33f": np.arange(9, dtype=np.float32).reshape(3, 3) - 4.5,
        "studio/m44d": np.arange(16, dtype=np.float64).reshape(4, 4) / 3,
        "studio/box2i": (np.array([-1, -2], np.int32), np.array([30, 40], np.int32)),
        "studio/box2f": (np.array([0.5, 0.25], np.float32), np.array([1.5, 2.0], np.float32)),
        "studio/strings": ["a", "bb", ""],
        "studio/floats": [1.0, -2.5],
        "framesPerSecond": Fraction(24000, 1001),
        "chromaticities": (0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329),
        "timeCode": tc,
        "studio/blob": OpenEXR.OpaqueAttribute(b"\x00\x01binary\xff", "studioBlob"),
    }


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, OpenEXR.OpaqueAttribute):
        return (a.typeName, a.data) == (b.typeName, b.data)
    if isinstance(a, float):
        return type(b) is float and np.float32(a) == np.float32(b)
    if isinstance(a, (OpenEXR.TimeCode, OpenEXR.TileDescription, OpenEXR.KeyCode)):
        return repr(a) == repr(b)
    return type(a) is type(b) and a == b


def test_header_attributes_survive_a_round_trip(tmp_path, rng):
    attrs = _custom_attributes()
    image = image_from_arrays({"R": random_channel(rng, (6, 7), "half")}, compression="dwab", attributes=attrs)
    write_exr(tmp_path / "a.exr", image)
    back = read_exr(tmp_path / "a.exr")
    header = back.parts[0].header
    for key, value in attrs.items():
        assert key in header, key
        assert _same_value(value, header[key]), (key, value, header[key])
    assert back.parts[0].compression == "dwab"
    # a second generation (read -> write -> read) keeps the very same header
    write_exr(tmp_path / "b.exr", back)
    again = read_exr(tmp_path / "b.exr").parts[0].header
    assert set(again) == set(header)
    for key, value in header.items():
        assert _same_value(value, again[key]), key


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in sorted(COMPRESSIONS)])
def test_every_compression_is_kept_and_named(tmp_path, rng, name):
    image = image_from_arrays({"R": random_channel(rng, (33, 17), "half")}, compression=name)
    write_exr(tmp_path / "c.exr", image)
    assert probe_exr(tmp_path / "c.exr").parts[0].compression == name
    back = read_exr(tmp_path / "c.exr")
    assert back.parts[0].compression == name
    write_exr(tmp_path / "d.exr", back)  # kept when writing again
    assert probe_exr(tmp_path / "d.exr").parts[0].compression == name


def test_compression_override(tmp_path, rng):
    image = multipart_image(rng)
    write_exr(tmp_path / "a.exr", image, compression="zip")
    back = read_exr(tmp_path / "a.exr")
    assert [p.compression for p in back.parts] == ["zip", "zip", "zip"]
    assert_same_pixels(image, back)
    assert [p.compression for p in image.parts] == ["piz", "zips", "none"]  # input untouched
    write_exr(tmp_path / "b.exr", back, compression="NO_COMPRESSION")
    assert probe_exr(tmp_path / "b.exr").parts[0].compression == "none"
    with pytest.raises(ExrError) as info:
        write_exr(tmp_path / "c.exr", back, compression="lzma")
    assert "lzma" in info.value.msg and "piz" in info.value.msg
    assert not (tmp_path / "c.exr").exists()


def test_with_attributes_adds_framefill_keys(tmp_path, rng):
    image = multipart_image(rng)
    tagged = with_attributes(image, {"framefill/source": "1001 1003 t=0.5", "framefill/model": "rife-4 1195a2f0",
                                     "framefill/version": "0.1.0"})
    assert "framefill/source" not in image.parts[0].header  # the input is not changed
    write_exr(tmp_path / "f.exr", tagged)
    for part in read_exr(tmp_path / "f.exr").parts:
        assert part.header["framefill/source"] == "1001 1003 t=0.5"
        assert part.header["framefill/model"] == "rife-4 1195a2f0"
        assert part.header["framefill/version"] == "0.1.0"
    assert pixel_sha256(tagged) == pixel_sha256(image)


# ---------------------------------------------------------------------------
# pixel_sha256 and probe
# ---------------------------------------------------------------------------


def test_pixel_sha256_ignores_compression_and_sees_every_bit(tmp_path, rng):
    image = layered_image(rng, shape=(12, 10))
    hashes = set()
    for comp in LOSSLESS:
        write_exr(tmp_path / f"{comp}.exr", image, compression=comp)
        hashes.add(pixel_sha256(read_exr(tmp_path / f"{comp}.exr")))
    assert hashes == {pixel_sha256(image)}
    # one flipped bit in one channel changes it
    flipped = with_attributes(image, {})
    arr = flipped.parts[0].channels["depth.Z"].copy()
    arr.view(np.uint32)[5, 5] ^= 1
    flipped.parts[0].channels["depth.Z"] = arr
    assert pixel_sha256(flipped) != pixel_sha256(image)
    # the same values in another dtype, or at another origin, hash differently
    r = image.parts[0].channels["R"]
    as_half = image_from_arrays({"R": r})
    as_float = image_from_arrays({"R": r.astype(np.float32)})
    moved = image_from_arrays({"R": r}, origin=(1, 0))
    assert len({pixel_sha256(as_half), pixel_sha256(as_float), pixel_sha256(moved)}) == 3
    # and it is a plain sha256 hex digest
    assert len(pixel_sha256(image)) == 64 and int(pixel_sha256(image), 16) >= 0


def test_probe_reads_types_without_pixels(tmp_path, rng):
    image = multipart_image(rng)
    write_exr(tmp_path / "m.exr", with_attributes(image, {"studio/take": 3}))
    probe = probe_exr(tmp_path / "m.exr")
    assert [p.name for p in probe.parts] == ["beauty", "depth", "ids"]
    assert all(p.channels == {} for p in probe.parts)
    assert probe.parts[0].pixel_types() == {c: "half" for c in "ABGR"}
    assert probe.parts[1].pixel_types() == {"depth.Z": "float"}
    assert probe.parts[2].pixel_types() == {"id": "uint"}
    assert probe.parts[1].data_window == (-4, 3, 2, 11)
    assert probe.parts[1].display_window == (0, 0, 19, 15)
    assert [p.compression for p in probe.parts] == ["piz", "zips", "none"]
    assert [p.tiled for p in probe.parts] == [False, True, False]
    assert probe.parts[0].layers() == {"": ["A", "B", "G", "R"]}
    assert probe.parts[0].header["studio/take"] == 3
    assert "channels" not in probe.parts[0].header


# ---------------------------------------------------------------------------
# Broken inputs: one line, names the file, no library noise
# ---------------------------------------------------------------------------


def _expect_exr_error(path: Path, capfd, *, match: str, probe: bool = True) -> str:
    calls = [read_exr, probe_exr] if probe else [read_exr]
    msg = ""
    for call in calls:
        with pytest.raises(ExrError) as info:
            call(path)
        msg = info.value.msg
        assert str(path) in msg
        assert "\n" not in msg and "Traceback" not in msg
        assert match in msg, msg
        assert info.value.exit_code == 2
    out, err = capfd.readouterr()
    assert out == "" and err == "", f"library noise: {out!r} {err!r}"
    return msg


@pytest.fixture
def good_file(tmp_path, rng) -> Path:
    path = tmp_path / "good.exr"
    write_exr(path, layered_image(rng, shape=(48, 40), compression="zip"))
    return path


def test_missing_file(tmp_path, capfd):
    _expect_exr_error(tmp_path / "nope.1001.exr", capfd, match="file not found")


def test_folder_instead_of_file(tmp_path, capfd):
    (tmp_path / "dir.exr").mkdir()
    _expect_exr_error(tmp_path / "dir.exr", capfd, match="folder")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        pytest.param(b"", "the file is empty (0 bytes)", id="empty"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(100), "it is a PNG file, not OpenEXR, despite its name; rename it to fake.png",
                     id="png"),
        pytest.param(b"\xff\xd8\xff\xe0" + bytes(100), "it is a JPEG file, not OpenEXR, despite its name; rename it to fake.jpg",
                     id="jpeg"),
        pytest.param(b"hello, not an image at all\n" * 10, "not an OpenEXR file", id="text"),
    ],
)
def test_not_an_exr(tmp_path, capfd, content, match):
    path = tmp_path / "fake.exr"
    path.write_bytes(content)
    _expect_exr_error(path, capfd, match=match)


@pytest.mark.parametrize(
    ("offset", "value"),
    [
        pytest.param(16, b"chlisX", id="channel-list-type"),
        pytest.param(8, b"\xff" * 30, id="garbage-attribute"),
        pytest.param(4, b"\x07\x00\x00\x00", id="version"),
    ],
)
def test_corrupt_header(tmp_path, capfd, good_file, offset, value):
    data = bytearray(good_file.read_bytes())
    data[offset : offset + len(value)] = value
    path = tmp_path / "corrupt.exr"
    path.write_bytes(bytes(data))
    msg = _expect_exr_error(path, capfd, match="cannot read")
    assert "corrupt" in msg or "version" in msg


def _chunk_offsets(path: Path, count: int) -> list[int]:
    data = path.read_bytes()
    # "type" is the last attribute (names sort) and a null byte ends the header
    table = data.index(b"scanlineimage\x00") + len(b"scanlineimage\x00")
    return list(struct.unpack(f"<{count}Q", data[table : table + 8 * count]))


def test_corrupt_pixel_data(tmp_path, capfd):
    # GIVEN a structurally complete file whose compressed chunk payloads are garbage
    # (smooth pixels, so that zip really compresses them and has a stream to break)
    ramp = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (48, 1))
    good = tmp_path / "smooth.exr"
    write_exr(good, image_from_arrays({"R": ramp, "G": ramp.astype(np.float16)}, compression="zip"))
    data = bytearray(good.read_bytes())
    rng = np.random.default_rng(3)
    for offset in _chunk_offsets(good, 3):  # 48 lines of zip: 3 chunks of 16
        (packed,) = struct.unpack("<i", data[offset + 4 : offset + 8])
        assert packed < 16 * 40 * 6  # really compressed
        start = offset + 8 + 4  # keep the chunk leader and the first bytes of the stream
        data[start : offset + 8 + packed] = rng.integers(0, 256, packed - 4, dtype=np.uint8).tobytes()
    path = tmp_path / "bitrot.exr"
    path.write_bytes(bytes(data))
    probe_exr(path)  # the headers are fine
    # WHEN reading pixels THEN the library's complaint becomes one line, and nothing is printed
    msg = _expect_exr_error(path, capfd, match="corrupt", probe=False)
    assert "EXR_ERR" in msg, msg


@pytest.mark.parametrize(
    ("keep", "reason"),
    [
        pytest.param(-1, "its last chunk runs past its end", id="last-byte"),
        pytest.param(-500, "its last chunk runs past its end", id="inside-last-chunk"),
        pytest.param("half", "its chunks point past its end", id="half"),
        pytest.param("first-chunk", "its chunks point past its end", id="at-first-chunk"),
        pytest.param("table", "it ends inside its chunk offset table", id="inside-offset-table"),
        pytest.param(120, "it ends inside the header", id="inside-header"),
        pytest.param(6, "it ends inside the version field", id="inside-version"),
    ],
)
def test_truncated_file(tmp_path, capfd, good_file, keep, reason):
    offsets = _chunk_offsets(good_file, 3)
    if keep == "half":
        keep = good_file.stat().st_size // 2
    elif keep == "first-chunk":
        keep = min(offsets)
    elif keep == "table":
        keep = min(offsets) - 12
    path = truncate_copy(good_file, tmp_path / "cut.exr", keep)
    msg = _expect_exr_error(path, capfd, match="truncated or incomplete")
    assert reason in msg


@pytest.mark.parametrize("compression", [pytest.param(c, id=c) for c in ("zstd", "htj2k32") if c in COMPRESSIONS])
def test_truncated_file_with_newer_codecs(tmp_path, capfd, rng, compression):
    # Codecs newer than the spec's fixed chunk sizes: the table is sized from the file itself.
    good = tmp_path / "good.exr"
    image = layered_image(rng, shape=(40, 24), compression=compression)
    write_exr(good, image)
    assert_same_pixels(image, read_exr(good))
    size = good.stat().st_size
    for keep in (size - 1, size // 2, 900):
        path = truncate_copy(good, tmp_path / "cut.exr", keep)
        _expect_exr_error(path, capfd, match="truncated or incomplete")


def test_unfinished_writer_with_empty_offset_table(tmp_path, capfd, good_file):
    # OpenEXR writes the chunk offset table last; a writer that dies leaves zeros there.
    data = bytearray(good_file.read_bytes())
    table = min(_chunk_offsets(good_file, 3)) - 8 * 3
    data[table : table + 8 * 3] = bytes(24)
    path = tmp_path / "unfinished.exr"
    path.write_bytes(bytes(data))
    msg = _expect_exr_error(path, capfd, match="truncated or incomplete")
    assert "did not finish" in msg


@pytest.mark.parametrize(
    "writer", [pytest.param(write_deep_scanline, id="deepscanline"), pytest.param(write_deep_tiled, id="deeptile")]
)
def test_deep_files_are_refused(tmp_path, capfd, writer):
    path = writer(tmp_path / "deep.exr")
    assert OpenEXR.File(str(path)).parts[0].type() in (OpenEXR.deepscanline, OpenEXR.deeptile)  # really deep
    msg = _expect_exr_error(path, capfd, match="deep data is not supported")
    assert "flatten it in your renderer/compositor" in msg


def test_memory_budget(tmp_path, capfd, good_file, monkeypatch):
    # decoded bytes of layered_image: RGBA + diffuse half, depth + N + 8 crypto float, 1 uint
    need = 48 * 40 * (4 * 2 + 3 * 2 + 4 + 3 * 4 + 8 * 4 + 4)
    assert read_exr(good_file, memory_budget_bytes=need).parts  # exactly at the budget: fine
    with pytest.raises(ExrError) as info:
        read_exr(good_file, memory_budget_bytes=need - 1)
    msg = info.value.msg
    assert str(good_file) in msg and MEMORY_BUDGET_ENV in msg and "memory budget" in msg
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "1K")
    with pytest.raises(ExrError, match=MEMORY_BUDGET_ENV):
        read_exr(good_file, memory_budget_bytes=memory_budget())
    assert read_exr(good_file).parts  # no budget given: no cap (the pipelines always give one)
    probe_exr(good_file)  # probing decodes nothing, so no budget applies
    for bad in ("lots", "0", "-1G"):
        monkeypatch.setenv(MEMORY_BUDGET_ENV, bad)
        with pytest.raises(InputError, match=MEMORY_BUDGET_ENV):
            memory_budget()
    out, err = capfd.readouterr()
    assert out == "" and err == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("8G", 8 << 30, id="G"),
        pytest.param("512M", 512 << 20, id="M"),
        pytest.param("1.5g", 3 << 29, id="fraction"),
        pytest.param("64KiB", 64 << 10, id="KiB"),
        pytest.param("2TB", 2 << 40, id="TB"),
        pytest.param("4096", 4096, id="bytes"),
    ],
)
def test_parse_byte_size(text, expected):
    assert parse_byte_size(text) == expected


def test_default_budget_is_a_fraction_of_ram(monkeypatch):
    monkeypatch.delenv(MEMORY_BUDGET_ENV, raising=False)
    assert 256 << 20 <= memory_budget() <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "3G")
    assert memory_budget() == 3 << 30


# ---------------------------------------------------------------------------
# Writes that cannot be done fail cleanly and atomically
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        pytest.param(lambda: ExrImage([]), "no parts", id="no-parts"),
        pytest.param(lambda: ExrImage([ExrPart("a", {})]), "no channels", id="no-channels"),
        pytest.param(lambda: image_from_arrays({"R": np.zeros((4, 4), np.float64)}), "float64", id="float64"),
        pytest.param(lambda: image_from_arrays({"R": np.zeros((4, 4), np.int16)}), "int16", id="int16"),
        pytest.param(
            lambda: ExrImage([ExrPart(None, {"R": np.zeros((4, 4), np.float16)},
                                      {"dataWindow": (np.array([0, 0], np.int32), np.array([4, 3], np.int32))})]),
            "data window", id="shape-vs-window"),
        pytest.param(
            lambda: ExrImage([part_from_arrays({"R": np.zeros((2, 2), np.float16)}, name="x"),
                              part_from_arrays({"R": np.zeros((2, 2), np.float16)}, name="x")]),
            "unique part names", id="duplicate-part-names"),
        pytest.param(
            lambda: ExrImage([part_from_arrays({"R": np.zeros((2, 2), np.float16)}, name="x"),
                              part_from_arrays({"R": np.zeros((2, 2), np.float16)})]),
            "unique part names", id="unnamed-part"),
    ],
)
def test_unwritable_images(tmp_path, capfd, make, match):
    dest = tmp_path / "out.exr"
    dest.write_bytes(b"previous frame")
    with pytest.raises(ExrError) as info:
        write_exr(dest, make())
    assert match in info.value.msg and str(dest) in info.value.msg
    assert dest.read_bytes() == b"previous frame"
    assert os.listdir(tmp_path) == ["out.exr"]
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_write_creates_folders_and_leaves_no_temp(tmp_path, rng):
    dest = tmp_path / "a" / "b" / "shot.1001.exr"
    write_exr(dest, layered_image(rng, shape=(8, 8)))
    assert os.listdir(dest.parent) == ["shot.1001.exr"]


def test_layered_channels_factory_is_complete(rng):
    # guard the fixture itself: the layouts the round-trip tests rely on are there
    ch = layered_channels(rng, (3, 3))
    assert {"R", "G", "B", "A", "diffuse.R", "depth.Z", "N.X", "CryptoObject00.r", "objectId.u"} <= set(ch)
    assert {a.dtype for a in ch.values()} == {np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.uint32)}


@pytest.mark.parametrize("compression", ["DWAB", "ZIP", "PIZ"])
def test_openexrs_codec_threads_never_change_a_files_bytes(tmp_path, compression, monkeypatch):
    import torch
    from framefill.runtime.device import configure_determinism, set_exr_threads

    torch_threads = torch.get_num_threads()
    gen = np.random.default_rng(3)
    channels = {n: (gen.random((300, 200)) * 4).astype(np.float16) for n in ("R", "G", "B", "A")}
    channels["depth.Z"] = gen.random((300, 200)).astype(np.float32)
    header = {"compression": getattr(OpenEXR, f"{compression}_COMPRESSION")}
    image = ExrImage(parts=[ExrPart(name=None, channels=channels, header=header)])
    written, decoded = {}, {}
    try:
        for threads in (1, 4):
            set_exr_threads(threads)
            path = tmp_path / f"t{threads}.exr"
            write_exr(path, image)
            written[threads] = path.read_bytes()
            decoded[threads] = read_exr(tmp_path / "t1.exr").parts[0].channels
        assert written[1] == written[4]
        assert all(np.array_equal(decoded[1][n], decoded[4][n]) for n in channels)
        if compression != "DWAB":  # lossless
            assert all(np.array_equal(decoded[4][n], a) for n, a in channels.items())
        # A job's thread count is OpenEXR's too.
        monkeypatch.setenv("FRAMEFILL_THREADS", "3")
        configure_determinism()
        assert OpenEXR.global_thread_count() == 3
    finally:  # this process's other tests run torch and OpenEXR on one thread
        torch.set_num_threads(torch_threads)
        set_exr_threads(1)
