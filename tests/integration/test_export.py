"""framefill export: TorchScript for Nuke's Inference node and ONNX for Copernicus, on the real weights.

GIVEN the pinned rife-4 and Real-ESRGAN weights WHEN exported THEN the files
script, save and load back; run on odd sizes (853x479) and in half precision;
match the core's own networks on the same inputs; and keep the Inference /
CatFileCreator contract (one tensor in and out, typed knob attributes, no
Optional, no inheritance beyond nn.Module). ONNX files run in onnxruntime and
match torch.

Tolerances (measured on this CPU, torch 2.13, in brackets):
- scripted vs eager, same inputs: bit-identical [0].
- rife-4 vs the core's InterpModel at 853x479, t = 0.3, scale 1, linear input:
  flows FLOW_TOL px, mask MASK_TOL [3.8e-5 px, 4.9e-5]; the gap is the torch
  sRGB curve against OCIO's (2.4e-7) carried through the network. With
  sRGB input (no curve) it is the same computation: EXACT_TOL [0, bit-identical].
- frame variant vs the core's warp of the linear frames (HDR up to 6): FRAME_TOL [4.1e-6].
- upscalers vs the core net through OCIO: UPSCALE_TOL [7e-6].
- fp16 vs fp32 on the CPU: flows max HALF_FLOW_TOL px [0.009], mask
  HALF_MASK_TOL [0.006]; upscaler HALF_UPSCALE_TOL [0.005].
- onnxruntime vs torch: flows ONNX_FLOW_TOL px [4e-4], mask/upscale ONNX_TOL [6e-6].
- the same .pt in torch 1.12.1 (Nuke 14/15) vs torch 2.13: EXACT_TOL [1.4e-6 rife-4, 1.2e-5 x4plus-anime].
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from framefill.color import from_network, to_network
from framefill.ops.warp import backward_warp
from framefill.runtime import export
from torch import nn

pytestmark = [pytest.mark.weights, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
torch.set_num_threads(2)

FLOW_TOL = 1e-3
MASK_TOL = 1e-3
EXACT_TOL = 1e-4
FRAME_TOL = 1e-3
UPSCALE_TOL = 1e-4
HALF_FLOW_TOL = 0.1
HALF_MASK_TOL = 0.05
HALF_UPSCALE_TOL = 0.05
ONNX_FLOW_TOL = 5e-3
ONNX_TOL = 1e-4


def _texture(h: int, w: int, shift: float) -> torch.Tensor:
    """A 1x3xHxW scene-linear frame (values up to ~1.5), panned ``shift`` px to the right."""
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    xs = xx - shift
    rgb = torch.stack([torch.sin(xs * 0.15 + yy * 0.1), torch.cos(xs * 0.08 - yy * 0.17), torch.sin((xs + yy) * 0.12)])
    return ((rgb * 0.5 + 0.5) ** 2.2 * 1.5)[None]


def _ocio_encode(x: torch.Tensor) -> torch.Tensor:
    """framefill.color's OCIO scene-linear -> sRGB, on 1x3xHxW."""
    return torch.from_numpy(to_network(x[0].permute(1, 2, 0).numpy())).permute(2, 0, 1)[None]


