"""The ONNX Runtime upscale backend (--backend onnxruntime) on the CPU provider.

Parity: the same tiles through torch and ONNX Runtime (fp32 both) differ by at
most ORT_TORCH_TOLERANCE (measured on 64x48 and 51x37 crops of the sample shot:
at most 6.2e-6 for animevideov3, 2.6e-5 for x4plus, whose 23 residual blocks add
up more rounding; mean 1.5e-7 and 6e-7).
Reruns on the CPU provider with a fixed thread count are bit-identical; the
exported file is kept in the model cache and reused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ffpaths import REPO
from framefill.errors import InputError, UnsupportedModelError
from framefill.frames import read_exr, write_exr
from framefill.frames.exr import ExrImage, part_from_arrays
from framefill.requests import RequestError, UpscaleRequest

pytestmark = pytest.mark.weights

SAMPLE = REPO / "core" / "framefill" / "data" / "sample_shot" / "shot.{frame}.exr"
# Largest |torch - onnxruntime| allowed on the same fp32 tile (network colour space, values ~[0, 1]).
ORT_TORCH_TOLERANCE = {"srvgg": 2e-5, "rrdbnet": 1e-4}


def _crop_proxy(frame: int = 1001) -> np.ndarray:
    """C,H,W float32: a 64x48 crop of the sample shot's display proxy (edges and flat areas both)."""
    from framefill.color import to_network

    part = read_exr(Path(str(SAMPLE).format(frame=frame))).parts[0]
    rgb = np.stack([part.channels[c].astype(np.float32) for c in "RGB"], axis=-1)[100:148, 200:264]
    return np.ascontiguousarray(to_network(rgb).transpose(2, 0, 1), dtype=np.float32)


@pytest.fixture
def engine_cache(linked_model_cache):
    """A model cache of links to the real weights, so the test's ONNX files land in a folder of its own."""
    return linked_model_cache("realesr-animevideov3-x4", "realesrgan-x4plus")


@pytest.mark.parametrize("name", ["realesr-animevideov3-x4", "realesr-animevideov3-x2", "realesrgan-x4plus"])
def test_onnxruntime_matches_torch_on_the_same_tiles(name, engine_cache):
    import torch
    from framefill.models.loading import load_upscaler
    from framefill.models.ort_backend import OrtUpscaleModel
    from framefill.models.upscale import array_fn

    torch.set_num_threads(1)
    torch_model = load_upscaler(name).model
    ort_loaded = load_upscaler(name, backend="onnxruntime")
    ort_model = ort_loaded.model
    assert isinstance(ort_model, OrtUpscaleModel) and ort_model.provider == "CPUExecutionProvider"
    assert ort_model.bit_identical and ort_model.threads == 1
    scale = int(ort_model.scale)
    tile = _crop_proxy()
    # 64x48 and an odd 51x37 (padded to the net's multiple inside, cropped after): one file, any size
    for x in (tile, np.ascontiguousarray(tile[:, :37, :51])):
        want = array_fn(torch_model)(x)
        got = array_fn(ort_model)(x)
        assert got.shape == want.shape == (3, x.shape[1] * scale, x.shape[2] * scale)
        assert float(np.abs(got - want).max()) <= ORT_TORCH_TOLERANCE[ort_model.arch]
        assert float(np.abs(got - want).mean()) <= 1e-6
        assert np.array_equal(array_fn(ort_model)(x), got)  # same bits on a second run


def _write_crop_sequence(folder: Path) -> str:
    """Two 64x48 RGBA frames cropped from the sample shot (half float, as rendered)."""
    folder.mkdir(parents=True)
    for frame in (1001, 1002):
        part = read_exr(Path(str(SAMPLE).format(frame=frame))).parts[0]
        channels = {c: np.ascontiguousarray(part.channels[c][100:148, 200:264]) for c in "RGBA"}
        write_exr(folder / f"crop.{frame}.exr", ExrImage([part_from_arrays(channels)]))
    return str(folder / "crop.####.exr")


def _framefill(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "core"), "FRAMEFILL_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "framefill", *args], capture_output=True, text=True, env=env,
                          timeout=900)


