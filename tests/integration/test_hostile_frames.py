"""Hostile frame files and output folders: every failure is one line naming the file and the fix.

Covers :func:`framefill.frames.check_exr` (damage found without decoding pixels),
:func:`framefill.frames.count_nonfinite`, files of the wrong format or kind
(folder, FIFO, link loop), odd path names, and writes that fail (read-only folder,
permission denied, full disk, a folder in the way).
"""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from exr_factory import layered_image, multipart_image, random_channel, truncate_copy
from ffpaths import SAMPLE_SHOT
from framefill.errors import ExrError, InputError
from framefill.frames import (
    COMPRESSIONS,
    _exrlayout,
    check_exr,
    count_nonfinite,
    image_from_arrays,
    probe_exr,
    read_exr,
    read_image,
    write_exr,
    write_image,
)
from framefill.frames.exr import ExrImage, ExrPart, part_from_arrays


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def _one_line(err: pytest.ExceptionInfo[BaseException], path: Path) -> str:
    msg = err.value.msg  # type: ignore[attr-defined]
    assert str(path) in msg, msg
    assert "\n" not in msg and "Traceback" not in msg and "ff-tmp" not in msg, msg
    assert err.value.exit_code == 2  # type: ignore[attr-defined]
    return msg


def _expect_check_error(path: Path, match: str) -> str:
    with pytest.raises(ExrError) as err:
        check_exr(path)
    msg = _one_line(err, path)
    assert match in msg, msg
    return msg


def _table(path: Path) -> tuple[int, int]:
    """(byte offset of the chunk offset table, number of entries) of a single-part file."""
    layout = _exrlayout.read_layout(path)
    start = layout.table_start
    first_chunk = min(struct.unpack("<Q", path.read_bytes()[start : start + 8]))
    return start, (first_chunk - start) // 8


def _patch_offsets(src: Path, dest: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = bytearray(src.read_bytes())
    start, count = _table(src)
    offsets = list(struct.unpack(f"<{count}Q", data[start : start + 8 * count]))
    data[start : start + 8 * count] = struct.pack(f"<{count}Q", *change(offsets, len(data)))
    dest.write_bytes(bytes(data))
    return dest


@pytest.fixture
def good_exr(tmp_path, rng) -> Path:
    path = tmp_path / "good.exr"
    # 64 lines of zip: 4 chunks of 16 lines
    write_exr(path, layered_image(rng, shape=(64, 40), compression="zip"))
    return path


# ---------------------------------------------------------------------------
# check_exr accepts every good file
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [pytest.param(c, id=c) for c in sorted(COMPRESSIONS)])
@pytest.mark.parametrize("tile_size", [pytest.param(None, id="scanline"), pytest.param((16, 8), id="tiled")])
def test_check_exr_accepts_good_files(tmp_path, rng, compression, tile_size):
    # GIVEN a file with an odd data window, in every compression, scanline and tiled
    path = tmp_path / "ok.exr"
    write_exr(path, layered_image(rng, shape=(37, 29), origin=(-3, 5), compression=compression, tile_size=tile_size))
    # THEN the structure check passes (and the library agrees the file is whole)
    check_exr(path)
    read_exr(path)


def test_check_exr_accepts_multipart_and_the_sample_shot(tmp_path, rng):
    path = tmp_path / "multi.exr"
    write_exr(path, multipart_image(rng))
    check_exr(path)
    for frame in sorted(SAMPLE_SHOT.glob("*.exr")):
        check_exr(frame)


