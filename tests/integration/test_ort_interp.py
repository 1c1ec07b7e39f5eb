"""The ONNX Runtime interpolation backend (framefill interpolate --backend onnxruntime) on the CPU provider.

Parity: rife-4's motion from torch and from ONNX Runtime (fp32 both, real weights, the same
inputs) differs by at most FLOW_TOLERANCE_PX in the flows and MASK_TOLERANCE in the mask
(measured on the 100x72 pair below, padded to 128x128: at most 4.1e-5 px and 2.3e-5 at t = 0.5,
3.6e-5 px and 1.4e-6 at t = 0.25; on a 480x270 pair, padded to 512x384: 1.5e-4 px and 2.9e-4).
Reruns on the CPU provider with one thread are bit-identical; the exported file is kept in the
model cache and reused by the next process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ffpaths import REPO
from framefill.errors import UnsupportedModelError
from framefill.frames import read_exr
from framefill.requests import FillRequest, RequestError
from synthetic_shot import write_shot

pytestmark = pytest.mark.weights

# Largest |torch - onnxruntime| allowed on the same inputs: flows in pixels, the mask in [0, 1].
FLOW_TOLERANCE_PX = 5e-4
MASK_TOLERANCE = 5e-4
# A filled frame (half-float EXR) through both backends: |torch - onnxruntime| at most this times max(1, |value|)
# (measured: one half-float step at most, 2.4e-4 in RGB, 4.9e-4 in alpha), and a PSNR over the channel's range of at
# least MIN_FRAME_PSNR_DB (measured 145, 148, 143 dB in R, G, B; 108 dB in alpha).
FRAME_TOLERANCE = 1e-3
MIN_FRAME_PSNR_DB = 100.0


@pytest.fixture
def engine_cache(linked_model_cache):
    """A model cache of links to the real weights, so the test's ONNX files land in a folder of its own."""
    return linked_model_cache("rife-4")


def _pair() -> tuple[object, object]:
    import torch

    g = torch.Generator().manual_seed(0)
    img0 = torch.rand(1, 3, 72, 100, generator=g)
    return img0, torch.roll(img0, 3, dims=3) * 0.9 + 0.05  # moved 3 px right, dimmer


def test_onnxruntime_motion_matches_torch_and_reruns_bit_identical(engine_cache):
    import torch
    from framefill.models import ort_interp
    from framefill.models.loading import load_interpolator
    from framefill.models.ort_interp import OrtRifeInterpolator

    torch.set_num_threads(1)
    img0, img1 = _pair()
    torch_model = load_interpolator("rife-4").model
    before = ort_interp.export_count()
    ort_model = load_interpolator("rife-4", backend="onnxruntime").model
    assert isinstance(ort_model, OrtRifeInterpolator)
    assert (ort_model.provider, ort_model.bit_identical, ort_model.threads) == ("CPUExecutionProvider", True, 1)
    for t in (0.5, 0.25):
        want = torch_model.motion(img0, img1, t)  # type: ignore[arg-type]
        got = ort_model.motion(img0, img1, t)  # type: ignore[arg-type]
        again = ort_model.motion(img0, img1, t)  # type: ignore[arg-type]
        assert got.flow_t0.shape == (1, 2, 72, 100) and got.mask.shape == (1, 1, 72, 100)
        flow_diff = max(float((want.flow_t0 - got.flow_t0).abs().max()),
                        float((want.flow_t1 - got.flow_t1).abs().max()))
        assert flow_diff <= FLOW_TOLERANCE_PX
        assert float((want.mask - got.mask).abs().max()) <= MASK_TOLERANCE
        assert all(torch.equal(a, b) for a, b in ((got.flow_t0, again.flow_t0), (got.flow_t1, again.flow_t1),
                                                   (got.mask, again.mask)))
    # One shape (100x72 pads to 128x128 at scale 1): one export, its sidecar verifying it.
    assert ort_interp.export_count() == before + 1
    (engine,) = (engine_cache / "onnx").glob("*.onnx")
    sidecar = json.loads(engine.with_suffix(".json").read_text())
    assert (sidecar["opset"], sidecar["padded_size"], sidecar["rife_scale"], sidecar["arch"]) == (
        17, [128, 128], 1.0, "rife-4.25")
    import hashlib

    assert sidecar["onnx_sha256"] == hashlib.sha256(engine.read_bytes()).hexdigest()
    # A damaged file is exported again (a new interpolator: sessions are per object).
    engine.write_bytes(engine.read_bytes()[:-100])
    fresh = OrtRifeInterpolator(ort_model.net, ort_model.sha256, name="rife-4", scale=1.0, device="cpu",
                                precision="fp32", threads=1)
    redo = fresh.motion(img0, img1, 0.5)  # type: ignore[arg-type]
    assert ort_interp.export_count() == before + 2
    assert torch.equal(redo.flow_t0, ort_model.motion(img0, img1, 0.5).flow_t0)  # type: ignore[arg-type]


def _framefill(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "core"), "FRAMEFILL_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "framefill", *args], capture_output=True, text=True, env=env,
                          timeout=900)