def test_cli_reruns_are_bit_identical_and_reuse_the_exported_file(tmp_path, engine_cache):
    src = _write_crop_sequence(tmp_path / "in")
    runs = []
    for out in ("a", "b"):
        done = _framefill("upscale", src, "--out", str(tmp_path / out / "up.####.exr"), "--model",
                          "realesr-animevideov3-x4", "--device", "cpu", "--backend", "onnxruntime", "--json")
        assert done.returncode == 0, done.stderr
        engines = sorted((engine_cache / "onnx").glob("*.onnx"))
        assert len(engines) == 1
        stat = engines[0].stat()
        runs.append((stat.st_ino, stat.st_mtime_ns))
        assert json.loads(done.stdout)["output_size"] == [256, 192]
    assert runs[0] == runs[1]  # the second run read the file the first exported (an export replaces it)
    for frame in (1001, 1002):
        a = (tmp_path / "a" / f"up.{frame}.exr").read_bytes()
        assert a == (tmp_path / "b" / f"up.{frame}.exr").read_bytes()
    manifest = json.loads((tmp_path / "a" / "framefill.manifest.json").read_text())
    text = json.dumps(manifest)
    assert '"backend": "onnxruntime"' in text and '"provider": "CPUExecutionProvider"' in text
    assert '"bit_identical": true' in text and '"ort_threads": 1' in text
    sidecar = json.loads(engines[0].with_suffix(".json").read_text())
    assert (sidecar["opset"], sidecar["dtype"], sidecar["arch"], sidecar["format"]) == (17, "float32", "srvgg", 1)
    import hashlib

    assert sidecar["onnx_sha256"] == hashlib.sha256(engines[0].read_bytes()).hexdigest()


def test_a_damaged_engine_file_is_exported_again(engine_cache):
    import torch
    from framefill.models import ort_backend
    from framefill.models.loading import load_upscaler
    from framefill.models.upscale import array_fn

    torch.set_num_threads(1)
    before = ort_backend.export_count()
    first = array_fn(load_upscaler("realesr-animevideov3-x4", backend="onnxruntime").model)(_crop_proxy())
    assert ort_backend.export_count() == before + 1
    load_upscaler("realesr-animevideov3-x4", backend="onnxruntime")
    assert ort_backend.export_count() == before + 1  # cached: no export
    (engine,) = (engine_cache / "onnx").glob("*.onnx")
    engine.write_bytes(engine.read_bytes()[:-100])  # truncated: its sha256 no longer matches the sidecar
    again = array_fn(load_upscaler("realesr-animevideov3-x4", backend="onnxruntime").model)(_crop_proxy())
    assert ort_backend.export_count() == before + 2
    assert np.array_equal(first, again)


def test_without_onnxruntime_the_error_says_what_to_install(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from framefill.cli import _attach_subcommands, cli
    from framefill.models.loading import load_upscaler

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    with pytest.raises(InputError, match=r"pip install onnxruntime"):
        load_upscaler("realesr-animevideov3-x4", backend="onnxruntime")
    src = _write_crop_sequence(tmp_path / "in")
    _attach_subcommands()
    done = CliRunner().invoke(cli, ["upscale", src, "--out", str(tmp_path / "out" / "up.####.exr"), "--model",
                                    "realesr-animevideov3-x4", "--device", "cpu", "--backend", "onnxruntime"])
    assert done.exit_code == 2
    lines = [line for line in done.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install onnxruntime" in lines[0] and "Traceback" not in done.output
    assert not (tmp_path / "out" / "up.1001.exr").exists()


def test_bad_backends_and_models_are_refused_in_one_line(engine_cache):
    from framefill.models.loading import load_upscaler

    with pytest.raises(RequestError, match="'tensorflow' is not an upscale backend; use torch, onnxruntime"):
        UpscaleRequest("in.####.exr", "out.####.exr", backend="tensorflow")  # type: ignore[arg-type]
    with pytest.raises(UnsupportedModelError, match="the dat upscaler runs on --backend torch only"):
        load_upscaler("dat-light-x2", backend="onnxruntime")
    from framefill.models.ort_backend import providers_for

    assert providers_for("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert providers_for("cuda:1", ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(InputError, match="pip install onnxruntime-gpu"):
        providers_for("cuda", ["CPUExecutionProvider"])
