"""The ONNX models the Copernicus setups reference, run as the ONNX Inference COP runs them, match the core.

GIVEN rife-4 and realesr-animevideov3-x2 exported the way the COP tools export them
(``framefill export onnx --size WxH [--flow-y-up]`` through the real CLI, into the
tools' cache layout) WHEN run in ONNX Runtime at that static size with the COP's
input and output flips (Copernicus layers have row 0 at the bottom) THEN:

- RIFE's flows (pixels) and mask equal the core's (framefill's InterpModel on the
  same frames, through OCIO) within PARITY_TOL, with the y component pointing up;
- the setup's warp (UV Map + flow / size -> UV Sample, texture space, then Blend by
  the mask) done in Houdini's layout equals the core's backward warp and blend;
- the upscaler equals the core's network through OCIO within PARITY_TOL.

Measured on this CPU (torch 2.13, onnxruntime, 96x64): flows [2.2e-5 px], mask
[1.2e-6], warped and blended frame [2.7e-6], upscaler [4.5e-6].
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = [pytest.mark.weights, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

PARITY_TOL = 1e-3  # the bound: flows in pixels, mask and pixels in their own units
WIDTH, HEIGHT = 96, 64


def _texture(h: int, w: int, shift: float) -> np.ndarray:
    """A 1x3xHxW scene-linear frame (row 0 at the top), panned ``shift`` px to the right."""
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    xs = xx - shift
    rgb = np.stack([np.sin(xs * 0.15 + yy * 0.1), np.cos(xs * 0.08 - yy * 0.17), np.sin((xs + yy) * 0.12)])
    return (((rgb * 0.5 + 0.5) ** 2.2) * 1.5)[None].astype(np.float32)


def _rows_flipped(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x[..., ::-1, :])


def _session(path: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _cop(session, layers: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The ONNX Inference COP with input_flip and output_flip: Houdini layers in, Houdini layers out."""
    outputs = session.run(None, {name: _rows_flipped(x) for name, x in layers.items()})
    return [_rows_flipped(o) for o in outputs]


def _export(model: str, cache) -> str:
    """Export as the COP tool does (its command line, its cache layout), with the real CLI."""
    from framefill_host.runner import python_cli, run_cli
    from framefill_houdini import cop_setup

    files = cop_setup.onnx_files(str(cache), model, WIDTH, HEIGHT)
    outcome = run_cli(cop_setup.export_argv(python_cli(), model=model, width=WIDTH, height=HEIGHT,
                                            out_dir=files.folder))
    assert outcome.ok, outcome.message
    assert not cop_setup.export_needed(files, interpolate=model in cop_setup.INTERPOLATE_MODELS)
    return files.onnx


