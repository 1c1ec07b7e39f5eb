"""8/16-bit PNG, TIFF and JPEG through OpenCV: RGB order, exact code values, clean errors."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from framefill.errors import InputError
from framefill.frames import read_image, write_image


def _codes(rng: np.random.Generator, shape: tuple[int, ...], bits: int) -> np.ndarray:
    top = (1 << bits) - 1
    codes = rng.integers(0, top + 1, size=shape)
    codes.flat[:2] = (0, top)
    return codes.astype(np.float32) / np.float32(top)


@pytest.mark.parametrize("ext", [pytest.param(e, id=e) for e in (".png", ".tif", ".tiff")])
@pytest.mark.parametrize("bits", [pytest.param(8, id="8bit"), pytest.param(16, id="16bit")])
@pytest.mark.parametrize("channels", [pytest.param(1, id="grey"), pytest.param(3, id="rgb"), pytest.param(4, id="rgba")])
def test_lossless_round_trip_is_exact(tmp_path, ext, bits, channels):
    rng = np.random.default_rng(bits * 10 + channels)
    img = _codes(rng, (13, 17, channels), bits)
    path = tmp_path / f"img{ext}"
    write_image(path, img, bit_depth=bits)
    back, depth = read_image(path)
    assert depth == bits
    assert back.dtype == np.float32 and back.shape == (13, 17, channels)
    assert np.array_equal(back, img)
    assert os.listdir(tmp_path) == [path.name]  # atomic: no temp left behind


def test_rgb_order_on_disk_is_standard(tmp_path):
    # GIVEN pure red, green, blue pixels (RGB order in our arrays)
    img = np.zeros((1, 3, 3), np.float32)
    img[0, 0, 0] = img[0, 1, 1] = img[0, 2, 2] = 1.0
    path = tmp_path / "rgb.png"
    write_image(path, img)
    # THEN OpenCV itself (BGR) sees red in its last channel: the file is a normal RGB PNG
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw[0, 0].tolist() == [0, 0, 255]
    assert raw[0, 2].tolist() == [255, 0, 0]
    back, _ = read_image(path)
    assert back[0].tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_rgba_alpha_stays_last(tmp_path):
    img = np.array([[[1.0, 0.0, 0.0, 0.25]]], np.float32)
    path = tmp_path / "a.png"
    write_image(path, img, bit_depth=16)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw[0, 0].tolist() == [0, 0, 65535, 16384]
    back, _ = read_image(path)
    assert back[0, 0].tolist() == pytest.approx([1.0, 0.0, 0.0, 16384 / 65535])


@pytest.mark.parametrize(
    ("value", "code8", "code16"),
    [
        pytest.param(-0.5, 0, 0, id="negative-clipped"),
        pytest.param(2.0, 255, 65535, id="over-one-clipped"),
        pytest.param(np.inf, 255, 65535, id="inf"),
        pytest.param(np.nan, 0, 0, id="nan-is-zero"),
        pytest.param(0.5, 128, 32768, id="half-rounds"),
        pytest.param(1 / 255 * 0.49, 0, 126, id="rounds-down"),
        pytest.param(1 / 255 * 0.51, 1, 131, id="rounds-up"),
    ],
)
def test_rounding_and_clipping(tmp_path, value, code8, code16):
    img = np.full((2, 2, 3), value, np.float32)
    for bits, code in ((8, code8), (16, code16)):
        path = tmp_path / f"v{bits}.png"
        write_image(path, img, bit_depth=bits)
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert int(raw[0, 0, 0]) == code, (bits, value)


def test_two_dimensional_input_is_grey(tmp_path):
    img = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    write_image(tmp_path / "g.png", img)
    back, depth = read_image(tmp_path / "g.png")
    assert back.shape == (3, 4, 1) and depth == 8
    assert np.abs(back[:, :, 0] - img).max() <= 0.5 / 255 + 1e-7


def test_jpeg_is_close(tmp_path):
    # smooth content: JPEG at quality 95 stays within a few code values
    yy, xx = np.mgrid[0:32, 0:48].astype(np.float32)
    img = np.stack([xx / 47, yy / 31, (xx + yy) / 78], axis=-1)
    write_image(tmp_path / "j.jpg", img)
    back, depth = read_image(tmp_path / "j.jpg")
    assert depth == 8 and back.shape == (32, 48, 3)
    assert np.abs(back - img).max() < 6 / 255
    # channel order kept: red grows with x, green with y
    assert back[16, 47, 0] > 0.9 and back[16, 0, 0] < 0.1
    assert back[31, 24, 1] > 0.9 and back[0, 24, 1] < 0.1


def test_non_ascii_path(tmp_path):
    path = tmp_path / "plan \u00e9t\u00e9" / "f.0001.png"
    write_image(path, np.ones((2, 2, 3), np.float32))
    back, _ = read_image(path)
    assert back.min() == 1.0


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("missing.png", None, id="missing"),
        pytest.param("empty.png", b"", id="empty"),
        pytest.param("text.png", b"this is not a png", id="garbage"),
        pytest.param("cut.png", "truncated", id="truncated"),
    ],
)
def test_unreadable_images_are_one_line_errors(tmp_path, capfd, name, content):
    path = tmp_path / name
    if content == "truncated":
        write_image(tmp_path / "full.png", np.random.default_rng(0).random((64, 64, 3)).astype(np.float32))
        path.write_bytes((tmp_path / "full.png").read_bytes()[:200])
    elif content is not None:
        path.write_bytes(content)
    capfd.readouterr()
    with pytest.raises(InputError) as info:
        read_image(path)
    assert str(path) in info.value.msg and "\n" not in info.value.msg
    assert capfd.readouterr() == ("", "")  # no OpenCV warning on top of the error


@pytest.mark.parametrize(
    ("name", "img", "bits", "match"),
    [
        pytest.param("a.bmp", np.zeros((2, 2, 3)), 8, "unknown image type", id="extension"),
        pytest.param("a", np.zeros((2, 2, 3)), 8, "unknown image type", id="no-extension"),
        pytest.param("a.png", np.zeros((2, 2, 3)), 12, "bit depth", id="bit-depth"),
        pytest.param("a.jpg", np.zeros((2, 2, 3)), 16, "JPEG is 8-bit", id="jpeg-16"),
        pytest.param("a.png", np.zeros((2, 2, 2)), 8, "shape", id="two-channels"),
        pytest.param("a.png", np.zeros((2, 2, 3, 1)), 8, "shape", id="4d"),
        pytest.param("a.png", np.zeros((0, 2, 3)), 8, "shape", id="empty"),
    ],
)
def test_write_rejects_bad_requests(tmp_path, name, img, bits, match):
    with pytest.raises(InputError) as info:
        write_image(tmp_path / name, img, bit_depth=bits)
    assert match in info.value.msg and str(tmp_path / name) in info.value.msg
    assert os.listdir(tmp_path) == []
