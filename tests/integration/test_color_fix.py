"""The colour fix of GAN upscales: constructed images, tiled against untiled, HDR kept, recorded in the recipe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from framefill import api
from framefill.color import PRIMARIES, ColorSetup, to_network
from framefill.frames import ExrImage, part_from_arrays, read_exr
from framefill.ops.colorfix import color_fix, color_fix_sigma_px, low_pass
from framefill.ops.metrics import gradient_energy
from framefill.ops.resample import resize
from framefill.pipeline.upscale import Runner, UpscaleOptions, make_runner, upscale_rgb
from framefill.pipeline.upscale_exr import upscale_exr
from framefill.requests import UpscaleRequest

SAMPLE_SHOT = Path(__file__).resolve().parents[2] / "core" / "framefill" / "data" / "sample_shot"
# The fix runs on the merged frame, so tiled and untiled differ only as much as the
# network's own tiling does (tests/integration/test_upscale_tiling.py: <= 1e-3 promised).
TILED_TOLERANCE = 1e-3


def _sharp_scene(h: int = 96, w: int = 128) -> np.ndarray:
    """A hi-res image with hard edges and fine stripes on slowly varying colour, in [0.1, 0.9]."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([0.3 + 0.2 * xx / w, 0.5 - 0.2 * yy / h, 0.4 + 0.1 * (xx + yy) / (w + h)], axis=-1)
    stripes = 0.15 * np.sign(np.sin(xx * np.pi / 3))[..., None]
    square = ((np.abs(xx - w / 2) < 20) & (np.abs(yy - h / 2) < 16))[..., None] * 0.2
    return np.clip(base + stripes + square, 0.1, 0.9).astype(np.float32)


def _high(image: np.ndarray, sigma: float) -> np.ndarray:
    return image - low_pass(image, sigma)