def _ocio_decode(x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(from_network(x[0].permute(1, 2, 0).numpy())).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def rife():
    return export.load_export_model("rife-4")


@pytest.fixture(scope="module")
def core_rife():
    from framefill.models.loading import load_interpolator

    return load_interpolator("rife-4").model.net  # the core's InterpModel


@pytest.fixture(scope="module")
def exported(tmp_path_factory, model_files):
    model_files("rife-4")
    out = tmp_path_factory.mktemp("nuke")
    return out, export.export_nuke("rife-4", out, timestep=0.3)


# --------------------------------------------------------------------------- TorchScript round trip


def test_export_writes_the_files_and_they_load_back_bit_identical(exported, rife):
    out, result = exported
    assert sorted(p.name for p in out.iterdir()) == [
        "rife-4.pt", "rife-4_CatFileCreator.nk", "rife-4_frame.pt", "rife-4_frame_CatFileCreator.nk",
        "rife-4_setup.nk"]
    assert [f.role for f in result.files] == ["torchscript", "nk-catfilecreator", "nk-setup", "torchscript",
                                              "nk-catfilecreator"]
    x = torch.cat([_texture(45, 61, 0), _texture(45, 61, 3)], 1)
    for name, variant, channels in (("rife-4.pt", "motion", 5), ("rife-4_frame.pt", "frame", 3)):
        loaded = torch.jit.load(str(out / name))
        eager = export.build_nuke_module(rife, variant=variant, timestep=0.3)
        with torch.inference_mode():
            got, want = loaded(x), eager(x)
        assert got.shape == (1, channels, 45, 61)
        assert torch.equal(got, want)
        assert loaded.timestep == 0.3 and loaded.scale == 1.0 and loaded.linear_input == 1


def test_rife_matches_the_core_at_853x479(exported, core_rife):
    out, _ = exported
    a, b = _texture(479, 853, 0), _texture(479, 853, 6)
    model = torch.jit.load(str(out / "rife-4.pt"))
    with torch.inference_mode():
        got = model(torch.cat([a, b], 1))
        want = core_rife(_ocio_encode(a), _ocio_encode(b), 0.3, scale=1.0)
    assert got.shape == (1, 5, 479, 853) and got.dtype == torch.float32
    flow = want.flow
    # Nuke's vectors are y-up: v is the negated row flow.
    ours = torch.cat([got[:, 0:1], -got[:, 1:2], got[:, 2:3], -got[:, 3:4]], 1)
    assert (ours - flow).abs().max().item() < FLOW_TOL
    assert (got[:, 4:5] - want.mask).abs().max().item() < MASK_TOL
    # Not a trivial answer: a 6 px pan at t = 0.3 is ~-1.8 px back to A and ~+4.2 px on to B.
    assert -2.4 < flow[:, 0].mean().item() < -1.2 and 3.6 < flow[:, 2].mean().item() < 4.8


def test_srgb_input_matches_the_core_to_float_rounding(rife, core_rife):
    a, b = _ocio_encode(_texture(57, 91, 0)), _ocio_encode(_texture(57, 91, 3))
    module = export.script_module(export.build_nuke_module(rife, timestep=0.7, scale=0.5, linear_input=False))
    with torch.inference_mode():
        got = module(torch.cat([a, b], 1))
        want = core_rife(a, b, 0.7, scale=0.5)
    assert (got[:, 0] - want.flow[:, 0]).abs().max().item() < EXACT_TOL
    assert (got[:, 3] + want.flow[:, 3]).abs().max().item() < EXACT_TOL
    assert (got[:, 4] - want.mask[:, 0]).abs().max().item() < EXACT_TOL


def test_frame_variant_warps_the_linear_frames_as_framefill_does(rife, core_rife):
    a, b = _texture(61, 97, 0) * 4.0, _texture(61, 97, 4) * 4.0  # HDR: up to 6.0, never clamped
    module = export.script_module(export.build_nuke_module(rife, variant="frame", timestep=0.5))
    with torch.inference_mode():
        got = module(torch.cat([a, b], 1))
        motion = core_rife(_ocio_encode(a), _ocio_encode(b), 0.5, scale=1.0)
    m = motion.mask
    want = backward_warp(a, motion.flow[:, 0:2]) * m + backward_warp(b, motion.flow[:, 2:4]) * (1 - m)
    assert got.max().item() > 3.0  # HDR survived
    assert (got - want).abs().max().item() < FRAME_TOL


def test_rife_runs_in_half_precision():
    # A model of its own: .half() converts the parameters it shares with the eager net in place.
    module = export.script_module(export.build_nuke_module(export.load_export_model("rife-4")))
    x = torch.cat([_texture(73, 127, 0), _texture(73, 127, 4)], 1)
    with torch.inference_mode():
        full = module(x)
        try:
            half = module.half()(x.half())
        except RuntimeError as err:
            pytest.skip(f"this CPU's torch has no fp16 kernel for an op RIFE uses: {str(err).splitlines()[0]}")
    assert half.dtype == torch.float16 and half.shape == full.shape
    diff = (half.float() - full).abs()
    assert diff[:, :4].max().item() < HALF_FLOW_TOL and diff[:, 4].max().item() < HALF_MASK_TOL


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_tensors_follow_the_input_device_and_dtype_on_cuda(exported, dtype):
    out, _ = exported
    model = torch.jit.load(str(out / "rife-4.pt"), map_location="cuda").to(dtype)
    x = torch.cat([_texture(65, 97, 0), _texture(65, 97, 3)], 1)
    with torch.inference_mode():
        got = model(x.to("cuda", dtype))
        ref = torch.jit.load(str(out / "rife-4.pt"))(x)
    assert got.device.type == "cuda" and got.dtype == dtype
    assert (got.float().cpu() - ref).abs()[:, :4].max().item() < (HALF_FLOW_TOL if dtype == torch.float16 else FLOW_TOL)


# Every op the saved TorchScript code calls, as verified to load and run in torch 1.12.1
# (Nuke 14 and 15): rife-4 (both variants), animevideov3-x3 and x4plus-anime, outputs within
# 1.2e-5 of torch 2.13's. A new name here means: check the file in torch 1.12, then add it.
OPS_LOADABLE_IN_TORCH_1_12 = frozenset({
    "ops.prim.RaiseException", "ops.prim.device", "ops.prim.dtype", "ops.prim.max", "ops.prim.min",
    "torch.__and__", "torch.__is__", "torch.__isnot__", "torch.__not__", "torch.add", "torch.all", "torch.append",
    "torch.arange", "torch.cat", "torch.clamp", "torch.contiguous", "torch.conv2d", "torch.conv_transpose2d",
    "torch.dim", "torch.div", "torch.eq", "torch.expand", "torch.floor", "torch.format", "torch.full",
    "torch.full_like", "torch.gather", "torch.ge", "torch.grid_sampler", "torch.gt", "torch.index_select",
    "torch.is_floating_point", "torch.isnan", "torch.item", "torch.le", "torch.leaky_relu", "torch.leaky_relu_",
    "torch.len", "torch.linspace", "torch.lt", "torch.mul", "torch.ne", "torch.neg", "torch.new_zeros",
    "torch.nn.functional.pad", "torch.ones_like", "torch.pad", "torch.permute", "torch.pixel_shuffle",
    "torch.pixel_unshuffle", "torch.pow", "torch.prelu", "torch.remainder", "torch.reshape", "torch.round",
    "torch.select", "torch.sigmoid", "torch.size", "torch.slice", "torch.sub", "torch.tensor", "torch.to",
    "torch.unsqueeze", "torch.upsample_bilinear2d", "torch.upsample_nearest2d", "torch.view", "torch.warn",
    "torch.where", "torch.zeros_like",
})
_CALL = re.compile(r"\b((?:torch|ops\.prim|ops\.aten)\.[A-Za-z_][\w.]*)\(")


def _ops_called(pt: Path) -> set[str]:
    with zipfile.ZipFile(pt) as archive:
        code = [archive.read(n).decode() for n in archive.namelist() if n.endswith(".py")]
    return {m for text in code for m in _CALL.findall(text)}


def test_saved_code_calls_only_ops_that_nuke_14s_torch_has(exported, tmp_path, model_files):
    out, _ = exported
    model_files("realesr-animevideov3-x3")
    export.export_nuke("realesr-animevideov3-x3", tmp_path)
    for pt in (out / "rife-4.pt", out / "rife-4_frame.pt", tmp_path / "realesr-animevideov3-x3.pt"):
        called = _ops_called(pt)
        assert "torch.upsample_bilinear2d" in called or "torch.upsample_nearest2d" in called  # the scan sees ops
        assert called <= OPS_LOADABLE_IN_TORCH_1_12, sorted(called - OPS_LOADABLE_IN_TORCH_1_12)


_RUN_IN_OLD_TORCH = """
import sys, torch
model = torch.jit.load(sys.argv[1])
x = (torch.arange(6 * 29 * 37, dtype=torch.float32).reshape(1, 6, 29, 37) % 97) / 97.0
with torch.no_grad():
    torch.save(model(x), sys.argv[2])
print(torch.__version__)
"""


def test_rife_export_runs_in_an_older_torch(exported, tmp_path):
    python = os.environ.get("FRAMEFILL_TEST_OLD_TORCH_PYTHON")
    if not python:
        pytest.skip("set FRAMEFILL_TEST_OLD_TORCH_PYTHON to a Python with Nuke's torch (1.12.1 for Nuke 14/15)")
    out, _ = exported
    done = subprocess.run([python, "-c", _RUN_IN_OLD_TORCH, str(out / "rife-4.pt"), str(tmp_path / "old.pt")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    x = (torch.arange(6 * 29 * 37, dtype=torch.float32).reshape(1, 6, 29, 37) % 97) / 97.0
    with torch.inference_mode():
        want = torch.jit.load(str(out / "rife-4.pt"))(x)
    got = torch.load(tmp_path / "old.pt", weights_only=True)
    assert (got - want).abs().max().item() < EXACT_TOL, done.stdout


# --------------------------------------------------------------------------- upscalers


@pytest.mark.parametrize("name,size,scale", [
    # RRDBNet through its 6-block anime variant: the 23-block x4plus scripts the same classes, 4x slower.
    pytest.param("realesrgan-x4plus-anime", (17, 23), 4, id="x4plus-anime"),
    pytest.param("realesr-animevideov3-x4", (45, 61), 4, id="animevideov3-x4"),
    pytest.param("realesr-animevideov3-x3", (45, 61), 3, id="animevideov3-x3"),
])
def test_upscalers_script_run_on_odd_sizes_and_match_the_core(name, size, scale, model_files, tmp_path):
    model_files(name)
    result = export.export_nuke(name, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.pt", f"{name}_CatFileCreator.nk",
                                                          f"{name}_setup.nk"]
    assert result.contracts[0]["output_scale"] == scale
    model = torch.jit.load(str(tmp_path / f"{name}.pt"))
    h, w = size
    x = _texture(h, w, 0)
    loaded = export.load_export_model(name)
    with torch.inference_mode():
        got = model(x)
        want = _ocio_decode(loaded.module(_ocio_encode(x)))
    assert got.shape == (1, 3, h * scale, w * scale)
    assert (got - want).abs().max().item() < UPSCALE_TOL
    if name == "realesr-animevideov3-x4":
        with torch.inference_mode():
            try:
                half = model.half()(x.half())
            except RuntimeError as err:
                pytest.skip(f"no fp16 CPU kernel: {str(err).splitlines()[0]}")
        assert half.dtype == torch.float16
        assert (half.float() - got).abs().max().item() < HALF_UPSCALE_TOL


# --------------------------------------------------------------------------- the contract


def _init_annotations(cls: type) -> dict[str, str]:
    """``self.NAME: TYPE = ...`` annotations in a class's __init__ (what TorchScript types the attributes by)."""
    tree = ast.parse(inspect.getsource(cls.__init__).strip())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Attribute):
            found[node.target.attr] = ast.unparse(node.annotation)
    return found


@pytest.mark.parametrize("variant", ["motion", "frame", "upscale"])
def test_modules_keep_the_inference_contract(variant, rife, model_files):
    if variant == "upscale":
        model_files("realesr-animevideov3-x2")
        loaded = export.load_export_model("realesr-animevideov3-x2")
        module = export.build_nuke_module(loaded)
        knobs = export.nuke_contract(loaded, variant="motion")["knobs"]
    else:
        module = export.build_nuke_module(rife, variant=variant)
        knobs = export.nuke_contract(rife, variant=variant)["knobs"]
    # No inheritance beyond nn.Module, for every framefill class in the tree.
    ours = {type(m) for m in module.modules() if type(m).__module__.startswith("framefill.")}
    assert ours and all(cls.__bases__ == (nn.Module,) for cls in ours), {c: c.__bases__ for c in ours}
    # The top module's attributes: plain float/int, never Optional; the knobs among them.
    annotations = _init_annotations(type(module))
    assert set(annotations.values()) <= {"float", "int"}, annotations
    assert not any("Optional" in a or "None" in a for a in annotations.values())
    scripted = export.script_module(module)
    for name, kind, default in knobs:
        assert annotations[name] == kind
        value = scripted._c.getattr(name)
        assert type(value) is {"float": float, "int": int}[kind] and value == default
    # Exactly one tensor in and one out.
    schema = str(scripted.forward.schema)
    assert re.fullmatch(r"forward\(__torch__\.\S+ self, Tensor x\) -> Tensor", schema), schema


def test_knob_defaults_written_in_the_catfilecreator_match_the_module(exported):
    out, result = exported
    text = (out / "rife-4_CatFileCreator.nk").read_text()
    module = torch.jit.load(str(out / "rife-4.pt"))
    assert [(n, v) for n, _, v in result.contracts[0]["knobs"]] == [
        ("timestep", 0.3), ("scale", 1.0), ("linear_input", 1)]
    for name, kind, default in result.contracts[0]["knobs"]:
        assert getattr(module, name) == default
        assert f"\n {name} {'true' if kind == 'int' and default else repr(float(default))}\n" in text


def test_srgb_curve_literals_equal_the_named_constants():
    x = torch.tensor([-0.5, 0.0, export.SRGB_BREAK_LINEAR, 0.01, 0.18, 1.0, 7.5], dtype=torch.float64)
    enc = export.srgb_encode(x)  # computed in float32, returned as float64
    ref = torch.where(x <= export.SRGB_BREAK_LINEAR, x * export.SRGB_SLOPE,
                      (1 + export.SRGB_OFFSET) * x.clamp(min=1e-12) ** (1 / export.SRGB_GAMMA) - export.SRGB_OFFSET)
    assert torch.allclose(enc, ref, rtol=3e-7, atol=1e-7)
    assert torch.allclose(export.srgb_decode(enc), x, rtol=1e-6, atol=1e-7)
    ocio = torch.from_numpy(to_network(np.stack([x.numpy()] * 3, -1).astype(np.float32))[:, 0]).double()
    assert torch.allclose(enc, ocio, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- ONNX


def test_onnx_rife_runs_in_onnxruntime_and_matches_torch(rife, tmp_path):
    import onnx
    import onnxruntime as ort

    result = export.export_onnx("rife-4", tmp_path, size=(96, 64), rife_scale=1.0)
    path = tmp_path / "rife-4_96x64.onnx"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rife-4_96x64.json", "rife-4_96x64.onnx"]
    proto = onnx.load(str(path))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [export.ONNX_OPSET]
    for value in (*proto.graph.input, *proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        assert all(d.HasField("dim_value") for d in dims), f"{value.name} has a dynamic axis"
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert all(init.data_location != onnx.TensorProto.EXTERNAL for init in proto.graph.initializer)
    sidecar = json.loads((tmp_path / "rife-4_96x64.json").read_text())
    assert sidecar["inputs"] == {"frame0": [1, 3, 64, 96], "frame1": [1, 3, 64, 96], "timestep": [1, 1, 64, 96]}
    assert sidecar["outputs"] == ["flow0", "flow1", "mask"] and sidecar["dynamic_axes"] == []
    assert result.contracts[0]["size"] == [96, 64]
    a, b = _texture(64, 96, 0), _texture(64, 96, 3)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    flow0, flow1, mask = session.run(None, {"frame0": a.numpy(), "frame1": b.numpy(),
                                            "timestep": np.full((1, 1, 64, 96), 0.25, np.float32)})
    module = export.build_nuke_module(rife)
    with torch.inference_mode():
        flow, want_mask = module.motion(a, b, torch.full((1, 1, 1, 1), 0.25), 1.0)
    assert np.abs(flow0 - flow[:, 0:2].numpy()).max() < ONNX_FLOW_TOL
    assert np.abs(flow1 - flow[:, 2:4].numpy()).max() < ONNX_FLOW_TOL
    assert np.abs(mask - want_mask.numpy()).max() < ONNX_TOL
    assert flow0[:, 0].mean() < -0.3  # a 3 px pan: frame0 lies to the left


def test_onnx_upscaler_matches_torch(tmp_path, model_files):
    import onnxruntime as ort

    model_files("realesr-animevideov3-x2")
    export.export_onnx("realesr-animevideov3-x2", tmp_path, size=(41, 33))
    session = ort.InferenceSession(str(tmp_path / "realesr-animevideov3-x2_41x33.onnx"),
                                   providers=["CPUExecutionProvider"])
    x = _texture(33, 41, 0)
    (got,) = session.run(None, {"image": x.numpy()})
    with torch.inference_mode():
        want = export.build_nuke_module(export.load_export_model("realesr-animevideov3-x2"))(x)
    assert got.shape == (1, 3, 66, 82)
    assert np.abs(got - want.numpy()).max() < ONNX_TOL


# --------------------------------------------------------------------------- the CLI


def test_cli_exports_and_refuses_models_it_cannot_export(tmp_path, model_files):
    from click.testing import CliRunner
    from framefill.cli import _attach_subcommands, cli

    model_files("realesr-animevideov3-x2")
    _attach_subcommands()
    runner = CliRunner()
    done = runner.invoke(cli, ["export", "nuke", "--model", "realesr-animevideov3-x2", "--out", str(tmp_path),
                               "--no-linear-input", "--json"])
    assert done.exit_code == 0, done.output
    payload = json.loads(done.output)
    assert [Path(f["path"]).name for f in payload["files"]] == [
        "realesr-animevideov3-x2.pt", "realesr-animevideov3-x2_CatFileCreator.nk", "realesr-animevideov3-x2_setup.nk"]
    assert torch.jit.load(payload["files"][0]["path"]).linear_input == 0
    for model, words in (("rife-hdv3", "predicts only t = 0.5"), ("flow", "classical method")):
        refused = runner.invoke(cli, ["export", "nuke", "--model", model, "--out", str(tmp_path)])
        assert refused.exit_code == 2 and words in refused.output
    bad_size = runner.invoke(cli, ["export", "onnx", "--model", "rife-4", "--size", "wide", "--out", str(tmp_path)])
    assert bad_size.exit_code == 2 and "--size 'wide' is not WIDTHxHEIGHT" in bad_size.output
