"""The Deadline re-render job renders regions: framefill's qc job with Blender's region render step first.

GIVEN a regions.json as `framefill qc --report` writes it
WHEN the re-render bundle is written with the framefill CLI (as the Submit operator writes bundles)
THEN its first step re-renders exactly the listed frames, one a task, with the embedded region script, and QC
and Report follow it; and the script itself, run for real in bpy on the test scene, renders the frame's
regions with a render border and patches them into the filled frame (the render inside, the fill outside).
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.blender

BOX = (16, 8, 63, 39)  # in the 96x54 test scene; its middle is past the 8 px seam band


def _regions_file(path: Path, width: int, height: int) -> Path:
    window = [0, 0, width - 1, height - 1]
    path.write_text(json.dumps({"format": "framefill-regions", "version": 1, "frames": {
        "1004": {"whole_frame": False, "boxes": [list(BOX)], "display_window": window, "share": 0.0},
        "1008": {"whole_frame": True, "boxes": [], "display_window": window, "share": 1.0}}}))
    return path


def test_the_rerender_bundle_renders_the_listed_frames_first(ext_module, test_scene, tmp_path):
    from framefill.farm.bundle import read_bundle_values
    from framefill.farm.templates import read_template_file, validate_template

    submit = ext_module("submit")
    regions = _regions_file(tmp_path / "regions.json", 64, 48)
    out = str(tmp_path / "render" / "shot_####.exr")
    request = submit.rerender_bundle_request(
        blend_file=str(test_scene.blend), regions_file=str(regions), output_pattern=out,
        filled=[1002, 1004, 1006, 1008], out_dir=str(tmp_path / "job"), threshold_db=30.0, blender_version="5.0")
    bundle = submit.write_bundle(request, cli=[sys.executable, "-m", "framefill"])
    template = yaml.safe_load((Path(bundle) / "template.yaml").read_text())
    assert [s["name"] for s in template["steps"]] == ["BlenderRegionRender", "QC", "Report"]
    assert template["steps"][1]["dependencies"] == [{"dependsOn": "BlenderRegionRender"}]
    step = template["steps"][0]
    assert step["parameterSpace"]["taskParameterDefinitions"] == [
        {"name": "Frame", "type": "INT", "range": "{{Param.Rerender}}"}]
    assert step["script"]["actions"]["onRun"]["args"] == [
        "--background", "{{Param.BlendFile}}", "--python-exit-code", "1", "--python", "{{Task.File.RenderRegions}}",
        "--", "{{Param.Regions}}", "{{Task.Param.Frame}}",
        "{{Param.OutputDir}}/.framefill/regions/farm/shot_####.exr", "{{Param.OutputDir}}/{{Param.OutputPattern}}"]
    (embedded,) = step["script"]["embeddedFiles"]
    assert embedded["name"] == "RenderRegions" and embedded["data"] == submit.region_render_script()
    values = read_bundle_values(Path(bundle))
    assert {k: values[k] for k in ("Rerender", "Regions", "Filled", "BlendFile", "OutputPattern", "Threshold")} == {
        "Rerender": "1004,1008", "Regions": str(regions), "Filled": "1002-1008:2", "BlendFile": str(test_scene.blend),
        "OutputPattern": "shot_####.exr", "Threshold": "30.0"}
    validate_template(read_template_file(Path(bundle) / "template.yaml"))
    # a regions file that lists nothing is one line
    (tmp_path / "empty.json").write_text(json.dumps({"frames": {}}))
    with pytest.raises(Exception, match="lists no frame to re-render"):
        submit.rerender_bundle_request(blend_file="a.blend", regions_file=str(tmp_path / "empty.json"),
                                       output_pattern=out, filled=[1002], out_dir="job", threshold_db=30.0,
                                       blender_version="5.0")


def test_the_region_script_renders_the_border_and_patches_it_in(ext_module, test_scene, tmp_path, monkeypatch):
    from framefill.atomic import file_sha256
    from framefill.frames import FramePattern, read_exr
    from framefill.frames.exr import pixel_sha256
    from framefill.ops.metrics import psnr
    from framefill.ops.regions import feather_weights
    from framefill.pipeline.manifest import Manifest, ManifestEntry

    submit = ext_module("submit")
    # GIVEN a "filled" frame 1004 that is the render of 1003 (recorded as a fill), and regions for 1004
    filled = FramePattern.parse(str(tmp_path / "filled" / "shot_####.exr"))
    Path(filled.path(1004)).parent.mkdir(parents=True)
    shutil.copyfile(test_scene.truth[1003], filled.path(1004))
    fill = read_exr(filled.path(1004))
    manifest = Manifest(str(filled))
    manifest.put(1004, ManifestEntry("filled", {"sources": [1003, 1005]}, file_sha256(filled.path(1004)),
                                     pixel_sha256(fill)))
    manifest.publish()
    window = fill.parts[0].display_window
    regions = _regions_file(tmp_path / "regions.json", window[2] + 1, window[3] + 1)
    script = tmp_path / "framefill_render_regions.py"
    script.write_text(submit.region_render_script())
    renders = str(tmp_path / "regions" / "shot_####.exr")
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    monkeypatch.setattr(sys, "argv", ["blender", "--", str(regions), "1004", renders, str(filled)])
    bpy.ops.wm.open_mainfile(filepath=str(test_scene.blend))
    try:
        # WHEN the farm task's script runs in Blender
        runpy.run_path(str(script), run_name="__main__")
    finally:
        bpy.ops.wm.open_mainfile(filepath=str(test_scene.blend))
    # THEN the render is full size, black outside the border (the box plus 1 px), rendered inside
    render = read_exr(FramePattern.parse(renders).path(1004))
    part = render.parts[0]
    rgb = np.stack([part.channels[c] for c in sorted(part.channels) if c.endswith((".R", ".G", ".B"))][:3])
    x0, y0, x1, y1 = BOX
    outside = np.ones(rgb.shape[1:], bool)
    outside[y0 - 1:y1 + 2, x0 - 1:x1 + 2] = False
    assert part.data_window == part.display_window == window
    assert not rgb[:, outside].any() and rgb[:, y0:y1 + 1, x0:x1 + 1].all()
    # ... and it is patched in: the render where the seam band is done, the fill bit for bit outside the box,
    # and inside the box the real render of 1004
    out = read_exr(filled.path(1004))
    weight = feather_weights([BOX], window, frame=window)
    truth = read_exr(test_scene.truth[1004])
    for got, before, real, rendered in zip(out.parts, fill.parts, truth.parts, render.parts, strict=True):
        for name, arr in got.channels.items():
            assert np.array_equal(arr[weight == 0], before.channels[name][weight == 0]), name
            assert np.array_equal(arr[weight == 1], rendered.channels[name][weight == 1]), name
        if got.name.endswith("Combined"):
            # not bit-identical: the denoiser sees less around a border (measured 43.4 dB here)
            a, b = (np.stack([p.channels[f"{got.name}.{c}"][weight == 1] for c in "RGB"]) for p in (got, real))
            assert a.shape == (3, 32 * 16) and psnr(np.clip(a, 0, 1), np.clip(b, 0, 1)) >= 40.0
    record = Manifest(str(filled)).get(1004).extra["patch"][-1]
    assert record["regions"]["boxes"] == [list(BOX)]
