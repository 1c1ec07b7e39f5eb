"""`--precision bf16` on the CPU: the Real-ESRGAN networks in bfloat16 (oneDNN), close to fp32, the same
bytes on a rerun, recorded where a rerun and QC look; refused where it cannot run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from framefill import api
from framefill.errors import InputError, RequestError
from framefill.frames import read_exr, write_image
from framefill.ops.metrics import psnr
from framefill.requests import UpscaleRequest

pytestmark = pytest.mark.weights
SAMPLE = Path(__file__).resolve().parents[2] / "core" / "framefill" / "data" / "sample_shot"


def _crop(folder: Path) -> str:
    """Two 48x64 crops of the sample shot's beauty as 16-bit PNGs (a real render, not noise)."""
    folder.mkdir(parents=True)
    for f in (1001, 1002):
        part = read_exr(SAMPLE / f"shot.{f}.exr").parts[0]
        rgb = np.stack([part.channels[c].astype(np.float32) for c in "RGB"], axis=-1)[100:148, 200:264]
        write_image(folder / f"img.{f}.png", np.clip(rgb ** (1 / 2.2), 0, 1), bit_depth=16)
    return str(folder / "img.####.png")


def _run(src: str, out: Path, precision: str) -> tuple[dict, np.ndarray]:
    result = api.upscale(UpscaleRequest(src, str(out / "img.####.png"), model="realesr-animevideov3-x4",
                                        device="cpu", precision=precision))
    from framefill.frames import read_image

    return result.to_json(), read_image(out / "img.1001.png")[0]


def test_bf16_is_close_to_fp32_reruns_to_the_same_bytes_and_is_recorded(tmp_path):
    src = _crop(tmp_path / "in")
    fp32_json, fp32 = _run(src, tmp_path / "fp32", "fp32")
    bf16_json, bf16 = _run(src, tmp_path / "bf16", "bf16")
    # Measured 47-51 dB from fp32 on the sample shot (bfloat16 keeps 8 bits of mantissa).
    assert psnr(bf16, fp32) > 42.0
    assert float(np.abs(bf16 - fp32).max()) < 0.1
    jobs = {}
    for name in ("fp32", "bf16"):
        (jobs[name],) = json.loads((tmp_path / name / "framefill.manifest.json").read_text())["sequences"].values()
    assert (jobs["fp32"]["job"]["precision"], jobs["bf16"]["job"]["precision"]) == ("fp32", "bf16")
    # The precision is part of each frame's recipe: a rerun at the other one redoes the frames.
    assert jobs["bf16"]["frames"]["1001"]["recipe"]["precision"] == "bf16"
    assert fp32_json["model"] == bf16_json["model"] == "realesr-animevideov3-x4"
    again = tmp_path / "bf16-again"
    _run(src, again, "bf16")
    for f in (1001, 1002):
        assert (again / f"img.{f}.png").read_bytes() == (tmp_path / "bf16" / f"img.{f}.png").read_bytes()


def test_bf16_is_refused_where_it_cannot_run(tmp_path):
    src = _crop(tmp_path / "in")
    with pytest.raises(InputError, match="fp32 only"):
        api.upscale(UpscaleRequest(src, str(tmp_path / "o" / "img.####.png"), model="fidelity", device="cpu",
                                   precision="bf16"))
    with pytest.raises(RequestError, match="bf16 runs on the torch backend"):
        UpscaleRequest(src, str(tmp_path / "o" / "img.####.png"), backend="onnxruntime", precision="bf16")
    done = subprocess.run([sys.executable, "-m", "framefill", "upscale", src, "--out",
                           str(tmp_path / "c" / "img.####.png"), "--precision", "fp8"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2 and "--precision" in done.stderr and "Traceback" not in done.stderr


def test_bf16_on_a_cpu_without_bfloat16_instructions_warns_in_one_line(tmp_path, monkeypatch):
    from framefill.runtime import device

    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    seen = []
    api.upscale(UpscaleRequest(_crop(tmp_path / "in"), str(tmp_path / "out" / "img.####.png"),
                               model="realesr-animevideov3-x4", device="cpu", precision="bf16"),
                report=lambda e: seen.append(e.message) if e.kind == "warning" else None)
    assert [m for m in seen if "bfloat16" in m] == [
        "--precision bf16: this CPU has no bfloat16 instructions (avx512_bf16 or AMX), so bf16 runs emulated, "
        "about 10x slower than fp32 (measured on an AVX2 CPU); use --precision auto"]
