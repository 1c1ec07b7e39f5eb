"""EXR upscaling: HDR highlights survive, channels go by kind, the file's structure follows the input,
the manifest makes reruns skip finished frames, and official-format weights load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from framefill import api
from framefill.color import from_network, to_network
from framefill.errors import InputError
from framefill.events import parse_event_line
from framefill.frames import read_exr, write_exr
from framefill.frames.exr import ExrImage, part_from_arrays
from framefill.pipeline.upscale import UpscaleOptions, make_runner
from framefill.pipeline.upscale_exr import upscale_exr
from framefill.requests import UpscaleRequest

# The repository root (not imported from conftest: tests/unit has a conftest of the same name).
REPO = Path(__file__).resolve().parents[2]


def hdr_image(h: int = 32, w: int = 40) -> ExrImage:
    """Scene-linear RGB: dim texture in [0.02, 0.6] and an 8x8 highlight of 20..50 with a 2x2 glint at 50."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.02 + 0.29 * (1 + np.sin(xx * 0.7) * np.cos(yy * 0.5))
    rgb = np.stack([base, 0.8 * base + 0.05, 0.6 * base + 0.1], axis=-1)
    rgb[12:20, 16:24] = (20.0 + 30.0 * (xx[12:20, 16:24] - 16) / 7.0)[..., None]
    rgb[15:17, 19:21] = 50.0
    channels = {c: rgb[..., i].astype(np.float16) for i, c in enumerate("RGB")}
    return ExrImage([part_from_arrays(channels, compression="zip")])


@pytest.fixture(scope="module")
def animevideo():
    import torch
    from framefill.models.loading import load_upscaler

    torch.set_num_threads(os.cpu_count() or 1)
    return {n: load_upscaler(n).model for n in ("realesr-animevideov3-x4", "realesr-animevideov3-x2")}


@pytest.mark.weights
@pytest.mark.parametrize("name", ["realesr-animevideov3-x4", "realesr-animevideov3-x2"])
def test_hdr_highlights_survive_and_are_not_clipped(animevideo, name):
    # GIVEN a frame with highlights of 20..50 and the network on it
    model = animevideo[name]
    image = hdr_image()
    options = UpscaleOptions(model_id=name, flicker=False)
    runner = make_runner(model, options=options, height=32, width=40)
    # WHEN upscaled
    out, _ = upscale_exr(image, runner, options=options)
    s = model.scale
    rgb = np.stack([out.parts[0].channels[c].astype(np.float32) for c in "RGB"], axis=-1)
    assert rgb.shape == (32 * s, 40 * s, 3) and np.isfinite(rgb).all()
    # THEN the highlight keeps its level (far above 1.0) and its energy
    assert float(rgb.max()) > 10.0
    region = rgb[12 * s : 20 * s, 16 * s : 24 * s]
    assert float(region.mean()) > 0.8 * 35.0
    # and the dim texture is the network's own answer: far from the highlight the carry adds nothing
    from framefill.models.upscale import array_fn

    src = np.stack([image.parts[0].channels[c].astype(np.float32) for c in "RGB"], axis=-1)
    plain = array_fn(model)(np.clip(to_network(src), 0, 1).transpose(2, 0, 1)).transpose(1, 2, 0)
    far = (slice(0, 6 * s), slice(0, 8 * s))
    np.testing.assert_allclose(rgb[far], from_network(plain)[far], atol=2e-3, rtol=1e-3)
    # while the plain network on the clipped proxy loses the highlight (what the carry fixes)
    assert float(from_network(plain).max()) < 1.5