def _uv_sample(layer: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """UV Sample in texture space on a Houdini layer (C x H x W, row 0 at the bottom), bilinear, edges clamped."""
    _, h, w = layer.shape
    x = np.clip(uv[0] * w - 0.5, 0, w - 1)
    y = np.clip(uv[1] * h - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    return (layer[:, y0, x0] * (1 - fx) * (1 - fy) + layer[:, y0, x1] * fx * (1 - fy)
            + layer[:, y1, x0] * (1 - fx) * fy + layer[:, y1, x1] * fx * fy)


def test_rife_in_the_cop_matches_the_core_with_y_up_flows(fake_hou, tmp_path, model_files):
    import torch
    from framefill.color import to_network
    from framefill.models.loading import load_interpolator
    from framefill.ops.warp import backward_warp

    model_files("rife-4")
    onnx = _export("rife-4", tmp_path / "cache")
    meta = json.loads(open(onnx[:-5] + ".json", encoding="utf-8").read())
    assert meta["size"] == [WIDTH, HEIGHT] and meta["dynamic_axes"] == [] and meta["rife_scale"] == 1.0
    assert meta["flow_convention"] == "pixels, x right, y up"
    a, b = _texture(HEIGHT, WIDTH, 0), _texture(HEIGHT, WIDTH, 3)
    t = 0.25
    # The COP: Houdini layers (row 0 at the bottom) in and out.
    flow0_h, flow1_h, mask_h = _cop(_session(onnx), {
        "frame0": _rows_flipped(a), "frame1": _rows_flipped(b),
        "timestep": np.full((1, 1, HEIGHT, WIDTH), t, np.float32)})
    # The core, in its own layout (row 0 at the top, y down), on the same frames.
    net = load_interpolator("rife-4").model.net
    enc = [torch.from_numpy(to_network(x[0].transpose(1, 2, 0)).transpose(2, 0, 1).copy())[None] for x in (a, b)]
    with torch.inference_mode():
        core = net(enc[0], enc[1], t, scale=1.0)
    core_flow, core_mask = core.flow.numpy(), core.mask.numpy()
    y_up = np.array([1.0, -1.0], np.float32).reshape(1, 2, 1, 1)
    assert np.abs(flow0_h - _rows_flipped(core_flow[:, 0:2]) * y_up).max() < PARITY_TOL
    assert np.abs(flow1_h - _rows_flipped(core_flow[:, 2:4]) * y_up).max() < PARITY_TOL
    assert np.abs(mask_h - _rows_flipped(core_mask)).max() < PARITY_TOL
    assert -1.2 < flow0_h[0, 0].mean() < -0.3  # not a trivial answer: a 3 px pan, frame0 lies to the left
    # The setup's warp in Houdini's layout: UV Map + flow * (1/W, 1/H) -> UV Sample; Blend by the mask.
    cols, rows = np.meshgrid(np.arange(WIDTH), np.arange(HEIGHT))
    uv = np.stack([(cols + 0.5) / WIDTH, (rows + 0.5) / HEIGHT]).astype(np.float32)
    texel = np.array([1.0 / WIDTH, 1.0 / HEIGHT], np.float32).reshape(2, 1, 1)
    warp0 = _uv_sample(_rows_flipped(a)[0], uv + flow0_h[0] * texel)
    warp1 = _uv_sample(_rows_flipped(b)[0], uv + flow1_h[0] * texel)
    frame_h = warp1 * (1 - mask_h[0]) + warp0 * mask_h[0]
    flow_t = torch.from_numpy(core_flow)
    with torch.inference_mode():
        want = (backward_warp(torch.from_numpy(a), flow_t[:, 0:2]) * core.mask
                + backward_warp(torch.from_numpy(b), flow_t[:, 2:4]) * (1 - core.mask)).numpy()
    assert np.abs(frame_h - _rows_flipped(want[0])).max() < PARITY_TOL


def test_the_upscaler_in_the_cop_matches_the_core(fake_hou, tmp_path, model_files):
    import torch
    from framefill.color import from_network, to_network
    from framefill.runtime.export import load_export_model

    model_files("realesr-animevideov3-x2")
    onnx = _export("realesr-animevideov3-x2", tmp_path / "cache")
    x = _texture(HEIGHT, WIDTH, 0)
    (got_h,) = _cop(_session(onnx), {"image": _rows_flipped(x)})
    assert got_h.shape == (1, 3, HEIGHT * 2, WIDTH * 2)
    net = load_export_model("realesr-animevideov3-x2").module
    enc = torch.from_numpy(to_network(x[0].transpose(1, 2, 0)).transpose(2, 0, 1).copy())[None]
    with torch.inference_mode():
        out = net(enc)[0].numpy().transpose(1, 2, 0)
    want = from_network(np.ascontiguousarray(out)).transpose(2, 0, 1)[None]
    assert np.abs(got_h - _rows_flipped(want)).max() < PARITY_TOL
    # The flips matter: without them the network sees the image upside down and answers differently.
    (unflipped,) = _session(onnx).run(None, {"image": _rows_flipped(x)})
    assert np.abs(unflipped - _rows_flipped(want)).max() > 10 * PARITY_TOL
