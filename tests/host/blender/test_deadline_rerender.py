"""Submit Re-renders to Deadline Cloud: the last Render sparse + fill's QC list as a farm job.

GIVEN a saved scene whose output folder holds the QC output of a Render sparse + fill (qc.json and
regions.json under .framefill/qc/, as `framefill qc --report` writes them)
WHEN the Submit Re-renders operator runs (background: no dialog)
THEN the bundle beside the fill job's folder is framefill's qc job with the BlenderRegionRender step first, one
task per listed frame, reading that regions.json, QC scoring the filled frames again; with no QC output the
button is off and says to run Render Sparse + Fill first, and a QC that listed nothing is one line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import bpy
import pytest
import yaml
from blender_env import configure_preferences

pytestmark = pytest.mark.blender

WINDOW = (0, 0, 95, 53)  # the 96x54 test scene
BOX = (16, 8, 63, 39)


@pytest.fixture
def saved_copy(extension, test_scene, tmp_path: Path):
    """The test scene saved as tmp_path/shot.blend: its output (//render/) and QC folder are the test's own."""
    bpy.ops.wm.open_mainfile(filepath=str(test_scene.blend))
    configure_preferences()
    ff = bpy.context.scene.framefill
    ff.qc_threshold = 28.5
    ff.farm_folder = str(tmp_path / "job")
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    yield tmp_path / "render" / ".framefill" / "qc"
    bpy.ops.wm.open_mainfile(filepath=str(test_scene.blend))


def _write_qc(folder: Path, flagged: dict) -> None:
    """qc.json and regions.json of a QC of the filled frames 1002-1012:2, listing ``flagged`` (frame -> boxes,
    None for the whole frame), written from framefill's own QcResult as `framefill qc --report` writes them."""
    from framefill.ops.regions import Regions
    from framefill.pipeline.qc import FrameQc, QcResult

    frames = tuple(
        FrameQc(f, "filled", f in flagged, regions=None if f not in flagged else Regions(
            WINDOW, boxes=tuple(flagged[f] or ()), whole_frame=flagged[f] is None))
        for f in range(1002, 1013, 2))
    result = QcResult(pattern=str(folder.parents[1] / "shot_####.exr"), threshold_db=28.5, calibration_id="test",
                      calibration_source="default", confidence=0.9, frames=frames, rendered=(), truth=None,
                      cost_per_frame_min=30.0)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qc.json").write_text(json.dumps(result.to_json(), indent=1, sort_keys=True) + "\n")
    (folder / "regions.json").write_text(json.dumps(result.regions_json(), indent=1, sort_keys=True) + "\n")


def test_submit_rerender_writes_the_region_render_job_of_the_qc_list(saved_copy: Path, tmp_path: Path) -> None:
    from framefill.farm.bundle import read_bundle_values
    from framefill.farm.templates import plan_job, read_template_file, resolve_parameter_values, validate_template

    # GIVEN QC listed 1004 (one box) and 1008 (whole frame) of the filled 1002-1012:2
    _write_qc(saved_copy, {1004: [BOX], 1008: None})
    assert bpy.ops.framefill.submit_rerender.poll()
    # WHEN the operator runs
    assert bpy.ops.framefill.submit_rerender() == {"FINISHED"}
    # THEN the bundle is beside the fill job's folder: region renders first, then QC and Report
    job = tmp_path / "job_rerender"
    assert not (tmp_path / "job").exists()
    template = yaml.safe_load((job / "template.yaml").read_text())
    assert [s["name"] for s in template["steps"]] == ["BlenderRegionRender", "QC", "Report"]
    assert template["steps"][1]["dependencies"] == [{"dependsOn": "BlenderRegionRender"}]
    values = read_bundle_values(job)
    regions_file = saved_copy / "regions.json"
    assert {k: values[k] for k in ("Rerender", "Regions", "Filled", "BlendFile", "OutputDir", "OutputPattern",
                                   "Threshold", "CondaPackages")} == {
        "Rerender": "1004,1008", "Regions": str(regions_file), "Filled": "1002-1012:2",
        "BlendFile": str(tmp_path / "shot.blend"), "OutputDir": str(tmp_path / "render"),
        "OutputPattern": "shot_####.exr", "Threshold": "28.5",
        "CondaPackages": "blender={}.{}".format(*bpy.app.version[:2])}
    # one task per listed frame, each reading its regions from the QC's regions.json
    tpl = validate_template(read_template_file(job / "template.yaml"))
    plan = plan_job(tpl, resolve_parameter_values(tpl, values, template_dir=job))
    assert [t["Frame"] for t in plan.steps[0].tasks] == ["1004", "1008"]
    listed = json.loads(Path(values["Regions"]).read_text())["frames"]
    assert {f: (r["boxes"], r["whole_frame"]) for f, r in listed.items()} == {
        "1004": ([list(BOX)], False), "1008": ([], True)}
    refs = yaml.safe_load((job / "asset_references.yaml").read_text())["assetReferences"]
    assert sorted(refs["inputs"]["filenames"]) == sorted([str(tmp_path / "shot.blend"), str(regions_file)])


def _error(text: str) -> str:
    """Blender's RuntimeError text of an operator's one-line ERROR report."""
    return r"^Error: " + re.escape(text) + r"\n?$"


def test_submit_rerender_without_a_qc_list_is_one_line(saved_copy: Path, tmp_path: Path) -> None:
    # No Render sparse + fill yet: the button is off and says what to do
    assert not bpy.ops.framefill.submit_rerender.poll()
    with pytest.raises(RuntimeError, match="no QC output at {}: run Render Sparse \\+ Fill first".format(
            re.escape(str(saved_copy / "regions.json")))):
        bpy.ops.framefill.submit_rerender()
    # regions.json without its qc.json (a run cut off while writing the report)
    _write_qc(saved_copy, {1004: [BOX]})
    (saved_copy / "qc.json").unlink()
    with pytest.raises(RuntimeError, match=_error("no QC output (qc.json, regions.json) in {}: run Render Sparse "
                                                  "+ Fill first".format(saved_copy))):
        bpy.ops.framefill.submit_rerender()
    # QC listed no frame
    _write_qc(saved_copy, {})
    assert json.loads((saved_copy / "regions.json").read_text())["frames"] == {}
    with pytest.raises(RuntimeError, match=_error("QC listed no frame in {}: nothing to re-render".format(
            saved_copy / "qc.json"))):
        bpy.ops.framefill.submit_rerender()
    assert not (tmp_path / "job_rerender").exists()
