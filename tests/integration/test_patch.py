"""``framefill patch`` on multi-part EXRs with odd data windows: regions inside, touching the edge and outside the
fill's data window; IDs never blended; alpha and depth patched; full-size renders with QC's regions; resume,
idempotence, and bad region renders refused in one line."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from framefill.atomic import file_sha256
from framefill.errors import CancelledError, InputError
from framefill.frames import FramePattern, read_exr, write_exr
from framefill.frames.exr import ExrImage, part_from_arrays, pixel_sha256
from framefill.ops.regions import Regions, feather_weights
from framefill.pipeline.manifest import Manifest, ManifestEntry
from framefill.pipeline.patch import patch_sequence
from framefill.requests import PatchRequest

DISPLAY = (0, 0, 63, 47)
FILL_WINDOW = (3, 2, 60, 40)  # odd: smaller than the display window on every side
FRAMES = (2, 4)


def _channels(rng: np.random.Generator, window, *, base: float) -> dict[str, dict[str, np.ndarray]]:
    h, w = window[3] - window[1] + 1, window[2] - window[0] + 1
    beauty = {c: (base + rng.random((h, w))).astype(np.float16) for c in "RGB"}
    beauty["A"] = np.full((h, w), base / 4, np.float16)
    beauty["depth.Z"] = (10 * base + rng.random((h, w))).astype(np.float32)
    beauty["object_id.R"] = np.full((h, w), 3.0 if base < 1 else 7.0, np.float32)
    aov = {"diffuse.R": (base + rng.random((h, w))).astype(np.float16),
           "index.I": np.full((h, w), 11 if base < 1 else 42, np.uint32)}
    return {"beauty": beauty, "aov": aov}


def _image(parts: dict[str, dict[str, np.ndarray]], window) -> ExrImage:
    return ExrImage(parts=[part_from_arrays(ch, name=name, origin=window[:2], display_window=DISPLAY)
                           for name, ch in parts.items()])


@pytest.fixture
def shot(tmp_path):
    """Filled frames 2 and 4 (manifest entries written as the fill writes them) and real renders of them."""
    rng = np.random.default_rng(18)
    out = FramePattern.parse(str(tmp_path / "filled" / "shot.####.exr"))
    manifest = Manifest(str(out))
    for f in FRAMES:
        image = _image(_channels(rng, FILL_WINDOW, base=0.25), FILL_WINDOW)
        write_exr(out.path(f), image)
        manifest.put(f, ManifestEntry("filled", {"sources": [f - 1, f + 1]}, file_sha256(out.path(f)),
                                      pixel_sha256(image)))
    manifest.publish()
    truth = {f: _channels(rng, DISPLAY, base=2.0) for f in FRAMES}
    return tmp_path, str(out), truth


def _crop(parts, box):
    return {name: {c: a[box[1]:box[3] + 1, box[0]:box[2] + 1] for c, a in ch.items()} for name, ch in parts.items()}


def _write_region_renders(root: Path, truth, boxes) -> str:
    pattern = FramePattern.parse(str(root / "regions" / "shot.####.exr"))
    for f in FRAMES:
        write_exr(pattern.path(f), _image(_crop(truth[f], boxes[f]), boxes[f]))
    return str(pattern)


def _check_frame(path: str, fill_path_image: ExrImage, truth, box, window) -> None:
    got = read_exr(path)
    weight = feather_weights([box], window, frame=DISPLAY, feather_px=8)
    for part, before in zip(got.parts, fill_path_image.parts, strict=True):
        assert part.data_window == window
        for name, arr in part.channels.items():
            fill = np.zeros_like(arr)
            fx0, fy0, fx1, fy1 = FILL_WINDOW
            fill[fy0 - window[1]:fy1 - window[1] + 1, fx0 - window[0]:fx1 - window[0] + 1] = before.channels[name]
            real = truth[part.name][name][window[1]:window[3] + 1, window[0]:window[2] + 1]
            outside, inside = weight == 0, weight == 1
            assert np.array_equal(arr[outside], fill[outside]), f"{part.name}/{name} changed outside the region"
            assert np.array_equal(arr[inside], real[inside]), f"{part.name}/{name} is not the render inside"
            band = (weight > 0) & (weight < 1)
            assert band.any()
            if name in ("object_id.R", "index.I"):  # IDs switch hard, never blend
                assert np.all((arr[band] == fill[band]) | (arr[band] == real[band]))
                assert np.array_equal(arr[weight >= 0.5], real[weight >= 0.5])
            else:
                lo = np.minimum(fill[band], real[band]).astype(np.float32)
                hi = np.maximum(fill[band], real[band]).astype(np.float32)
                v = arr[band].astype(np.float32)
                assert np.all((v >= lo - 1e-2) & (v <= hi + 1e-2))
                assert np.any((v != fill[band]) & (v != real[band])), f"{name}: no blend in the seam band"


@pytest.mark.parametrize(("box", "window"), [
    pytest.param((16, 10, 39, 29), FILL_WINDOW, id="inside"),
    pytest.param((40, 24, 63, 47), (3, 2, 63, 47), id="touching-the-edge-past-the-data-window"),
    pytest.param((0, 42, 31, 47), (0, 2, 60, 47), id="outside-the-data-window"),
])
def test_region_renders_are_patched_in_every_part_and_channel(shot, box, window):
    root, out, truth = shot
    before = {f: read_exr(FramePattern.parse(out).path(f)) for f in FRAMES}
    renders = _write_region_renders(root, truth, {f: box for f in FRAMES})
    result = patch_sequence(PatchRequest(out, renders=renders))
    assert [f.status for f in result.frames] == ["patched", "patched"]
    assert result.to_json()["region_pixels"] == 2 * (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    for f in FRAMES:
        _check_frame(FramePattern.parse(out).path(f), before[f], truth[f], box, window)
        entry = Manifest(out).get(f)
        record = entry.extra["patch"][-1]
        assert record["regions"]["boxes"] == [list(box)] and record["sha256"] == file_sha256(
            FramePattern.parse(renders).path(f))
        assert entry.file_sha256 == file_sha256(FramePattern.parse(out).path(f))


def test_full_size_renders_take_the_regions_qc_recorded_or_a_regions_file(shot, tmp_path):
    root, out, truth = shot
    full = _write_region_renders(root, truth, {f: DISPLAY for f in FRAMES})
    with pytest.raises(InputError, match="no QC regions for frame 2.*--regions"):
        patch_sequence(PatchRequest(out, renders=full))
    box = (16, 16, 47, 31)
    regions = Regions(DISPLAY, (box,))
    manifest = Manifest(out)
    for f in FRAMES:
        manifest.put(f, manifest.get(f).with_qc({"verdict": {"flagged": True, "regions": regions.to_json()}}))
    before = {f: read_exr(FramePattern.parse(out).path(f)) for f in FRAMES}
    patch_sequence(PatchRequest(out, renders=full, frames=(2,)))
    _check_frame(FramePattern.parse(out).path(2), before[2], truth[2], box, FILL_WINDOW)
    # a regions.json (what qc writes beside qc.json) instead of the manifest
    sidecar = tmp_path / "regions.json"
    sidecar.write_text(json.dumps({"format": "framefill-regions", "frames": {"4": Regions(DISPLAY, (
        (0, 0, 15, 15),)).to_json()}}))
    patch_sequence(PatchRequest(out, renders=full, frames=(4,), regions=sidecar))
    _check_frame(FramePattern.parse(out).path(4), before[4], truth[4], (0, 0, 15, 15), (0, 0, 60, 40))


def _digest(out: str) -> dict[int, str]:
    return {f: hashlib.sha256(Path(FramePattern.parse(out).path(f)).read_bytes()).hexdigest() for f in FRAMES}


def test_rerun_is_idempotent_and_an_interrupted_run_resumes_to_the_same_bytes(shot, tmp_path):
    root, out, truth = shot
    import shutil

    twin_root = tmp_path / "twin"
    shutil.copytree(Path(out).parent, twin_root / "filled")
    twin = str(twin_root / "filled" / "shot.####.exr")
    renders = _write_region_renders(root, truth, {2: (8, 8, 31, 31), 4: (32, 16, 55, 39)})
    patch_sequence(PatchRequest(out, renders=renders))
    once = _digest(out)
    manifest_once = {f: e.to_json() for f, e in Manifest(out).entries().items()}
    again = patch_sequence(PatchRequest(out, renders=renders))
    assert [f.status for f in again.frames] == ["skipped", "skipped"]
    assert _digest(out) == once
    assert {f: e.to_json() for f, e in Manifest(out).entries().items()} == manifest_once
    calls = iter([False, True])
    with pytest.raises(CancelledError):
        patch_sequence(PatchRequest(twin, renders=renders), cancelled=lambda: next(calls))
    resumed = patch_sequence(PatchRequest(twin, renders=renders))
    assert [f.status for f in resumed.frames] == ["skipped", "patched"]
    assert _digest(twin) == once


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "framefill", *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("change", "message"), [
    pytest.param("channels", "differ in channels", id="channels"),
    pytest.param("display", "has display window", id="display-window"),
    pytest.param("parts", "has parts", id="parts"),
])
def test_bad_region_renders_are_refused_in_one_line(shot, change, message):
    root, out, truth = shot
    parts = _crop(truth[2], (8, 8, 31, 31))
    if change == "channels":
        del parts["beauty"]["A"]
    if change == "parts":
        del parts["aov"]
    image = ExrImage(parts=[part_from_arrays(ch, name=n, origin=(8, 8), display_window=(
        (0, 0, 127, 95) if change == "display" else DISPLAY)) for n, ch in parts.items()])
    bad = FramePattern.parse(str(root / "bad" / "shot.####.exr"))
    write_exr(bad.path(2), image)
    before = _digest(out)
    done = _cli("patch", out, "--renders", str(bad), "--frames", "2")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("framefill: error:")]
    assert len(lines) == 1 and message in lines[0] and "shot.0002.exr" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert _digest(out) == before


def test_cli_patch_json(shot):
    root, out, truth = shot
    renders = _write_region_renders(root, truth, {f: (16, 16, 31, 31) for f in FRAMES})
    done = _cli("patch", out, "--renders", renders, "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["patched"] == "2,4" and doc["region_pixels"] == 2 * 256 and doc["frame_pixels"] == 2 * 64 * 48


def _twin(out: str, root: Path) -> str:
    import shutil

    shutil.copytree(Path(out).parent, root / "filled")
    return str(root / "filled" / "shot.####.exr")


def _renders(root: Path, name: str, truth, box, *, gain: float = 1.0) -> str:
    """Region renders of ``box`` for every frame, under ``root/name`` (``gain``: another render of it)."""
    scaled = {f: {p: {c: (a * gain).astype(a.dtype) if a.dtype.kind == "f" else a for c, a in ch.items()}
                  for p, ch in truth[f].items()} for f in FRAMES}
    pattern = FramePattern.parse(str(root / name / "shot.####.exr"))
    for f in FRAMES:
        write_exr(pattern.path(f), _image(_crop(scaled[f], box), box))
    return str(pattern)


def test_a_new_render_of_a_patched_region_replaces_the_patch_from_the_original_fill(shot, tmp_path):
    # GIVEN a frame patched with one render of a box, and a twin of the shot never patched
    root, out, truth = shot
    twin, twin_first = _twin(out, tmp_path / "twin"), _twin(out, tmp_path / "twin_first")
    box = (16, 10, 39, 29)
    first = _renders(root, "first", truth, box)
    second = _renders(root, "second", truth, box, gain=1.5)
    patch_sequence(PatchRequest(out, renders=first, frames=(2,)))
    # WHEN a different render of the same region is patched in
    result = patch_sequence(PatchRequest(out, renders=second, frames=(2,)))
    # THEN the frame is the ORIGINAL fill with the new render merged in (byte-identical to patching the
    # twin with it alone: nothing of the first render survives in the seam band) and the record says so
    patch_sequence(PatchRequest(twin, renders=second, frames=(2,)))
    assert _digest(out)[2] == _digest(twin)[2]
    assert result.frames[0].replaced == (FramePattern.parse(first).path(2),)
    (record,) = Manifest(out).get(2).extra["patch"]
    assert record["sha256"] == file_sha256(FramePattern.parse(second).path(2))
    assert record["replaced"] == [{"source": FramePattern.parse(first).path(2),
                                   "sha256": file_sha256(FramePattern.parse(first).path(2))}]
    # ... a rerun changes nothing, and the first render again replaces the second (the same bytes as the first)
    assert [f.status for f in patch_sequence(PatchRequest(out, renders=second, frames=(2,))).frames] == ["skipped"]
    patch_sequence(PatchRequest(out, renders=first, frames=(2,)))
    patch_sequence(PatchRequest(twin_first, renders=first, frames=(2,)))
    assert _digest(out)[2] == _digest(twin_first)[2] != _digest(twin)[2]


def test_patches_of_other_regions_are_kept_and_reruns_skip_each(shot, tmp_path):
    # GIVEN two disjoint boxes of a frame, rendered one box a render (as Blender's per-box renders)
    root, out, truth = shot
    twin = _twin(out, tmp_path / "twin")
    left, right = (4, 4, 19, 19), (40, 24, 59, 39)
    a, c = _renders(root, "a", truth, left), _renders(root, "c", truth, right)
    a2 = _renders(root, "a2", truth, left, gain=1.5)
    patch_sequence(PatchRequest(out, renders=a, frames=(2,)))
    patch_sequence(PatchRequest(out, renders=c, frames=(2,)))
    assert [r["regions"]["boxes"] for r in Manifest(out).get(2).extra["patch"]] == [[list(left)], [list(right)]]
    # WHEN the first box's render is patched again THEN it is skipped (not re-blended): no byte changes
    before = _digest(out)
    assert [f.status for f in patch_sequence(PatchRequest(out, renders=a, frames=(2,))).frames] == ["skipped"]
    assert _digest(out) == before
    # WHEN a new render of the first box comes THEN it replaces that patch only: the frame is the twin
    # patched with the right box and then the new left render
    patch_sequence(PatchRequest(out, renders=a2, frames=(2,)))
    patch_sequence(PatchRequest(twin, renders=c, frames=(2,)))
    patch_sequence(PatchRequest(twin, renders=a2, frames=(2,)))
    assert _digest(out)[2] == _digest(twin)[2]
    assert [r["sha256"] for r in Manifest(out).get(2).extra["patch"]] == [
        file_sha256(FramePattern.parse(c).path(2)), file_sha256(FramePattern.parse(a2).path(2))]


def test_replacing_a_patch_without_the_original_fill_is_refused_in_one_line(shot):
    root, out, truth = shot
    box = (16, 10, 39, 29)
    patch_sequence(PatchRequest(out, renders=_renders(root, "first", truth, box), frames=(2,)))
    original = Path(out).parent / ".framefill" / "prepatch" / "shot.0002.exr"
    assert original.is_file()
    original.unlink()  # as a frame patched by an older framefill
    before = _digest(out)
    second = _renders(root, "second", truth, box, gain=1.5)
    done = _cli("patch", out, "--renders", second, "--frames", "2")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("framefill: error:")]
    assert "frame 2" in line and "original fill is not kept" in line and "framefill interpolate" in line
    assert _digest(out) == before
