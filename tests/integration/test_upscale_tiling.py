"""Tiled against untiled with the real pinned networks, and the seam test.

Measured here (CPU, fp32, sample-shot texture): animevideov3 x4/x3/x2 tiled with
the model's overlap differ from untiled by <= 7e-6 (float summation order; the
receptive field is exact); x4plus-anime by 0 (its ~94 px receptive field is
inside the 96 px context); x4plus by <= 2e-4 (bench/upscale.py --context).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from framefill.color import to_network
from framefill.frames import read_exr
from framefill.ops.tiling import border_gradient_ratio, plan_tiles, run_tiled

# Not imported from conftest: tests/unit has a conftest of the same name.
SAMPLE_SHOT = Path(__file__).resolve().parents[2] / "core" / "framefill" / "data" / "sample_shot"

# The promise: tiled matches untiled within this wherever the untiled run fits.
TILED_TOLERANCE = 1e-3
# SRVGG's context is its exact receptive field: only summation order differs.
EXACT_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    """The sample frame's display proxy, 3 x 270 x 480 float32 in [0, 1] (what the network sees)."""
    part = read_exr(SAMPLE_SHOT / "shot.1013.exr").parts[0]
    rgb = np.stack([part.channels[c].astype(np.float32) for c in "RGB"], axis=-1)
    return np.ascontiguousarray(np.clip(to_network(rgb), 0.0, 1.0).transpose(2, 0, 1))


@pytest.fixture(scope="module")
def upscaler():
    import torch
    from framefill.models.loading import load_upscaler

    # One thread: on a shared 2-core box, torch's OpenMP barriers between ~350 RRDB convs stall
    # whenever a sibling thread is descheduled (x4plus on 6x232: 0.7 s on 1 thread, 17 s on 2
    # under load, measured). The results do not depend on the thread count beyond rounding.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    cache: dict[str, object] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = load_upscaler(name).model
        return cache[name]

    yield get
    torch.set_num_threads(before)


def _plan(model, h: int, w: int, tile: int, *, context: int | None = None, feather: int = 8):
    overlap = (model.tile_overlap_px if context is None else context) + feather
    return plan_tiles(h, w, tile_px=tile, overlap_px=overlap, multiple_of=model.multiple_of, feather_px=feather)


@pytest.mark.weights
@pytest.mark.parametrize("name", ["realesr-animevideov3-x4", "realesr-animevideov3-x3", "realesr-animevideov3-x2"])
def test_srvgg_tiled_equals_untiled(texture, upscaler, name):
    from framefill.models.upscale import array_fn

    # GIVEN a 24x80 crop cut into 2x4 tiles with the model's context
    model = upscaler(name)
    fn = array_fn(model)
    image = np.ascontiguousarray(texture[:, 110:134, 180:260])
    plan = _plan(model, 24, 80, 20)
    assert len(plan.tiles) == 8 and plan.min_context_px >= model.tile_overlap_px
    # WHEN run tiled and untiled
    tiled = run_tiled(fn, image, plan, scale=model.scale)
    untiled = fn(image)
    # THEN they agree to float rounding
    diff = float(np.abs(tiled - untiled).max())
    assert diff <= EXACT_TOLERANCE, f"{name}: tiled vs untiled {diff:.3g}"
    # and with less context than the receptive field they do not (the test can fail)
    short = run_tiled(fn, image, _plan(model, 24, 80, 20, context=4), scale=model.scale)
    assert float(np.abs(short - untiled).max()) > TILED_TOLERANCE


@pytest.mark.weights
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("realesrgan-x4plus-anime", id="x4plus-anime"),
        pytest.param("realesrgan-x4plus", id="x4plus"),
    ],
)
def test_rrdbnet_tiled_within_tolerance(texture, upscaler, name):
    from framefill.models.upscale import array_fn

    # GIVEN a 6 x 232 strip cut into 2 tiles along x: each read is cut 104 px (context + feather)
    # past its core, so the blended pixels at the border keep exactly the model's 96 px of context
    # (kept this small because RRDBNet costs ~36 MFLOP per input pixel)
    model = upscaler(name)
    fn = array_fn(model)
    image = np.ascontiguousarray(texture[:, 124:130, 100:332])
    plan = _plan(model, 6, 232, 116)
    assert len(plan.tiles) == 2 and all(0 < t.rx0 or t.rx1 < 232 for t in plan.tiles)
    assert plan.min_context_px == model.tile_overlap_px
    # WHEN run tiled and untiled
    diff = float(np.abs(run_tiled(fn, image, plan, scale=4) - fn(image)).max())
    # THEN every output pixel is within the promise
    assert diff <= TILED_TOLERANCE, f"{name}: tiled vs untiled {diff:.3g}"


@pytest.mark.weights
def test_no_seams_at_tile_borders(texture, upscaler):
    from framefill.models.upscale import array_fn

    # GIVEN animevideov3-x4 on a 32x96 crop, 2x4 tiles
    model = upscaler("realesr-animevideov3-x4")
    fn = array_fn(model)
    image = np.ascontiguousarray(texture[:, 60:92, 200:296])
    plan = _plan(model, 32, 96, 24)
    untiled = fn(image)
    # WHEN tiled with overlap and feathering, and naively (no overlap, hard cuts)
    tiled = run_tiled(fn, image, plan, scale=4)
    naive_plan = plan_tiles(32, 96, tile_px=24, overlap_px=0, feather_px=0)
    naive = run_tiled(fn, image, naive_plan, scale=4)
    # THEN the gradient energy across tile borders, relative to the interior, is the untiled
    # image's own (the content there), while naive tiling adds a visible step
    base = border_gradient_ratio(untiled, plan, scale=4)
    ratio = border_gradient_ratio(tiled, plan, scale=4)
    naive_ratio = border_gradient_ratio(naive, naive_plan, scale=4)
    assert abs(ratio / base - 1.0) < 0.01, (ratio, base)
    assert naive_ratio / border_gradient_ratio(untiled, naive_plan, scale=4) > 1.5


@pytest.mark.weights
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="fp16 tiling needs a CUDA device")
def test_fp16_on_cuda_tiled_matches_untiled(texture):
    import torch
    from framefill.models.loading import load_upscaler
    from framefill.models.upscale import array_fn

    model = load_upscaler("realesr-animevideov3-x4", device="cuda", precision="fp16").model
    fn = array_fn(model, device="cuda", dtype=torch.float16)
    image = np.ascontiguousarray(texture[:, :192, :256])
    tiled = run_tiled(fn, image, _plan(model, 192, 256, 64), scale=4)
    untiled = fn(image)
    reference = array_fn(load_upscaler("realesr-animevideov3-x4").model)(image)
    # fp16 rounds at ~5e-4 near 1.0; tiles change only the summation order
    assert float(np.abs(tiled - untiled).max()) <= 2e-3
    assert float(np.abs(untiled - reference).mean()) <= 2e-3
