"""One image is a one-frame sequence (frame 1) for every command; file encodings round-trip every code."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from framefill.errors import SequenceError
from framefill.frames import FramePattern, read_exr, read_image, write_image
from framefill.frames.encodings import decode, encode
from framefill.frames.sequence import STILL_FRAME
from synthetic_shot import write_shot


def test_a_path_without_a_frame_token_is_a_still_of_frame_1(tmp_path):
    path = tmp_path / "beauty.exr"
    pattern = FramePattern.parse(str(path))
    assert pattern.still and STILL_FRAME == 1
    assert pattern.scan() == {}
    path.write_bytes(b"x")
    assert pattern.scan() == {1: path}
    assert pattern.path(1) == str(path) and pattern.as_hashes() == str(path) and str(pattern) == str(path)
    assert pattern.frame_of(str(path)) == 1 and pattern.frame_of(str(tmp_path / "other.exr")) is None
    assert pattern.strays() == []
    with pytest.raises(SequenceError, match=r"one image \(no frame token\).*beauty\.####\.exr"):
        pattern.path(1001)


@pytest.mark.parametrize("encoding,bits", [(e, b) for e in ("srgb", "cineon", "linear") for b in (8, 10, 12, 16)])
def test_every_code_decodes_and_encodes_back_to_itself(encoding, bits):
    top = 2**bits - 1
    codes = np.arange(top + 1)
    linear = decode(codes / top, encoding)
    assert linear.dtype == np.float32
    assert np.array_equal(np.rint(np.clip(encode(linear, encoding), 0, 1) * top), codes)


def test_cineon_black_and_white_points():
    assert decode(np.array([95 / 1023, 685 / 1023]), "cineon") == pytest.approx([0.0, 1.0], abs=1e-6)
    assert decode(np.array([0.5]), "srgb")[0] == pytest.approx(0.214041, abs=1e-6)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "framefill", *args], capture_output=True, text=True, timeout=120)


def test_upscale_and_info_take_one_image(tmp_path):
    one_exr = write_shot(tmp_path / "shot", (1,)).replace("####", "0001")
    (tmp_path / "one.exr").write_bytes(open(one_exr, "rb").read())
    rgb = np.random.default_rng(0).random((24, 32, 3)).astype(np.float32)
    write_image(tmp_path / "one.png", rgb)
    for name in ("one.exr", "one.png"):
        ext = name.split(".")[1]
        proc = _cli("upscale", str(tmp_path / name), "--out", str(tmp_path / f"big.{ext}"), "--model", "lanczos",
                    "--scale", "2", "--device", "cpu")
        assert proc.returncode == 0, proc.stderr
        expected = ["big.exr"] if ext == "exr" else ["big.exr", "big.png"]
        assert sorted(p.name for p in tmp_path.glob("big*")) == expected
    big = read_exr(tmp_path / "big.exr")
    src = read_exr(tmp_path / "one.exr")
    assert (big.parts[0].width, big.parts[0].height) == (src.parts[0].width * 2, src.parts[0].height * 2)
    assert read_image(tmp_path / "big.png")[0].shape == (48, 64, 3)
    info = _cli("info", str(tmp_path / "one.exr"), "--json")
    assert info.returncode == 0, info.stderr
    doc = json.loads(info.stdout)
    assert doc["still"] is True and doc["present_count"] == 1 and doc["resolution"] == [160, 96]


def test_a_sequence_into_one_image_is_refused_before_writing(tmp_path):
    shot = write_shot(tmp_path / "shot", (1, 2))
    proc = _cli("upscale", shot, "--out", str(tmp_path / "big.exr"), "--model", "lanczos", "--scale", "2",
                "--device", "cpu")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "one image (no frame token)" in proc.stderr and "big.####.exr" in proc.stderr
    assert not (tmp_path / "big.exr").exists()