def layered_image() -> ExrImage:
    """Two parts: a scanline beauty with a data window inside the display window and every
    channel kind, and a tiled aux part."""
    rng = np.random.default_rng(5)
    h, w = 12, 16
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    smooth = 0.3 + 0.2 * np.sin(xx * 0.5) * np.cos(yy * 0.4)
    alpha = np.clip((xx - 4) / 6.0, 0.0, 1.0)
    channels = {
        "R": (smooth * alpha).astype(np.float16), "G": (0.5 * smooth * alpha).astype(np.float16),
        "B": (0.2 * alpha).astype(np.float16), "A": alpha.astype(np.float16),
        "diffuse.R": smooth.astype(np.float32), "diffuse.G": (smooth * 0.9).astype(np.float32),
        "diffuse.B": (smooth * 0.1).astype(np.float32),
        "depth.Z": (5.0 + xx + 10.0 * (yy > 6)).astype(np.float32),
        "N.X": np.sin(xx * 0.3).astype(np.float16), "N.Y": np.cos(yy * 0.3).astype(np.float16),
        "N.Z": np.full((h, w), 0.5, np.float16),
        "CryptoObject00.r": rng.choice(np.array([1.5e-8, 3.2e12, -7.0], np.float32), size=(h, w)),
        "CryptoObject00.g": (xx > 7).astype(np.float32),
        "objectId": rng.integers(0, 2**32, size=(h, w), dtype=np.uint64).astype(np.uint32),
        "mask.Y": np.full((h, w), 0.25, np.float32),
    }
    beauty = part_from_arrays(channels, name="beauty", origin=(4, 2), display_window=(0, 0, 23, 15),
                              compression="piz", attributes={"studio/shot": "sh010", "framefill/fps": 24.0})
    aux = part_from_arrays(
        {"Z": (10.0 + yy).astype(np.float32), "motion.X": xx.astype(np.float16), "motion.Y": yy.astype(np.float16)},
        name="aux", display_window=(0, 0, 23, 15), compression="zip", tile_size=(16, 16),
    )
    return ExrImage([beauty, aux])


@pytest.mark.weights
def test_every_channel_by_its_kind_and_the_file_follows_the_input(tmp_path):
    # GIVEN a two-part layered EXR with an offset data window
    src = tmp_path / "in" / "shot.0001.exr"
    write_exr(src, layered_image())
    events = []
    # WHEN upscaled x2 through the animevideov3 family (picks its x2 card)
    result = api.upscale(UpscaleRequest(str(tmp_path / "in" / "shot.####.exr"), str(tmp_path / "out" / "shot.####.exr"),
                         model="realesr-animevideov3", scale=2, device="cpu"), report=events.append)
    assert result.model == "realesr-animevideov3-x2"
    before, after = read_exr(src), read_exr(tmp_path / "out" / "shot.0001.exr")
    # THEN parts, channel names and pixel types are kept
    assert [p.name for p in after.parts] == ["beauty", "aux"]
    for p0, p1 in zip(before.parts, after.parts, strict=True):
        assert p1.pixel_types() == p0.pixel_types()
        assert p1.compression == p0.compression and p1.tiled == p0.tiled and p1.tile_size == p0.tile_size
    b0, b1 = before.parts[0], after.parts[0]
    # windows scaled: data (4,2)-(19,13) -> (8,4)-(39,27), display 24x16 -> 48x32
    assert b1.data_window == (8, 4, 39, 27) and b1.display_window == (0, 0, 47, 31)
    assert after.parts[1].data_window == (0, 0, 31, 23)
    # attributes kept, framefill's added
    assert b1.header["studio/shot"] == "sh010" and b1.header["framefill/fps"] == 24.0
    assert json.loads(b1.header["framefill/model"])["name"] == "realesr-animevideov3-x2"
    # IDs and uint channels: nearest, bit-exact values (x2: every sample repeated 2x2)
    for name in ("CryptoObject00.r", "CryptoObject00.g", "objectId"):
        expected = np.repeat(np.repeat(b0.channels[name], 2, axis=0), 2, axis=1)
        assert np.array_equal(b1.channels[name], expected), name
    # data: smooth, no overshoot; depth stays within the depths around it
    z0, z1 = b0.channels["depth.Z"], b1.channels["depth.Z"]
    assert z0.min() <= z1.min() and z1.max() <= z0.max()
    n0, n1 = b0.channels["N.X"].astype(np.float32), b1.channels["N.X"].astype(np.float32)
    assert n0.min() - 1e-3 <= n1.min() and n1.max() <= n0.max() + 1e-3
    # alpha separate and within [0, 1]; a constant channel stays exactly constant
    a1 = b1.channels["A"].astype(np.float32)
    assert a1.min() >= 0.0 and a1.max() <= 1.0 and abs(float(a1.mean()) - float(b0.channels["A"].mean())) < 0.02
    assert np.all(b1.channels["mask.Y"] == np.float32(0.25)) and np.all(b1.channels["N.Z"] == np.float16(0.5))
    # colour layers through the network: the source's picture at low frequency (the anime net
    # flattens and steepens this smooth test pattern a little: 0.036 mean difference measured)
    d1 = b1.channels["diffuse.R"].reshape(12, 2, 16, 2).mean(axis=(1, 3))
    d0 = b0.channels["diffuse.R"]
    assert float(np.abs(d1 - d0).mean()) < 0.06 and np.corrcoef(d1.ravel(), d0.ravel())[0, 1] > 0.95
    # motion vectors resampled, with a warning that their values were not scaled
    assert any("motion" in e.message for e in events if e.kind == "warning")