def _write_mip_tiled(path: Path, *, width: int, height: int, tile: tuple[int, int], mode: int, rounding: int) -> dict:
    """An uncompressed, single-channel float, mip- or rip-mapped tiled EXR written byte by byte from the spec.

    The OpenEXR bindings cannot write levels above 0, so this is the only way to
    get such a file for the test. Returns level 0's pixels.
    """
    tx, ty = tile

    def levels(size: int) -> int:
        n = 1
        while size > 1:
            size = (size + 1) // 2 if rounding else size // 2
            n += 1
        return n

    def level_size(size: int, level: int) -> int:
        return max(1, -(-size // (1 << level)) if rounding else size >> level)

    if mode == 1:
        pairs = [(n, n) for n in range(levels(max(width, height)))]
    else:
        pairs = [(lx, ly) for ly in range(levels(height)) for lx in range(levels(width))]

    def attr(name: str, kind: str, value: bytes) -> bytes:
        return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value

    header = b"".join([
        attr("channels", "chlist", b"R\0" + struct.pack("<iB3xii", 2, 0, 1, 1) + b"\0"),
        attr("compression", "compression", b"\0"),
        attr("dataWindow", "box2i", struct.pack("<4i", 0, 0, width - 1, height - 1)),
        attr("displayWindow", "box2i", struct.pack("<4i", 0, 0, width - 1, height - 1)),
        attr("lineOrder", "lineOrder", b"\0"),
        attr("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
        attr("screenWindowCenter", "v2f", struct.pack("<2f", 0.0, 0.0)),
        attr("screenWindowWidth", "float", struct.pack("<f", 1.0)),
        attr("tiles", "tiledesc", struct.pack("<IIB", tx, ty, mode | (rounding << 4))),
    ]) + b"\0"
    head = struct.pack("<ii", 20000630, 2 | 0x200) + header
    chunks: list[bytes] = []
    level0 = None
    for lx, ly in pairs:
        w, h = level_size(width, lx), level_size(height, ly)
        pixels = (np.arange(w * h, dtype=np.float32).reshape(h, w) + 1000 * lx + 100 * ly)
        if (lx, ly) == (0, 0):
            level0 = pixels
        for dy in range(-(-h // ty)):
            for dx in range(-(-w // tx)):
                block = np.ascontiguousarray(pixels[dy * ty : (dy + 1) * ty, dx * tx : (dx + 1) * tx]).tobytes()
                chunks.append(struct.pack("<5i", dx, dy, lx, ly, len(block)) + block)
    table_start = len(head)
    offsets, pos = [], table_start + 8 * len(chunks)
    for chunk in chunks:
        offsets.append(pos)
        pos += len(chunk)
    path.write_bytes(head + struct.pack(f"<{len(chunks)}Q", *offsets) + b"".join(chunks))
    return {"R": level0}


@pytest.mark.parametrize(
    ("mode", "rounding"),
    [pytest.param(1, 0, id="mipmap-down"), pytest.param(1, 1, id="mipmap-up"), pytest.param(2, 0, id="ripmap-down"),
     pytest.param(2, 1, id="ripmap-up")],
)
def test_check_exr_accepts_mip_and_rip_mapped_tiles(tmp_path, mode, rounding):
    # GIVEN a valid multi-level tiled file (the library reads it back: the file is right)
    path = tmp_path / "mip.exr"
    expected = _write_mip_tiled(path, width=37, height=21, tile=(16, 8), mode=mode, rounding=rounding)
    got = read_exr(path)
    assert np.array_equal(got.parts[0].channels["R"], expected["R"])
    # THEN check_exr accepts it: its level and tile order is the spec's
    check_exr(path)
    # and WHEN two tiles' offsets are swapped THEN it is caught
    bad = _patch_offsets(path, tmp_path / "swapped.exr", lambda o, size: [o[1], o[0], *o[2:]])
    _expect_check_error(bad, "corrupt chunk offset table")


def test_check_exr_does_not_decode_pixels(good_exr, monkeypatch):
    # The OpenEXR library decodes; check_exr must never call it.
    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("check_exr opened the file with OpenEXR")

    monkeypatch.setattr(OpenEXR, "File", refuse)
    check_exr(good_exr)


# ---------------------------------------------------------------------------
# check_exr rejects every broken file
# ---------------------------------------------------------------------------


def test_check_exr_empty_file(tmp_path):
    path = tmp_path / "shot.1001.exr"
    path.write_bytes(b"")
    msg = _expect_check_error(path, "the file is empty (0 bytes)")
    assert "re-render" in msg


@pytest.mark.parametrize("keep", [pytest.param(k, id=str(k)) for k in (7, 100, 600, -1, -300)] + [
    pytest.param("half", id="half"), pytest.param("table", id="in-table")])
def test_check_exr_truncated(tmp_path, good_exr, keep):
    start, count = _table(good_exr)
    size = good_exr.stat().st_size
    keep = {"half": size // 2, "table": start + 8 * count - 4}.get(keep, keep)  # type: ignore[arg-type]
    path = truncate_copy(good_exr, tmp_path / "cut.exr", keep)
    _expect_check_error(path, "truncated or incomplete")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        pytest.param(lambda o, size: [0] * len(o), "never filled in", id="zeros"),
        pytest.param(lambda o, size: [*o[:-1], size + 4096], "point past its end", id="past-end"),
        pytest.param(lambda o, size: [o[1], o[0], *o[2:]], "corrupt chunk offset table", id="swapped"),
        pytest.param(lambda o, size: [o[0], o[0], *o[2:]], "corrupt chunk offset table", id="duplicate"),
        pytest.param(lambda o, size: list(reversed(o)), "corrupt chunk offset table", id="reversed"),
        pytest.param(lambda o, size: [x + 3 for x in o], "corrupt", id="shifted-inside"),
        pytest.param(lambda o, size: [o[0] + (size - o[0]) * i // (len(o) + 1) for i in range(len(o))], "corrupt",
                     id="evenly-spaced-garbage"),
        pytest.param(lambda o, size: [0xFFFFFFFFFFFFFFF0] * len(o), "point past its end", id="huge"),
    ],
)
def test_check_exr_fake_offset_table(tmp_path, good_exr, change, match):
    # GIVEN a complete file whose offset table was replaced by something that is not its chunks
    path = _patch_offsets(good_exr, tmp_path / "fake.exr", change)
    # THEN check_exr says so, in one line, without decoding
    _expect_check_error(path, match)


def test_check_exr_garbage_offset_table_in_range(tmp_path, rng):
    # Random offsets that all point inside the file: only the chunk leaders tell them apart.
    good = tmp_path / "good.exr"
    write_exr(good, layered_image(rng, shape=(128, 40), compression="none"))
    for seed in range(5):
        pick = np.random.default_rng(seed)
        path = _patch_offsets(good, tmp_path / f"garbage{seed}.exr",
                              lambda o, size: sorted(int(x) for x in pick.integers(o[0], size - 8, len(o))))
        _expect_check_error(path, "corrupt")


def test_check_exr_tiled_fake_offsets(tmp_path, rng):
    good = tmp_path / "tiled.exr"
    write_exr(good, layered_image(rng, shape=(40, 40), compression="zip", tile_size=(16, 16)))
    check_exr(good)
    path = _patch_offsets(good, tmp_path / "swapped.exr", lambda o, size: [o[3], *o[1:3], o[0], *o[4:]])
    _expect_check_error(path, "corrupt chunk offset table")


def test_check_exr_memory_budget(good_exr):
    need = _exrlayout.read_layout(good_exr).decoded_bytes()
    check_exr(good_exr, memory_budget_bytes=need)
    msg = _expect_check_error_budget(good_exr, need - 1)
    assert "memory budget" in msg and "--memory-budget" in msg


def _expect_check_error_budget(path: Path, budget: int) -> str:
    with pytest.raises(ExrError) as err:
        check_exr(path, memory_budget_bytes=budget)
    return _one_line(err, path)


def test_check_exr_folder_missing_and_links(tmp_path):
    folder = tmp_path / "shot.1001.exr"
    folder.mkdir()
    _expect_check_error(folder, "it is a folder")
    _expect_check_error(tmp_path / "shot.1002.exr", "file not found")
    broken = tmp_path / "shot.1003.exr"
    broken.symlink_to(tmp_path / "gone.exr")
    _expect_check_error(broken, "broken symbolic link")
    loop = tmp_path / "shot.1004.exr"
    loop.symlink_to(tmp_path / "shot.1004.exr")
    _expect_check_error(loop, "symbolic link loop")
    a, b = tmp_path / "a.exr", tmp_path / "b.exr"
    a.symlink_to(b)
    b.symlink_to(a)
    _expect_check_error(a, "symbolic link loop")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path):
    # Opening a FIFO to read blocks until a writer comes: the check must not open it.
    fifo = tmp_path / "shot.1001.exr"
    os.mkfifo(fifo)
    _expect_check_error(fifo, "not a regular file")
    with pytest.raises(ExrError, match="not a regular file"):
        read_exr(fifo)
    png = tmp_path / "f.png"
    os.mkfifo(png)
    with pytest.raises(InputError, match="not a regular file"):
        read_image(png)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(64), "it is a PNG file, not OpenEXR, despite its name; rename it to plate.png",
                     id="png"),
        pytest.param(b"II*\x00" + bytes(64), "it is a TIFF file, not OpenEXR, despite its name; rename it to plate.tif",
                     id="tiff"),
        pytest.param(b"SDPX" + bytes(64), "it is a DPX file", id="dpx"),
        pytest.param(b"#!/bin/sh\necho hi\n", "not an OpenEXR file", id="text"),
    ],
)
def test_other_formats_named_exr(tmp_path, data, match):
    path = tmp_path / "plate.exr"
    path.write_bytes(data)
    _expect_check_error(path, match)


def test_real_png_named_exr_and_exr_named_png(tmp_path, rng):
    # GIVEN a real PNG saved as .exr
    png = tmp_path / "real.png"
    write_image(png, rng.random((8, 8, 3)).astype(np.float32))
    fake_exr = tmp_path / "plate.exr"
    fake_exr.write_bytes(png.read_bytes())
    for call in (check_exr, read_exr, probe_exr):
        with pytest.raises(ExrError, match="it is a PNG file.*rename it to plate.png"):
            call(fake_exr)
    # and a real EXR saved as .png
    exr = tmp_path / "real.exr"
    write_exr(exr, image_from_arrays({"R": np.ones((4, 4), np.float16)}))
    fake_png = tmp_path / "plate.png"
    fake_png.write_bytes(exr.read_bytes())
    with pytest.raises(InputError) as err:
        read_image(fake_png)
    assert "it is an OpenEXR file" in _one_line(err, fake_png)


def test_folder_in_place_of_an_image_frame(tmp_path):
    folder = tmp_path / "f.0001.png"
    folder.mkdir()
    with pytest.raises(InputError) as err:
        read_image(folder)
    assert "it is a folder" in _one_line(err, folder)


# ---------------------------------------------------------------------------
# Non-finite pixels
# ---------------------------------------------------------------------------


def test_count_nonfinite_per_float_channel():
    r = np.zeros((4, 5), np.float16)
    r[0, 0], r[1, 1], r[2, 2] = np.nan, np.inf, -np.inf
    g = np.ones((4, 5), np.float32)
    g[3, 4] = np.nan
    b = np.full((4, 5), 65504, np.float16)  # the largest half is finite
    ids = np.full((4, 5), 0xFFFFFFFF, np.uint32)  # a uint with every bit set is not a NaN
    image = image_from_arrays({"R": r, "G": g, "B": b, "id": ids})
    assert count_nonfinite(image) == {"R": 3, "G": 1}
    clean = image_from_arrays({"R": np.zeros((4, 5), np.float16)})
    assert count_nonfinite(clean) == {}


def test_count_nonfinite_multipart_and_random(rng):
    a = random_channel(rng, (30, 20), "half")  # has inf, -inf, nan among random values
    b = random_channel(rng, (30, 20), "float")
    image = ExrImage(parts=[part_from_arrays({"R": a}, name="beauty"), part_from_arrays({"Z": b}, name="depth")])
    counts = count_nonfinite(image)
    assert counts == {"beauty/R": int((~np.isfinite(a)).sum()), "depth/Z": int((~np.isfinite(b)).sum())}
    assert all(v >= 3 for v in counts.values())


def test_count_nonfinite_strided_views_and_signalling_nans():
    arr = np.zeros((6, 8), np.float32)
    bits = arr.view(np.uint32)
    bits[0, 0] = 0x7F800001  # a signalling NaN
    bits[0, 2] = 0xFFC00000  # a negative quiet NaN
    part = ExrPart(name=None, channels={"R": arr[:, ::2]})  # a non-contiguous view
    assert count_nonfinite(ExrImage(parts=[part])) == {"R": 2}


# ---------------------------------------------------------------------------
# Odd path names
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [pytest.param("plan \u00e9t\u00e9/shot 01.1001.exr", id="spaces-accents"),
     pytest.param("\u30b7\u30e7\u30c3\u30c8/\u7d20\u6750.1001.exr", id="japanese"),
     pytest.param("it's [v2] (final)/a;b&c.1001.exr", id="shell-characters")],
)
def test_exr_paths_with_spaces_and_unicode(tmp_path, rng, name):
    path = tmp_path / name
    image = layered_image(rng, shape=(8, 6))
    write_exr(path, image)
    check_exr(path)
    assert probe_exr(path).parts[0].channel_names()
    assert read_exr(path).parts[0].channels["R"].shape == (8, 6)
    png = path.with_suffix(".png")
    write_image(png, np.ones((3, 3, 3), np.float32))
    assert read_image(png)[0].shape == (3, 3, 3)


# ---------------------------------------------------------------------------
# Writes that fail: named after the output, with the fix
# ---------------------------------------------------------------------------


def _refuse_new_files(monkeypatch, folder: Path, code: int) -> None:
    """Make creating files in ``folder`` fail with ``code``, as a read-only or forbidden folder does."""
    import framefill.atomic as atomic

    real_open = os.open

    def fake_open(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(path).parent == folder and flags & os.O_CREAT:
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "open", fake_open)


@pytest.mark.parametrize(
    ("code", "match"),
    [
        pytest.param(errno.EROFS, "is on a read-only file system; choose another --out folder", id="read-only"),
        pytest.param(errno.EACCES, "permission denied", id="permission"),
        pytest.param(errno.ENOSPC, "the disk is full", id="disk-full"),
    ],
)
@pytest.mark.parametrize("writer", ["exr", "png", "video"])
def test_unwritable_output_folder_names_the_output(tmp_path, monkeypatch, code, match, writer):
    out = tmp_path / "out"
    out.mkdir()
    _refuse_new_files(monkeypatch, out, code)
    dest = out / {"exr": "f.1001.exr", "png": "f.1001.png", "video": "clip.mp4"}[writer]
    with pytest.raises(InputError) as err:
        if writer == "exr":
            write_exr(dest, image_from_arrays({"R": np.zeros((4, 4), np.float16)}))
        elif writer == "png":
            write_image(dest, np.zeros((4, 4, 3), np.float32))
        else:
            _write_tiny_video(dest)
    msg = _one_line(err, dest)
    assert match in msg, msg
    assert os.listdir(out) == []


def _write_tiny_video(dest: Path) -> None:
    from fractions import Fraction

    pytest.importorskip("av")
    from framefill.frames.video import VideoInfo, VideoWriter

    src = VideoInfo(path="none", width=16, height=16, frame_rate=Fraction(24), time_base=Fraction(1, 24),
                    frame_count=1, duration_s=1 / 24, codec="h264", pix_fmt="yuv420p", bit_depth=8, matrix="itu709",
                    full_range=False, audio_codec=None, audio_rate=None)
    with VideoWriter(dest, source=src, width=16, height=16, audio=False) as writer:
        writer.write(np.zeros((16, 16, 3), np.float32), pts=0, time_base=Fraction(1, 24))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_real_read_only_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(InputError) as err:
            write_exr(out / "f.exr", image_from_arrays({"R": np.zeros((4, 4), np.float16)}))
        assert "permission denied" in _one_line(err, out / "f.exr")
    finally:
        out.chmod(0o755)


def test_disk_full_while_openexr_writes(tmp_path, monkeypatch):
    # GIVEN OpenEXR failing the way it does on a full disk (its text names the temporary)
    class FullDisk:
        def __init__(self, parts):  # type: ignore[no-untyped-def]
            pass

        def write(self, filename: str) -> None:
            Path(filename).write_bytes(b"half")
            raise RuntimeError(f'Failed to write pixel data to image file "{filename}". No space left on device.')

    monkeypatch.setattr(OpenEXR, "File", FullDisk)
    dest = tmp_path / "shot.1001.exr"
    with pytest.raises(ExrError) as err:
        write_exr(dest, image_from_arrays({"R": np.zeros((4, 4), np.float16)}))
    msg = _one_line(err, dest)
    # THEN the message names the real file and the cause, not 'image file "it"'
    assert "the disk is full" in msg and '"it"' not in msg, msg
    assert os.listdir(tmp_path) == []


def test_disk_full_while_an_image_is_flushed(tmp_path, monkeypatch):
    import framefill.atomic as atomic

    def full(path):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_fsync_file", full)
    dest = tmp_path / "f.png"
    with pytest.raises(InputError) as err:
        write_image(dest, np.zeros((4, 4, 3), np.float32))
    assert "the disk is full" in _one_line(err, dest)
    assert os.listdir(tmp_path) == []


def test_folder_in_the_way_of_an_output_frame(tmp_path):
    dest = tmp_path / "shot.1001.exr"
    dest.mkdir()
    with pytest.raises(InputError) as err:
        write_exr(dest, image_from_arrays({"R": np.zeros((4, 4), np.float16)}))
    assert "a folder of that name is in the way" in _one_line(err, dest)
    png = tmp_path / "shot.1001.png"
    png.mkdir()
    with pytest.raises(InputError) as err:
        write_image(png, np.zeros((4, 4, 3), np.float32))
    assert "a folder of that name is in the way" in _one_line(err, png)
    assert dest.is_dir() and os.listdir(dest) == [] and os.listdir(png) == []


def test_unreadable_files_say_permission_denied(tmp_path, good_exr, monkeypatch):
    # Simulated: root reads any file, so make opening it fail the way it does for a user.
    import builtins

    real_open = builtins.open

    def deny(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path) == str(good_exr):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(_exrlayout, "open", deny, raising=False)
    for call in (check_exr, read_exr, probe_exr):
        with pytest.raises(ExrError) as err:
            call(good_exr)
        assert "permission denied; make the file readable" in _one_line(err, good_exr)
    png = tmp_path / "f.png"
    write_image(png, np.zeros((2, 2, 3), np.float32))
    real_fromfile = np.fromfile

    def deny_png(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path) == str(png):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_fromfile(path, *args, **kwargs)

    monkeypatch.setattr(np, "fromfile", deny_png)
    with pytest.raises(InputError) as err:
        read_image(png)
    assert "permission denied" in _one_line(err, png)
