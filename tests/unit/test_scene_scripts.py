"""The procedural scene scripts (bench/scenes) and the sample shot they rendered into the package.

GIVEN the bench scene scripts (bpy + OpenEXR + numpy, never framefill) WHEN they render or pack
frames THEN every frame is one single-part EXR with exactly the agreed HALF channels, and the
committed sample shot stays within its size budget with real HDR values. Tests that render need
bpy (`blender` marker); they render 64x36 frames in a child process, a few seconds each.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

REPO = Path(__file__).resolve().parents[2]
SCENES_DIR = REPO / "bench" / "scenes"
SAMPLE_DIR = REPO / "core" / "framefill" / "data" / "sample_shot"
CHANNELS = ["A", "B", "G", "IndexOB.X", "N.X", "N.Y", "N.Z", "R", "depth.Z"]
SAMPLE_FRAMES = list(range(1001, 1025))
SAMPLE_RES = (480, 270)
SAMPLE_MAX_BYTES = 5_000_000  # the repo's budget for the bundled shot (hard limit)
HALF_MAX = 65504.0


@pytest.fixture
def scene_mod(monkeypatch):
    """Import a bench/scenes module by name (they import each other as top-level modules)."""
    monkeypatch.syspath_prepend(str(SCENES_DIR))

    def _load(name: str):
        return importlib.import_module(name)

    return _load


def _read(path: Path) -> tuple[dict[str, np.ndarray], dict, int]:
    with OpenEXR.File(str(path), separate_channels=True) as f:
        parts = len(f.parts)
        return {k: np.array(v.pixels, copy=True) for k, v in f.channels().items()}, dict(f.header()), parts


# ---------------------------------------------------------------------------------------------
# Pure parts (no bpy)
# ---------------------------------------------------------------------------------------------


def test_frame_range_and_resolution_parsing(scene_mod):
    catalog = scene_mod("catalog")
    fr = catalog.FrameRange.parse("1001-1032")
    assert (fr.first, fr.last, len(fr.frames)) == (1001, 1032, 32)
    assert catalog.FrameRange.parse((5, 7)) == catalog.FrameRange(5, 7)
    assert catalog.FrameRange.parse("12") == catalog.FrameRange(12, 12)
    assert fr.t(1001) == 0.0 and fr.t(1032) == 1.0
    assert catalog.parse_res("320x180") == (320, 180)
    for bad in ("1032-1001", "a-b", "1-2-3"):
        with pytest.raises(catalog.SceneScriptError):
            catalog.FrameRange.parse(bad)
    for bad in ("320", "4x4", "wide"):
        with pytest.raises(catalog.SceneScriptError):
            catalog.parse_res(bad)


def test_catalog_lists_the_sample_and_the_qc_family(scene_mod):
    catalog = scene_mod("catalog")
    assert list(catalog.SCENE_DEFAULTS) == [
        "sample", "fast_spin", "trip_fall", "whip_pan", "thin_structures", "motion_blur",
        "particles", "cut", "easy_drift", "easy_pan",
    ]
    sample = catalog.SCENE_DEFAULTS["sample"]
    assert (sample.res, sample.frames, sample.compression) == (SAMPLE_RES, (1001, 1024), "dwab")
    for spec in catalog.SCENE_DEFAULTS.values():
        assert 24 <= spec.frames[1] - spec.frames[0] + 1 <= 48
    assert catalog.cut_frame(1001, 1032) == 1017


def _blender_layers(h: int = 4, w: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    layers = {f"Combined.{c}": rng.random((h, w), dtype=np.float32) for c in "RGBA"}
    layers["Combined.R"][0, 0] = 70000.0  # beyond HALF: must clamp, not become inf
    layers["Depth.Z"] = np.full((h, w), 1e10, np.float32)  # Blender's "no hit"
    layers["Depth.Z"][1, :] = 3.25
    for c in "XYZ":
        layers[f"Normal.{c}"] = np.zeros((h, w), np.float32)
    layers["Normal.Z"][:] = 1.0000001
    layers["Object Index.X"] = np.zeros((h, w), np.float32)
    layers["Object Index.X"][2, :] = 2.9999
    layers["Noisy Image.R"] = np.ones((h, w), np.float32)  # extra passes are dropped
    return layers


def test_pack_channels_maps_blender_passes_to_the_half_layout(scene_mod):
    exr_io = scene_mod("exr_io")
    out = exr_io.pack_channels(_blender_layers())
    assert sorted(out) == CHANNELS
    assert all(v.dtype == np.float16 and v.shape == (4, 6) for v in out.values())
    assert out["R"][0, 0] == np.float16(HALF_MAX)
    assert np.all(np.isfinite(out["R"]))
    assert out["depth.Z"][0, 0] == np.float16(HALF_MAX) and out["depth.Z"][1, 0] == np.float16(3.25)
    assert np.all(out["N.Z"] == np.float16(1.0))
    assert sorted(np.unique(out["IndexOB.X"]).tolist()) == [0.0, 3.0]


def test_pack_channels_rejects_missing_passes_and_huge_indices(scene_mod):
    exr_io = scene_mod("exr_io")
    catalog = scene_mod("catalog")
    layers = _blender_layers()
    del layers["Depth.Z"]
    with pytest.raises(catalog.SceneScriptError, match="Depth.Z"):
        exr_io.pack_channels(layers)
    layers = _blender_layers()
    layers["Object Index.X"][0, 0] = 3000.0
    with pytest.raises(catalog.SceneScriptError, match="2048"):
        exr_io.pack_channels(layers)


def test_write_exr_is_single_part_exact_and_atomic(scene_mod, tmp_path):
    exr_io = scene_mod("exr_io")
    chans = exr_io.pack_channels(_blender_layers())
    given = dict(chans)
    path = tmp_path / "out" / "x.0001.exr"
    exr_io.write_exr(path, chans, compression="zip", attributes={"framefill/scene": "t"})
    assert chans.keys() == given.keys() and all(chans[k] is given[k] for k in chans)  # inputs untouched
    assert [p.name for p in path.parent.iterdir()] == ["x.0001.exr"]  # no temp file left behind
    back, header, parts = _read(path)
    assert parts == 1
    assert sorted(back) == CHANNELS
    for k in CHANNELS:
        assert back[k].dtype == np.float16
        assert back[k].tobytes() == chans[k].tobytes()
    dw = [v.tolist() for v in header["dataWindow"]]
    assert dw == [[0, 0], [5, 3]] == [v.tolist() for v in header["displayWindow"]]
    assert header["compression"] == OpenEXR.ZIP_COMPRESSION
    assert header["type"] == OpenEXR.scanlineimage
    assert header["framefill/scene"] == "t"


def test_dwab_keeps_data_channels_lossless(scene_mod, tmp_path):
    """DWA is lossy on names ending R/G/B/Y only: depth, N.X, N.Z, index and alpha survive exactly."""
    exr_io = scene_mod("exr_io")
    rng = np.random.default_rng(2)
    chans = {c: (rng.random((64, 64)) * 4).astype(np.float16) for c in CHANNELS}
    chans["IndexOB.X"] = rng.integers(0, 40, (64, 64)).astype(np.float16)
    path = tmp_path / "d.exr"
    exr_io.write_exr(path, chans, compression="dwab")
    back, header, _ = _read(path)
    assert header["compression"] == OpenEXR.DWAB_COMPRESSION
    for k in ("A", "depth.Z", "N.X", "N.Z", "IndexOB.X"):
        assert back[k].tobytes() == chans[k].tobytes(), k
    assert back["R"].tobytes() != chans["R"].tobytes()  # the beauty really is DCT-compressed
    assert float(np.abs(back["R"].astype(np.float32) - chans["R"]).max()) < 0.5


def test_cache_folder_name_and_key(scene_mod, monkeypatch, tmp_path):
    ensure = scene_mod("ensure")
    catalog = scene_mod("catalog")
    monkeypatch.setenv("FRAMEFILL_SCENES", str(tmp_path / "cache"))
    key = ensure.scripts_key()
    assert re.fullmatch(r"[0-9a-f]{12}", key) and ensure.scripts_key() == key
    folder = ensure.scene_dir("fast_spin", res="64x36", frames="1001-1002", samples=4)
    assert folder == tmp_path / "cache" / f"fast_spin-64x36-1001-1002-4spp-seed0-{key}"
    # Editing any scene script gives a new key (so no stale render is reused).
    copy = tmp_path / "scripts"
    shutil.copytree(SCENES_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(ensure, "HERE", copy)
    assert ensure.scripts_key() == key
    (copy / "scenes.py").write_text((copy / "scenes.py").read_text() + "\n# edited\n")
    assert ensure.scripts_key() != key
    with pytest.raises(catalog.SceneScriptError, match="unknown scene"):
        ensure.ensure_scene("no_such_scene")


# ---------------------------------------------------------------------------------------------
# The committed sample shot (no bpy)
# ---------------------------------------------------------------------------------------------


def test_sample_shot_frames_size_and_readme():
    names = sorted(p.name for p in SAMPLE_DIR.iterdir())
    assert names == sorted([f"shot.{f}.exr" for f in SAMPLE_FRAMES] + ["README.md"])
    total = sum(p.stat().st_size for p in SAMPLE_DIR.iterdir())
    assert total <= SAMPLE_MAX_BYTES, f"sample shot is {total} bytes, budget {SAMPLE_MAX_BYTES}"
    readme = (SAMPLE_DIR / "README.md").read_text()
    assert "render_scene.py sample" in readme and "DWAB" in readme


def test_sample_shot_channels_and_values():
    diffs = []
    prev = None
    beauty_max = 0.0
    for f in SAMPLE_FRAMES:
        chans, header, parts = _read(SAMPLE_DIR / f"shot.{f}.exr")
        assert parts == 1
        assert sorted(chans) == CHANNELS
        assert all(v.dtype == np.float16 and v.shape == SAMPLE_RES[::-1] for v in chans.values())
        assert [v.tolist() for v in header["dataWindow"]] == [[0, 0], [SAMPLE_RES[0] - 1, SAMPLE_RES[1] - 1]]
        assert [v.tolist() for v in header["displayWindow"]] == [v.tolist() for v in header["dataWindow"]]
        assert header["compression"] == OpenEXR.DWAB_COMPRESSION
        assert header["framefill/scene"] == "sample"
        rgb = np.stack([chans[c].astype(np.float32) for c in "RGB"])
        assert np.all(np.isfinite(rgb)) and rgb.min() >= 0.0
        beauty_max = max(beauty_max, float(rgb.max()))
        assert np.all(chans["A"] == 1.0)  # a closed set: every pixel hits geometry
        idx = chans["IndexOB.X"].astype(np.float32)
        assert np.all(idx == np.round(idx)) and len(np.unique(idx)) >= 5
        depth = chans["depth.Z"].astype(np.float32)
        assert np.all(np.isfinite(depth)) and depth.min() > 0.5 and depth.max() < 100.0
        n = np.stack([chans[f"N.{c}"].astype(np.float32) for c in "XYZ"])
        assert np.abs(np.linalg.norm(n, axis=0) - 1).mean() < 0.05  # unit normals (edges blend)
        if prev is not None:
            diffs.append(float(np.abs(rgb - prev).mean()))
        prev = rgb
    assert beauty_max > 2.0  # real highlights survive the lossy beauty compression
    assert min(diffs) > 0.002  # every frame moves ...
    assert max(diffs) > 2.5 * min(diffs)  # ... some slowly, some fast


# ---------------------------------------------------------------------------------------------
# Rendering (bpy)
# ---------------------------------------------------------------------------------------------


def _require_bpy() -> None:
    # find_spec, not import: bpy loads all of Blender, and the renders run in child processes.
    if importlib.util.find_spec("bpy") is None:
        pytest.fail("bpy is missing: install the test extras (pip install -e '.[test]' brings bpy==5.0.1)")


@pytest.fixture(scope="module")
def tiny_render(tmp_path_factory):
    """fast_spin frames 1016-1017 at 64x36, 4 spp, through ensure_scene into a private cache."""
    _require_bpy()
    root = tmp_path_factory.mktemp("scenes")
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(SCENES_DIR))
    mp.setenv("FRAMEFILL_SCENES", str(root))
    try:
        ensure = importlib.import_module("ensure")
        folder = ensure.ensure_scene("fast_spin", res="64x36", frames="1016-1017", samples=4, timeout_s=300)
        yield ensure, folder
    finally:
        mp.undo()


@pytest.mark.blender
def test_render_writes_the_agreed_layout(tiny_render):
    _, folder = tiny_render
    assert sorted(p.name for p in folder.iterdir()) == [".complete", "fast_spin.1016.exr", "fast_spin.1017.exr"]
    frames = []
    for f in (1016, 1017):
        chans, header, parts = _read(folder / f"fast_spin.{f}.exr")
        assert parts == 1 and sorted(chans) == CHANNELS
        assert all(v.dtype == np.float16 and v.shape == (36, 64) for v in chans.values())
        assert header["type"] == OpenEXR.scanlineimage and header["compression"] == OpenEXR.ZIP_COMPRESSION
        idx = chans["IndexOB.X"].astype(np.float32)
        assert np.all(idx == np.round(idx))
        assert len(np.unique(idx[idx > 0])) >= 2 and 0.0 in idx  # several objects and the background
        depth = chans["depth.Z"].astype(np.float32)
        assert np.all(np.isfinite(depth)) and depth.min() > 0.0
        geo = idx > 0
        assert depth[geo].max() < 50.0  # objects sit ~8 m from the camera
        assert np.all(depth[~geo] == HALF_MAX)  # no geometry: the largest finite half, never inf
        alpha = chans["A"].astype(np.float32)
        assert alpha.min() == 0.0 and alpha.max() == 1.0  # transparent film: background alpha 0
        frames.append(np.stack([chans[c].astype(np.float32) for c in "RGB"]))
    assert float(np.abs(frames[1] - frames[0]).mean()) > 0.005  # it spins


@pytest.mark.blender
def test_render_is_reproducible_and_subset_consistent(tiny_render, tmp_path):
    """A fresh process rendering frame 1017 alone gives the very bytes of the 1016-1017 render."""
    ensure, folder = tiny_render
    marker = (folder / ".complete").stat().st_mtime_ns
    assert ensure.ensure_scene("fast_spin", res="64x36", frames="1016-1017", samples=4) == folder
    assert (folder / ".complete").stat().st_mtime_ns == marker  # reused, not rendered again
    proc = subprocess.run(
        [sys.executable, str(SCENES_DIR / "render_scene.py"), "fast_spin", "--out", str(tmp_path),
         "--res", "64x36", "--frames", "1017-1017", "--samples", "4"],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "fast_spin.1017.exr").read_bytes() == (folder / "fast_spin.1017.exr").read_bytes()


@pytest.mark.blender
def test_render_cli_rejects_an_unknown_scene(tmp_path):
    _require_bpy()
    proc = subprocess.run([sys.executable, str(SCENES_DIR / "render_scene.py"), "nope", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "unknown scene 'nope'" in proc.stderr and "Traceback" not in proc.stderr
