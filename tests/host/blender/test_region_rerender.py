"""Region re-render end to end in real bpy: sparse render every 2nd frame -> fill -> qc -> region re-render
(render border) -> patch, scored against a full render.

GIVEN a small scene with a fast, spinning cube over a still set (bench/region_rerender.py's ``local``, 192x108,
8 spp) and its full render
WHEN Render Sparse + Fill runs with re-render on and "Only the Regions" on
THEN every final frame is at or above the QC threshold against the full render, the frames re-rendered as
regions rendered fewer pixels than full frames would, their manifest entries record the patch, and a second
run changes no byte.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import bpy
import pytest
from blender_env import configure_preferences

pytestmark = [pytest.mark.blender, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
THRESHOLD_DB = 30.0
FRAMES = (1001, 1013)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_region_rerender_patches_the_listed_frames(extension, tmp_path):
    for folder in (REPO / "bench", REPO / "bench" / "scenes"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    from framefill.pipeline.manifest import Manifest
    from region_rerender import full_render, psnr_db

    # Building resets Blender to factory settings (the extension off): build in another process.
    blend = tmp_path / "scene.blend"
    script = ("import sys; sys.path[:0] = {!r}; from region_rerender import build; "
              "build('local', __import__('pathlib').Path({!r}), (192, 108), 8, {!r})").format(
        [str(REPO / "bench"), str(REPO / "bench" / "scenes")], str(blend), FRAMES)
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and blend.is_file(), done.stderr[-2000:]
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    truth = full_render(tmp_path / "truth")
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    configure_preferences()
    ff = bpy.context.scene.framefill
    ff.every, ff.qc_threshold, ff.rerender, ff.rerender_regions = 2, THRESHOLD_DB, True, True

    assert bpy.ops.framefill.render_sparse() == {"FINISHED"}
    report = json.loads(bpy.context.scene.framefill.last_report)
    out = tmp_path / "render"
    final = {f: psnr_db(out / f"shot_{f:04d}.exr", p) for f, (p, _) in sorted(truth.items())}
    print("final PSNR:", final, "report:", {k: report[k] for k in ("flagged_frames", "patched_frames",
                                                                    "region_pixels", "region_full_frame_pixels")})
    assert all(v >= THRESHOLD_DB for v in final.values()), final
    patched = report["patched_frames"]
    assert patched, "the spinning cube's frames should be re-rendered as regions"
    assert set(patched) <= set(report["flagged_frames"])
    assert 0 < report["region_pixels"] < report["region_full_frame_pixels"]
    entries = Manifest(str(out / "shot_####.exr")).entries()
    for f in patched:
        record = entries[f].extra["patch"][-1]
        assert record["regions"]["boxes"] and not record["regions"]["whole_frame"]
        assert math.isfinite(final[f])

    # a second run: everything is on disk, the patches are proven done; no byte changes
    before = {p.name: _sha(p) for p in sorted(out.glob("shot_*.exr"))}
    assert bpy.ops.framefill.render_sparse() == {"FINISHED"}
    assert {p.name: _sha(p) for p in sorted(out.glob("shot_*.exr"))} == before