def test_colour_shifted_sharp_upscale_is_corrected_to_the_input_low_frequencies():
    # GIVEN a sharp hi-res truth, its x4 area-downscaled input, and a "GAN" output: the truth
    # with a colour cast and a tone shift that vary slowly across the frame
    truth = _sharp_scene()
    small = resize(truth, height=truth.shape[0] // 4, width=truth.shape[1] // 4, method="area")
    yy, xx = np.mgrid[0:96, 0:128].astype(np.float32)
    cast = np.stack([0.08 + 0.04 * xx / 128, -0.05 + 0 * yy, 0.03 * yy / 96], axis=-1)
    output = truth * 1.1 + cast
    ref = resize(small, height=96, width=128, method="smooth")
    sigma = color_fix_sigma_px(4)
    # WHEN the colour fix runs
    fixed = color_fix(output, ref, sigma_px=sigma)
    # THEN its low frequencies are the input's (measured at the input's resolution, away from the borders)
    inner = (slice(4, -4), slice(4, -4))
    down = resize(fixed, height=24, width=32, method="area")
    shift_before = np.abs(resize(output, height=24, width=32, method="area") - small)[inner].mean()
    shift_after = np.abs(down - small)[inner].mean()
    assert shift_before > 0.07 and shift_after < 0.01
    # and its high frequencies are the output's: the fix only adds a smooth field (G(ref) - G(out)),
    # so the fine detail (1 px high-pass) is unchanged to within 2% of its size and the sharpness too
    fine_out, fine_fixed = _high(output, 1.0), _high(fixed, 1.0)
    assert np.abs(fine_fixed - fine_out).max() < 0.02 * np.abs(fine_out).max()
    assert gradient_energy(fixed) == pytest.approx(gradient_energy(output), rel=0.02)
    # while fixing an output that already has the input's colours changes little
    same = color_fix(truth, ref, sigma_px=sigma)
    assert np.abs(same - truth)[8:-8, 8:-8].mean() < 0.01


def test_one_blur_equals_the_formula_with_two():
    """out + G(ref - out) is out - G(out) + G(ref): the blur is linear, mirrored borders included."""
    rng = np.random.default_rng(3)
    out = rng.normal(0.0, 4.0, (40, 56, 3)).astype(np.float32)
    ref = out + rng.normal(0.0, 0.5, out.shape).astype(np.float32)
    two_blurs = out.astype(np.float64) - low_pass(out, 3.0) + low_pass(ref, 3.0)
    np.testing.assert_allclose(color_fix(out, ref, sigma_px=3.0), two_blurs, rtol=0, atol=2e-5)
    assert np.abs(two_blurs - out).max() > 0.1  # the fix moved the pixels: the check compares something


def test_fix_is_unclamped_and_keeps_shape():
    out = np.full((16, 16, 3), 2.5, np.float32)
    ref = np.full((16, 16, 3), -0.5, np.float32)
    np.testing.assert_allclose(color_fix(out, ref, sigma_px=3.0), -0.5, atol=1e-6)
    with pytest.raises(ValueError):
        color_fix(out, ref[:8], sigma_px=3.0)


@pytest.fixture(scope="module")
def animevideo():
    import torch
    from framefill.models.loading import load_upscaler

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_upscaler("realesr-animevideov3-x4").model
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sample_proxy() -> np.ndarray:
    """A 72x96 crop of the sample shot's proxy (what the network sees)."""
    part = read_exr(SAMPLE_SHOT / "shot.1013.exr").parts[0]
    rgb = np.stack([part.channels[c].astype(np.float32) for c in "RGB"], axis=-1)[100:172, 200:296]
    return np.ascontiguousarray(to_network(rgb))


@pytest.mark.weights
def test_tiled_equals_untiled_with_the_colour_fix(animevideo, sample_proxy):
    h, w = sample_proxy.shape[:2]
    untiled = upscale_rgb(Runner(model=animevideo, tile_px=0, color_fix=True), sample_proxy, height=4 * h, width=4 * w)
    tiled_runner = Runner(model=animevideo, tile_px=32, color_fix=True)
    assert len(tiled_runner.plan(h, w).tiles) > 4
    tiled = upscale_rgb(tiled_runner, sample_proxy, height=4 * h, width=4 * w)
    assert float(np.max(np.abs(tiled - untiled))) < TILED_TOLERANCE
    # and the fix did something: the network's low band moved towards the input's
    plain = upscale_rgb(Runner(model=animevideo, tile_px=0), sample_proxy, height=4 * h, width=4 * w)
    small = np.clip(sample_proxy, 0, 1)

    def err(x: np.ndarray) -> float:
        return float(np.abs(resize(x, height=h, width=w, method="area") - small).mean())

    assert err(untiled) < 0.8 * err(plain)


@pytest.mark.weights
def test_hdr_clip_and_carry_survives_the_fix(animevideo):
    # GIVEN dim texture with a 50.0 glint (scene-linear) and the fix on
    yy, xx = np.mgrid[0:32, 0:40].astype(np.float32)
    base = 0.02 + 0.29 * (1 + np.sin(xx * 0.7) * np.cos(yy * 0.5))
    rgb = np.stack([base, 0.8 * base + 0.05, 0.6 * base + 0.1], axis=-1)
    rgb[12:20, 16:24] = 20.0
    rgb[15:17, 19:21] = 50.0
    image = ExrImage([part_from_arrays({c: rgb[..., i].astype(np.float32) for i, c in enumerate("RGB")})])
    options = UpscaleOptions(model_id="realesr-animevideov3-x4", flicker=False, color_fix=True)
    runner = make_runner(animevideo, options=options, height=32, width=40)
    out, _ = upscale_exr(image, runner, options=options)
    up = np.stack([out.parts[0].channels[c] for c in "RGB"], axis=-1)
    # THEN the highlight keeps its level and energy, as without the fix
    assert float(up.max()) > 40.0
    assert float(up[48:80, 64:96].mean()) > 0.8 * 20.0
    assert json.loads(out.parts[0].header["framefill/upscale"])["color_fix"] is True


def _aces_sequence(folder: Path) -> str:
    folder.mkdir()
    yy, xx = np.mgrid[0:12, 0:16].astype(np.float32)
    for f in (1, 2):
        rgb = np.stack([0.2 + 0.02 * xx * f, 0.1 + 0.03 * yy, 0.05 + 0 * xx], axis=-1).astype(np.float32)
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
                  "chromaticities": PRIMARIES["ACES AP1"]}
        with OpenEXR.File(header, {"RGB": rgb}) as exr:
            exr.write(str(folder / f"plate.{f:04d}.exr"))
    return str(folder / "plate.####.exr")


