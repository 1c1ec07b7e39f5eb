"""PNG/TIFF sequences: RGB through the network, alpha separately, bit depth kept, aspect bars."""

from __future__ import annotations

import numpy as np
import pytest
from framefill import api
from framefill.errors import InputError
from framefill.frames import read_image, write_image
from framefill.requests import UpscaleRequest


def _rgba_sequence(folder, frames=(1, 2)) -> str:
    yy, xx = np.mgrid[0:12, 0:16].astype(np.float32)
    for f in frames:
        rgb = np.stack([0.2 + 0.5 * (xx / 15), 0.3 + 0.4 * (yy / 11), np.full_like(xx, 0.1 * f)], axis=-1)
        alpha = (xx > 5).astype(np.float32)[..., None]
        write_image(folder / f"img.{f:04d}.png", np.concatenate([rgb, alpha], axis=-1), bit_depth=16)
    return str(folder / "img.####.png")


@pytest.mark.weights
def test_png_rgba_sequence_through_the_network(tmp_path):
    src = _rgba_sequence(tmp_path / "in")
    result = api.upscale(UpscaleRequest(src, str(tmp_path / "out" / "img.####.png"), model="realesr-animevideov3", scale=2,
                         device="cpu"))
    assert result.model == "realesr-animevideov3-x2" and result.count("upscaled") == 2
    pixels, depth = read_image(tmp_path / "out" / "img.0001.png")
    # size x2, RGBA kept, 16-bit kept
    assert pixels.shape == (24, 32, 4) and depth == 16
    # alpha: a hard 0/1 edge stays within [0, 1] and in place (column 12 = 2 x 6)
    alpha = pixels[..., 3]
    assert alpha[:, :10].max() < 0.1 and alpha[:, 14:].min() > 0.9
    # colour: the ramps survive at low frequency (the anime net steepens them a little: 0.031 measured)
    src_rgb, _ = read_image(tmp_path / "in" / "img.0001.png")
    down = pixels[..., :3].reshape(12, 2, 16, 2, 3).mean(axis=(1, 3))
    assert float(np.abs(down - src_rgb[..., :3]).mean()) < 0.05
    assert np.corrcoef(down[..., 0].ravel(), src_rgb[..., 0].ravel())[0, 1] > 0.98
    assert result.flicker is not None and result.flicker.pairs == 1


def test_png_fit_adds_bars_and_kinds_must_match(tmp_path):
    src = _rgba_sequence(tmp_path / "in", frames=(1,))
    api.upscale(UpscaleRequest(src, str(tmp_path / "out" / "img.####.png"), model="lanczos", size=(48, 48), aspect="fit",
                device="cpu"))
    pixels, _ = read_image(tmp_path / "out" / "img.0001.png")
    # 16x12 fits 48x48 at x3 -> 48x36, centred: 6 rows of bars above and below
    assert pixels.shape == (48, 48, 4)
    assert pixels[:6].max() == 0.0 and pixels[42:].max() == 0.0 and pixels[6:42, :, :3].min() > 0.05
    with pytest.raises(InputError, match="same kind"):
        api.upscale(UpscaleRequest(src, str(tmp_path / "out" / "img.####.exr"), model="lanczos", device="cpu"))