def _sequence(folder, frames=(1, 2, 3)) -> str:
    for f in frames:
        yy, xx = np.mgrid[0:8, 0:10].astype(np.float32)
        rgb = {c: (0.1 * f + 0.05 * (xx + i * yy)).astype(np.float16) for i, c in enumerate("RGB")}
        write_exr(folder / f"plate.{f:04d}.exr", ExrImage([part_from_arrays(rgb)]))
    return str(folder / "plate.####.exr")


def test_rerun_skips_finished_frames_and_chunks_write_only_their_frames(tmp_path):
    src = _sequence(tmp_path / "in")
    out = str(tmp_path / "out" / "up.####.exr")
    # GIVEN a farm chunk of frames 1-2
    first = api.upscale(UpscaleRequest(src, out, frames=[1, 2], model="lanczos", scale=2, device="cpu"))
    assert [o.status for o in first.frames] == ["upscaled", "upscaled"]
    assert sorted(p.name for p in (tmp_path / "out").glob("up.*.exr")) == ["up.0001.exr", "up.0002.exr"]
    # WHEN the whole range runs (a retry, or the next chunk overlapping)
    second = api.upscale(UpscaleRequest(src, out, model="lanczos", scale=2, device="cpu"))
    # THEN finished frames are skipped and only frame 3 is computed
    assert [(o.frame, o.status) for o in second.frames] == [(1, "skipped"), (2, "skipped"), (3, "upscaled")]
    # a damaged output is redone; other settings redo everything
    (tmp_path / "out" / "up.0002.exr").write_bytes(b"broken")
    third = api.upscale(UpscaleRequest(src, out, model="lanczos", scale=2, device="cpu"))
    assert [o.status for o in third.frames] == ["skipped", "upscaled", "skipped"]
    fourth = api.upscale(UpscaleRequest(src, out, model="lanczos", scale=3, device="cpu"))
    assert fourth.count("upscaled") == 3 and read_exr(tmp_path / "out" / "up.0001.exr").parts[0].width == 30
    doc = json.loads((tmp_path / "out" / "framefill.manifest.json").read_text())
    entries = doc["sequences"]["up.####.exr"]["frames"]
    assert sorted(entries) == ["1", "2", "3"] and entries["1"]["recipe"]["scale"] == 3.0


def test_output_size_and_aspect(tmp_path):
    src = _sequence(tmp_path / "in", frames=(1,))
    # --size with the same aspect
    api.upscale(UpscaleRequest(src, str(tmp_path / "a" / "f.####.exr"), model="lanczos", size=(40, 32), device="cpu"))
    assert read_exr(tmp_path / "a" / "f.0001.exr").parts[0].data_window == (0, 0, 39, 31)
    # a different aspect is refused unless asked for
    with pytest.raises(InputError, match="--aspect"):
        api.upscale(UpscaleRequest(src, str(tmp_path / "b" / "f.####.exr"), model="lanczos", size=(40, 40), device="cpu"))
    # fit: uniform scale, centred data window inside the display window (no invented pixels)
    api.upscale(UpscaleRequest(src, str(tmp_path / "c" / "f.####.exr"), model="lanczos", size=(40, 40), aspect="fit",
                device="cpu"))
    part = read_exr(tmp_path / "c" / "f.0001.exr").parts[0]
    assert part.display_window == (0, 0, 39, 39) and part.data_window == (0, 4, 39, 35)
    # stretch
    api.upscale(UpscaleRequest(src, str(tmp_path / "d" / "f.####.exr"), model="lanczos", size=(40, 40), aspect="stretch",
                device="cpu"))
    assert read_exr(tmp_path / "d" / "f.0001.exr").parts[0].data_window == (0, 0, 39, 39)
    # any scale
    api.upscale(UpscaleRequest(src, str(tmp_path / "e" / "f.####.exr"), model="lanczos", scale=1.5, device="cpu"))
    assert read_exr(tmp_path / "e" / "f.0001.exr").parts[0].data_window == (0, 0, 14, 11)


