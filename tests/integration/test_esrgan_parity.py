"""Parity: our converted Real-ESRGAN networks against the reference runtime (ncnn) on the
same pinned weights and the same input.

ncnn runs on the CPU in fp32 throughout: no Vulkan, no fp16/bf16 storage, packing
or arithmetic, no int8, and no Winograd (its transforms round on their own; with
Winograd on, which on this x86 CPU is also what ncnn's defaults give, the
differences stay below the same tolerance: measured up to 1.9e-5). fp16 weights
are widened to fp32 by ncnn at load and by our converter, so both sides compute
with identical weights.

Measured max |ours - ncnn| on the 3x48x40 image below (CPU, torch 2.13, ncnn
1.0.20261020): x4plus 4.4e-6, x4plus-anime 6.6e-6, animevideov3 x4 8.3e-7,
x3 9.5e-7, x2 7.2e-7. TOLERANCE leaves room for other CPUs' summation orders.
"""

from __future__ import annotations

import ncnn  # the reference runtime, a test dependency (pyproject): missing means a failed run, not a skip
import numpy as np
import pytest
import torch
from framefill.models.arch.srvgg import ncnn_bicubic_resize
from framefill.models.ncnn_convert import convert_ncnn
from framefill.models.upscale import upscale_model

# fp32 through 23 RRDBs (~350 convs) accumulates ~1e-5 of summation-order noise.
TOLERANCE = 1e-4
# The resize alone: ncnn's compiled arithmetic (FMA, SIMD order) against ours, measured <= 3e-6 on noise.
RESIZE_TOLERANCE = 1e-5
H, W = 48, 40
# Sanity floor for "the output is this image upscaled": the models restyle (x4plus-anime most,
# 17.4 dB against the box-averaged output), a wrong net or wiring lands near 5 dB.
MIN_PSNR_DB = 15.0

MODELS = [
    pytest.param("realesrgan-x4plus", "rrdbnet", 4, None, 16_697_987, id="x4plus"),
    pytest.param("realesrgan-x4plus-anime", "rrdbnet", 4, None, 4_467_779, id="x4plus-anime"),
    pytest.param("realesr-animevideov3-x4", "srvgg", 4, None, 621_424, id="animevideov3-x4"),
    pytest.param("realesr-animevideov3-x3", "srvgg", 3, 0.75, 621_424, id="animevideov3-x3"),
    pytest.param("realesr-animevideov3-x2", "srvgg", 2, 0.5, 621_424, id="animevideov3-x2"),
]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    """Our side on one thread, like ncnn's (see ``one_torch_thread``)."""