def test_cli_fill_matches_torch_reruns_the_same_bytes_and_reuses_the_export(tmp_path, engine_cache):
    src = write_shot(tmp_path / "in", (1, 3))
    runs = []
    for out in ("a", "b"):
        done = _framefill("interpolate", src, "--out", str(tmp_path / out / "shot.####.exr"), "--device", "cpu",
                          "--backend", "onnxruntime", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["filled"] == 1
        engines = sorted((engine_cache / "onnx").glob("*.onnx"))
        assert len(engines) == 1
        stat = engines[0].stat()
        runs.append((stat.st_ino, stat.st_mtime_ns))
    assert runs[0] == runs[1]  # the second process read the file the first exported (an export replaces it)
    done = _framefill("interpolate", src, "--out", str(tmp_path / "t" / "shot.####.exr"), "--device", "cpu")
    assert done.returncode == 0, done.stderr
    for frame in (1, 2, 3):
        assert (tmp_path / "a" / f"shot.{frame:04d}.exr").read_bytes() == \
            (tmp_path / "b" / f"shot.{frame:04d}.exr").read_bytes()
    ort_part = read_exr(tmp_path / "a" / "shot.0002.exr").parts[0]
    torch_part = read_exr(tmp_path / "t" / "shot.0002.exr").parts[0]
    for c in "RGBA":
        got, want = (p.channels[c].astype(np.float64) for p in (ort_part, torch_part))
        diff = np.abs(got - want)
        assert bool((diff <= FRAME_TOLERANCE * np.maximum(1.0, np.abs(want))).all())
        peak = float(want.max() - want.min())
        assert 10 * np.log10(peak**2 / max(float((diff**2).mean()), 1e-30)) > MIN_FRAME_PSNR_DB
    manifest = json.loads((tmp_path / "a" / "framefill.manifest.json").read_text())
    (sequence,) = manifest["sequences"].values()
    job = sequence["job"]
    assert (job["backend"], job["provider"], job["providers"], job["bit_identical"], job["ort_threads"]) == (
        "onnxruntime", "CPUExecutionProvider", ["CPUExecutionProvider"], True, 1)
    torch_job = next(iter(json.loads((tmp_path / "t" / "framefill.manifest.json").read_text())["sequences"]
                          .values()))["job"]
    # torch jobs read as before backends existed: no backend field (the golden manifests stay the same)
    assert "backend" not in torch_job and torch_job["bit_identical"] is True
    assert sequence["frames"]["2"]["recipe"]["backend"] == "onnxruntime"  # QC and reruns know what made it
    assert "backend" not in torch_manifest_frame(tmp_path / "t")  # torch recipes are as before backends existed


def torch_manifest_frame(folder: Path) -> dict[str, object]:
    """The recipe of frame 2 in ``folder``'s manifest."""
    manifest = json.loads((folder / "framefill.manifest.json").read_text())
    recipe: dict[str, object] = next(iter(manifest["sequences"].values()))["frames"]["2"]["recipe"]
    return recipe


def test_models_onnxruntime_cannot_run_are_refused_in_one_line(tmp_path, engine_cache):
    from click.testing import CliRunner
    from framefill.cli import _attach_subcommands, cli
    from framefill.models.loading import load_interpolator

    with pytest.raises(RequestError, match="'tensorflow' is not an interpolation backend; use torch, onnxruntime"):
        FillRequest("in.####.exr", "out.####.exr", backend="tensorflow")  # type: ignore[arg-type]
    for name in ("rife-hdv3", "rife-4+hdv3", "flow", "blend"):
        with pytest.raises(UnsupportedModelError, match=f"model {re.escape(name)} .*runs rife-4 only"):
            load_interpolator(name, backend="onnxruntime")
    src = write_shot(tmp_path / "in", (1, 3))
    _attach_subcommands()
    for model, says in (("rife-hdv3", "bisects"), ("flow", "no network"), ("auto", "--model auto's candidates")):
        done = CliRunner().invoke(cli, ["interpolate", src, "--out", str(tmp_path / "out" / "shot.####.exr"),
                                        "--model", model, "--device", "cpu", "--backend", "onnxruntime"])
        assert done.exit_code == 2, done.output
        lines = [line for line in done.output.splitlines() if line.strip()]
        assert len(lines) == 1 and says in lines[0] and "--backend torch" in lines[0], done.output
        assert "Traceback" not in done.output
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.exr"))
    assert not Path(engine_cache / "onnx").exists() or not list((engine_cache / "onnx").glob("*.onnx"))


def test_video_retime_on_onnxruntime_matches_torch_and_records_the_backend(tmp_path, engine_cache):
    """A 4-frame 96x64 clip, 24 -> 48 fps (lossless PNG-in-QuickTime): the in-betweens through both backends
    differ by at most one 8-bit level (measured: identical), and the job (--json) says which backend ran."""
    from fractions import Fraction

    import torch
    from framefill import api
    from framefill.frames.video import read_video
    from framefill.requests import VideoInterpRequest

    pytest.importorskip("av")
    from video_clips import make_clip, render

    torch.set_num_threads(1)
    src = tmp_path / "clip.mov"
    make_clip(src, [render(i + 1) for i in range(4)])  # a soft disc moving 2 px a frame over a gradient
    outputs = {}
    for backend in ("onnxruntime", "torch"):
        out = tmp_path / f"{backend}.mov"
        result = api.interpolate_video(VideoInterpRequest(str(src), str(out), fps=Fraction(48), device="cpu",
                                                          codec="lossless", backend=backend))
        doc = result.to_json()
        assert doc["filled"] > 0 and doc["job"].get("backend", "torch") == backend and doc["job"]["bit_identical"]
        if backend == "onnxruntime":
            assert doc["job"]["provider"] == "CPUExecutionProvider"
        outputs[backend] = [np.rint(f.rgb * 255).astype(np.int16) for f in read_video(out)]
    assert len(outputs["onnxruntime"]) == len(outputs["torch"]) >= 7
    for got, want in zip(outputs["onnxruntime"], outputs["torch"]):
        assert int(np.abs(got - want).max()) <= 1