@pytest.mark.weights
def test_scale_2_with_an_x4_model_resamples_its_output(tmp_path, animevideo):
    src = _sequence(tmp_path / "in", frames=(1,))
    result = api.upscale(UpscaleRequest(src, str(tmp_path / "o" / "f.####.exr"), model="realesr-animevideov3-x4", scale=2,
                         device="cpu"))
    # a full card name is taken as asked: x4, then an area shrink to x2
    assert result.model == "realesr-animevideov3-x4" and result.output_size == (20, 16)


@pytest.mark.weights
def test_official_pth_checkpoint_loads_and_matches_the_converted_model(tmp_path, model_files):
    import torch
    from framefill.models.cache import sha256_of
    from framefill.models.loading import load_upscaler
    from framefill.models.ncnn_convert import convert_ncnn

    # GIVEN the official checkpoint layout ({"params_ema": state_dict}) of the same weights
    files = model_files("realesr-animevideov3-x4")
    state, _ = convert_ncnn(files["param"], files["bin"])
    pth = tmp_path / "realesr-animevideov3.pth"
    torch.save({"params_ema": state}, pth)
    # WHEN loaded with --weights
    loaded = load_upscaler("realesr-animevideov3-x4", weights=pth)
    reference = load_upscaler("realesr-animevideov3-x4")
    x = torch.rand(1, 3, 12, 14)
    # THEN the network is the same and the file's own sha256 is recorded
    assert torch.equal(loaded.model(x), reference.model(x))
    assert loaded.sha256 == sha256_of(pth) and loaded.model.scale == 4


def test_cli_events_and_one_line_errors(tmp_path):
    src = _sequence(tmp_path / "in", frames=(1, 2))
    env = {**os.environ, "PYTHONPATH": str(REPO / "core")}
    cmd = [sys.executable, "-m", "framefill", "upscale", src, "--out", str(tmp_path / "o" / "f.####.exr"),
           "--model", "lanczos", "--scale", "2", "--device", "cpu", "--events"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    events = [parse_event_line(line) for line in proc.stdout.splitlines()]
    assert all(e is not None for e in events)
    assert [e.frame for e in events if e.kind == "frame"] == [1, 2]
    assert events[-1].kind == "done" and events[-1].data["upscaled"] == 2
    # bad input: exit 2, one line, no traceback
    bad = subprocess.run([*cmd[:4], str(tmp_path / "none" / "x.####.exr"), *cmd[5:]], capture_output=True,
                         text=True, env=env, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "framefill: error: no frames match" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout
    # a bad --size or --memory-budget names the option
    for option, value in (("--size", "3840"), ("--memory-budget", "lots")):
        bad = subprocess.run([*cmd[:-1], option, value], capture_output=True, text=True, env=env, timeout=300)
        assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0, bad.stderr
        assert bad.stderr.startswith(f"framefill: error: {option} '{value}' is not"), bad.stderr


def test_written_exr_is_a_valid_file_for_openexr(tmp_path):
    src = _sequence(tmp_path / "in", frames=(1,))
    # through the public façade; a request takes keywords only past the two paths
    result = api.upscale(UpscaleRequest(src, str(tmp_path / "o" / "f.####.exr"), model="lanczos", scale=2, device="cpu"))
    assert (result.model, result.output_size, result.count("upscaled")) == ("lanczos", (20, 16), 1)
    with pytest.raises(TypeError):
        UpscaleRequest(src, str(tmp_path / "o" / "f.####.exr"), None, "lanczos")  # type: ignore[misc]
    f = OpenEXR.File(str(tmp_path / "o" / "f.0001.exr"))
    assert f.header()["dataWindow"][1].tolist() == [19, 15]