def _textured() -> np.ndarray:
    """A deterministic 3xHxW float32 image in [0.13, 0.87]: a ramp, waves, a ring and an 8 px checker."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    ramp = 0.15 + 0.7 * xx / (W - 1)
    wave = 0.5 + 0.35 * np.sin(xx * 0.25 + yy * 0.15)
    checker = 0.2 + 0.6 * (((xx // 8) + (yy // 8)) % 2)
    ring = 0.5 + 0.4 * np.cos(0.02 * ((xx - 20) ** 2 + (yy - 24) ** 2))
    return np.stack([0.6 * ramp + 0.4 * ring, wave, 0.7 * checker + 0.3 * ring]).astype(np.float32)


def _psnr_vs_input(out: np.ndarray, image: np.ndarray, scale: int) -> float:
    """PSNR of the output box-averaged back to input size against the input."""
    c, h, w = image.shape
    down = out.reshape(c, h, scale, w, scale).mean(axis=(2, 4))
    return float(-10.0 * np.log10(np.mean((down - image) ** 2)))


def _ncnn_fp32_net(param: str, binf: str | None = None):
    net = ncnn.Net()
    opt = net.opt
    opt.use_vulkan_compute = False
    opt.use_fp16_storage = False
    opt.use_fp16_packed = False
    opt.use_fp16_arithmetic = False
    opt.use_bf16_storage = False
    opt.use_bf16_packed = False
    opt.use_int8_inference = False
    opt.use_winograd_convolution = False
    opt.use_winograd23_convolution = False
    opt.use_winograd43_convolution = False
    opt.use_winograd63_convolution = False
    opt.num_threads = 1  # the test machine is shared
    assert net.load_param(str(param)) == 0
    if binf is not None:
        assert net.load_model(str(binf)) == 0
    return net


def _ncnn_run(net, image: np.ndarray) -> np.ndarray:
    # ncnn.Mat borrows the numpy buffer: keep `data` alive until extraction is done.
    data = np.ascontiguousarray(image, dtype=np.float32)
    ex = net.create_extractor()
    assert ex.input("data", ncnn.Mat(data)) == 0
    ret, out = ex.extract("output")
    assert ret == 0
    return np.array(out, dtype=np.float32, copy=True)


@pytest.mark.weights
@pytest.mark.parametrize(("name", "family", "scale", "resize", "params"), MODELS)
def test_parity_with_ncnn(model_files, name, family, scale, resize, params):
    # GIVEN the pinned ncnn files of a model
    files = model_files(name)
    # WHEN we convert them and run both runtimes on the same image
    state, info = convert_ncnn(files["param"], files["bin"])
    model = upscale_model(state, output_resize=info.output_resize)
    image = _textured()
    ours = model(torch.from_numpy(image)[None])[0].numpy()
    ref = _ncnn_run(_ncnn_fp32_net(files["param"], files["bin"]), image)
    # THEN the graph facts are the published ones and the pixels agree within TOLERANCE
    assert (info.family, info.scale, info.output_resize, info.storage) == (family, scale, resize, ("fp16",))
    assert (info.input_blob, info.output_blob) == ("data", "output")  # the names _ncnn_run uses
    assert (model.scale, model.net_scale) == (scale, 4)
    # tiling advice (models/upscale.py): RRDBNet 96 px measured; SRVGG its receptive field, +1 for the resize
    assert model.tile_overlap_px == (96 if family == "rrdbnet" else 18 + (resize is not None))
    assert sum(t.numel() for t in state.values()) == params
    assert ours.shape == ref.shape == (3, H * scale, W * scale)
    diff = float(np.abs(ours - ref).max())
    assert diff <= TOLERANCE, f"{name}: max |ours - ncnn| = {diff:.3g} > {TOLERANCE}"
    # and what both computed is an upscale of the input (measured 17.4-22.2 dB; noise would be ~5 dB)
    assert _psnr_vs_input(ref, image, scale) > MIN_PSNR_DB


@pytest.mark.weights
def test_animevideov3_x2_x3_are_the_x4_net_plus_a_resize(model_files):
    """The ncnn x2/x3 graphs carry the x4 weights unchanged and only append a bicubic resize."""
    x4, info4 = convert_ncnn(*(model_files("realesr-animevideov3-x4")[k] for k in ("param", "bin")))
    for name, factor in (("realesr-animevideov3-x2", 0.5), ("realesr-animevideov3-x3", 0.75)):
        sd, info = convert_ncnn(*(model_files(name)[k] for k in ("param", "bin")))
        assert info.output_resize == factor and info4.output_resize is None
        assert sd.keys() == x4.keys() and all(torch.equal(sd[k], x4[k]) for k in sd)


@pytest.mark.weights
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_converted_model_scripts(model_files):
    files = model_files("realesr-animevideov3-x3")
    state, info = convert_ncnn(files["param"], files["bin"])
    model = upscale_model(state, output_resize=info.output_resize)
    scripted = torch.jit.script(model.module)
    x = torch.from_numpy(_textured())[None]
    with torch.no_grad():
        assert torch.equal(scripted(x), model(x))


@pytest.mark.parametrize(
    ("factor", "h", "w"),
    [
        pytest.param(0.5, 192, 160, id="x2-of-x4-output"),
        pytest.param(0.75, 192, 160, id="x3-of-x4-output"),
        pytest.param(0.5, 37, 53, id="odd-0.5"),
        pytest.param(0.75, 37, 53, id="odd-0.75"),
        pytest.param(1.5, 21, 34, id="up-1.5"),
        pytest.param(0.3, 50, 41, id="0.3"),
    ],
)
def test_bicubic_resize_matches_ncnn_interp(tmp_path, factor, h, w):
    """Our output resize against ncnn's own Interp (type 3) layer, on noise outside [0, 1]."""
    param = tmp_path / "interp.param"
    param.write_text(f"7767517\n2 2\nInput in 0 1 data\nInterp r 1 1 data output 0=3 1={factor:e} 2={factor:e}\n")
    image = (np.random.default_rng(0).random((3, h, w), dtype=np.float32) * 1.6 - 0.3).astype(np.float32)
    ref = _ncnn_run(_ncnn_fp32_net(str(param)), image)
    ours = ncnn_bicubic_resize(torch.from_numpy(image)[None], factor)[0].numpy()
    assert ours.shape == ref.shape == (3, int(h * factor), int(w * factor))
    assert float(np.abs(ours - ref).max()) <= RESIZE_TOLERANCE
