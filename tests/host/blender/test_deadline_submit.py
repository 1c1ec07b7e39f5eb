"""Submit to Deadline Cloud from Blender: a job bundle whose first step renders the keyframes.

GIVEN the saved test scene WHEN the Submit to Deadline Cloud operator runs (background: no
dialog) THEN the chosen folder holds a job bundle written by the framefill CLI (`farm bundle
--render-step FILE`, like every host): the Blender render step first, one task per keyframe, then
framefill's sparse_pipeline steps (Fill depends on the render), with the scene's output, frames,
model and QC threshold as values; the same request typed at the CLI or given to
framefill.api.make_bundle writes the same bytes, and a bad value comes back as one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import bpy
import pytest
import yaml
from blender_env import configure_preferences

pytestmark = pytest.mark.blender


@pytest.fixture
def saved_scene(extension, test_scene, tmp_path: Path):
    bpy.ops.wm.open_mainfile(filepath=str(test_scene.blend))
    configure_preferences()
    ff = bpy.context.scene.framefill
    ff.every = 2
    ff.model = "rife-4"
    ff.qc_threshold = 28.5
    ff.farm_folder = str(tmp_path / "job")
    ff.farm_chunk_size = 4
    bpy.ops.wm.save_mainfile()
    yield test_scene
    bpy.ops.wm.open_mainfile(filepath=str(test_scene.blend))


def _read(folder: Path, name: str) -> dict:
    return yaml.safe_load((folder / name).read_text())


def test_submit_writes_a_bundle_with_the_blender_render_step_first(saved_scene, tmp_path: Path) -> None:
    from framefill.farm.bundle import read_bundle_values
    from framefill.farm.templates import (
        plan_job,
        read_template_file,
        resolve_parameter_values,
        validate_template,
    )

    # WHEN the operator runs in background mode
    assert bpy.ops.framefill.submit_deadline() == {"FINISHED"}
    # THEN the bundle is there, validated, the render first and Fill waiting for it
    job = tmp_path / "job"
    template = _read(job, "template.yaml")
    steps = [s["name"] for s in template["steps"]]
    assert steps == ["BlenderRender", "Fill", "QC", "Report"]
    render = template["steps"][0]
    assert template["steps"][1]["dependencies"] == [{"dependsOn": "BlenderRender"}]
    assert render["script"]["actions"]["onRun"]["command"] == "blender"
    assert render["script"]["actions"]["onRun"]["args"] == [
        "--background", "{{Param.BlendFile}}", "--render-output", "{{Param.InputDir}}/shot_####.exr",
        "--render-frame", "{{Task.Param.Frame}}"]
    out_dir = saved_scene.blend.parent / "render"
    values = read_bundle_values(job)
    assert values == {
        "InputDir": str(out_dir / ".framefill" / "rendered"), "InputPattern": "shot_####.exr",
        "OutputDir": str(out_dir), "OutputPattern": "shot_####.exr",
        "Frames": "1001-1013", "Keyframes": "1001-1013:2", "Filled": "1002-1012:2",
        "ChunkSize": 4, "QcChunkSize": 16, "Model": "rife-4", "Mode": "", "Device": "cpu", "Batch": 1,
        "ReportDir": str(out_dir / "qc_report"), "Threshold": "28.5",
        "CondaPackages": "blender={}.{}".format(*bpy.app.version[:2]), "CondaChannels": "deadline-cloud",
        "BlendFile": str(saved_scene.blend),
    }
    # The render step's tasks are the keyframes; the rendered folder is a job output.
    tpl = validate_template(read_template_file(job / "template.yaml"))
    resolved = resolve_parameter_values(tpl, values, template_dir=job)
    plan = plan_job(tpl, resolved)
    assert [s.name for s in plan.steps] == steps
    assert [t["Frame"] for t in plan.steps[0].tasks] == [str(f) for f in range(1001, 1014, 2)]
    refs = _read(job, "asset_references.yaml")["assetReferences"]
    assert refs["inputs"]["filenames"] == [str(saved_scene.blend)]
    assert str(out_dir / ".framefill" / "rendered") in refs["outputs"]["directories"]


def test_blender_submit_and_the_cli_write_the_same_bytes(saved_scene, ext_module, tmp_path: Path) -> None:
    from framefill.api import make_bundle
    from framefill.requests import BundleRequest

    submit, host_api = ext_module("submit"), ext_module("host_api")
    scene = bpy.context.scene
    # GIVEN one request, with the Blender render step
    request = submit.bundle_request(
        blend_file=str(saved_scene.blend), output_pattern=host_api.output_pattern(scene),
        frames=host_api.scene_frames(scene), every=3, out_dir=str(tmp_path / "blender"), model="rife-hdv3",
        device="cuda", threshold_db=31.0, chunk_size=5, blender_version="5.0")
    cli = [sys.executable, "-m", "framefill"]
    argv = submit.write_bundle_argv(request, cli=cli, render_step_file="/tmp/step.json")
    assert argv[:7] == [*cli, "farm", "bundle", "sparse_pipeline", "--out"] and argv[-1] == "--events"
    assert argv[argv.index("--render-step") + 1] == "/tmp/step.json"
    # WHEN Blender's submit writes it (through the CLI), a user types it at the CLI with a YAML
    # step file, and a Python caller gives it to framefill.api.make_bundle
    before = set(Path(tempfile.gettempdir()).glob("framefill-render-step-*"))
    blender = submit.write_bundle(request, cli=cli)
    step_file = tmp_path / "step.yaml"
    step_file.write_text(yaml.safe_dump(submit.render_step_document(request), sort_keys=False), encoding="utf-8")
    typed = [*cli, "farm", "bundle", "sparse_pipeline", "--out", str(tmp_path / "cli"),
             "--input", request["input_pattern"], "--output", request["output_pattern"],
             "--frames", request["frames"], "--keyframes", request["keyframes"], "--model", request["model"],
             "--chunk-size", str(request["chunk_size"]), "--name", request["name"], "--render-step", str(step_file),
             *[a for k, v in request["params"].items() for a in ("-p", f"{k}={v}")],
             *[a for spec in request.get("conda_packages", []) for a in ("--conda-package", spec)], "--json"]
    done = subprocess.run(typed, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    fields = {k: v for k, v in request.items() if k != "out_dir"}
    fields["render_parameters"] = tuple(fields["render_parameters"])
    api_result = make_bundle(BundleRequest(out_dir=tmp_path / "api", **fields))
    # THEN the three bundles are the same bytes, the Blender render step first
    assert blender == str(tmp_path / "blender")
    assert json.loads(done.stdout)["bundle"] == str(tmp_path / "cli")
    assert api_result.folder == tmp_path / "api"
    for name in ("template.yaml", "parameter_values.yaml", "asset_references.yaml"):
        want = (tmp_path / "blender" / name).read_bytes()
        assert (tmp_path / "cli" / name).read_bytes() == want, name
        assert (tmp_path / "api" / name).read_bytes() == want, name
    assert [s["name"] for s in _read(tmp_path / "blender", "template.yaml")["steps"]] == [
        "BlenderRender", "Fill", "QC", "Report"]
    rows = {r["name"]: r["value"] for r in _read(tmp_path / "blender", "parameter_values.yaml")["parameterValues"]}
    assert (rows["Keyframes"], rows["Model"], rows["Device"], rows["ChunkSize"]) == ("1001-1013:3", "rife-hdv3",
                                                                                     "cuda", 5)
    # The temporary step file is gone again.
    assert set(Path(tempfile.gettempdir()).glob("framefill-render-step-*")) == before


def test_submit_refuses_unsaved_files_and_bad_requests(saved_scene, ext_module, tmp_path: Path) -> None:
    submit = ext_module("submit")
    HostError = ext_module("framefill_host").HostError
    # (The "save your changes first" check runs in the UI only: background Blender calls every file dirty.)
    saved = bpy.data.filepath
    bpy.ops.wm.read_homefile(use_empty=True)  # an unsaved, untitled file
    configure_preferences()
    try:
        with pytest.raises(RuntimeError, match="save the .blend first"):
            bpy.ops.framefill.submit_deadline()
    finally:
        bpy.ops.wm.open_mainfile(filepath=saved)
    assert not (tmp_path / "job").exists()
    with pytest.raises(HostError, match="nothing to fill"):
        submit.bundle_request(blend_file="/x.blend", output_pattern="/r/s_####.exr", frames=range(1, 10), every=1,
                              out_dir=str(tmp_path), model="rife-4", device="cpu", threshold_db=30,
                              chunk_size=8, blender_version="5.0")
    request = submit.bundle_request(blend_file="/x.blend", output_pattern="/r/s_####.exr", frames=range(1, 10),
                                    every=2, out_dir=str(tmp_path / "bad"), model="rife-4", device="cpu",
                                    threshold_db=30, chunk_size=8, blender_version="5.0")
    cli = [sys.executable, "-m", "framefill"]
    # A hostile device reaches the CLI as one argument and comes back as its one-line error.
    hostile = {**request, "params": {**request["params"], "Device": "cuda; touch PWNED"}}
    with pytest.raises(HostError, match=r"^cannot write the job bundle: -p Device: 'cuda; touch PWNED' is not a "
                                        r"device; use auto, cpu, cuda, cuda:N or all$"):
        submit.write_bundle(hostile, cli=cli)
    with pytest.raises(HostError, match=r"^cannot write the job bundle: --model 'rife-4\$\(touch PWNED\)' is not a "
                                        r"known interpolate model"):
        submit.write_bundle({**request, "model": "rife-4$(touch PWNED)"}, cli=cli)
    with pytest.raises(HostError, match=r"^cannot write the job bundle: .*--chunk-size"):
        submit.write_bundle({**request, "chunk_size": 0}, cli=cli)
    with pytest.raises(HostError, match=r"^cannot write the job bundle: cannot start /nonexistent/framefill"):
        submit.write_bundle(request, cli=["/nonexistent/framefill"])
    assert not (tmp_path / "bad").exists() and not list(tmp_path.rglob("PWNED*"))


def test_gui_submitter_is_detected_in_the_framefill_python(extension, ext_module) -> None:
    submit = ext_module("submit")
    # deadline[gui] (the Deadline Cloud client with PySide6) is installed in this environment.
    assert submit.gui_submitter_available(sys.executable) is True
    assert submit.gui_submitter_available("/bin/false") is False
    assert submit.gui_submitter_available(None) is False
    assert submit.gui_submit_argv("/py", "/job")[:6] == ["/py", "-m", "deadline", "bundle", "gui-submit", "/job"]