@pytest.mark.weights
def test_recipe_records_colour_setup_and_fix_and_a_change_redoes_frames(tmp_path, monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    src, out = _aces_sequence(tmp_path / "in"), str(tmp_path / "out" / "plate.####.exr")
    model = "realesr-animevideov3-x2"
    first = api.upscale(UpscaleRequest(src, out, model=model, device="cpu"))
    manifest = json.loads((tmp_path / "out" / "framefill.manifest.json").read_text())
    recipes = [e["recipe"] for e in manifest["sequences"]["plate.####.exr"]["frames"].values()]
    # the GAN default: fix on; the ACEScg header chose the input space
    assert [r["color_fix"] for r in recipes] == [True, True]
    assert recipes[0]["color"] == ["ocio://studio-config-latest", "ACEScg", "sRGB Encoded Rec.709 (sRGB)"]
    assert first.count("upscaled") == 2
    again = api.upscale(UpscaleRequest(src, out, model=model, device="cpu"))
    assert again.count("skipped") == 2
    # a change of colour setup or of the fix re-does the frames instead of resuming them
    no_fix = api.upscale(UpscaleRequest(src, out, model=model, device="cpu", color_fix=False))
    assert no_fix.count("upscaled") == 2
    other_space = api.upscale(UpscaleRequest(src, out, model=model, device="cpu", color_fix=False,
                                             colorspace="ACES2065-1"))
    assert other_space.count("upscaled") == 2
    # the written file keeps the input's chromaticities (the same space out as in)
    with OpenEXR.File(str(tmp_path / "out" / "plate.0001.exr"), header_only=True) as exr:
        assert np.allclose(exr.header()["chromaticities"], PRIMARIES["ACES AP1"], atol=1e-6)
    # the classical model never gets the fix
    lanczos = api.upscale(UpscaleRequest(src, str(tmp_path / "l" / "p.####.exr"), model="lanczos", scale=2,
                                         device="cpu", color_fix=True))
    doc = json.loads((tmp_path / "l" / "framefill.manifest.json").read_text())
    entries = doc["sequences"]["p.####.exr"]["frames"].values()
    assert lanczos.count("upscaled") == 2 and all(not e["recipe"]["color_fix"] for e in entries)


@pytest.mark.weights
def test_png_colorspace_names_the_file_encoding(tmp_path, animevideo):
    # an sRGB PNG (default) goes through the network as is; one named linear is encoded first
    from framefill.pipeline.upscale import upscale_image

    pixels = np.clip(_sharp_scene(24, 32), 0, 1)
    runner = Runner(model=animevideo, tile_px=0)
    srgb, _ = upscale_image(pixels, runner, options=UpscaleOptions(model_id="x", flicker=False))
    linear_setup = ColorSetup(scene_linear="Linear Rec.709 (sRGB)")
    linear, _ = upscale_image(pixels, runner, options=UpscaleOptions(model_id="x", flicker=False, color=linear_setup))
    direct = upscale_rgb(runner, pixels, height=96, width=128)
    np.testing.assert_array_equal(srgb, direct)
    via_proxy = upscale_rgb(runner, to_network(pixels, linear_setup), height=96, width=128)
    from framefill.color import from_network

    np.testing.assert_allclose(linear, from_network(via_proxy, linear_setup), rtol=1e-6, atol=1e-7)
    assert float(np.abs(linear - srgb).mean()) > 0.01  # measured 0.028: the network saw other pixels
