"""Submit to Deadline Cloud from Houdini: the same bundle as the CLI and framefill.api.make_bundle.

GIVEN a saved .hip and its ROP WHEN "Submit to Deadline Cloud (framefill)" runs THEN a
job bundle is written by the framefill CLI (farm bundle --render-step FILE, like every
host): hython renders the ROP's keyframes first, then framefill's sparse_pipeline steps;
the same request typed at the CLI or given to make_bundle writes the same bytes; the
Deadline submitter opens on it when deadline[gui] imports, else the bundle is saved.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CLI = [sys.executable, "-m", "framefill"]
BUNDLE_FILES = ("template.yaml", "parameter_values.yaml", "asset_references.yaml")


def _read(folder: Path, name: str) -> dict:
    return yaml.safe_load((folder / name).read_text())


def _rop(hou):
    rop = hou.node("/out").createNode("karma", "karma1")
    rop.parmTuple("f").set((1001, 1013, 1))
    hou.selection = [rop]
    return rop


def test_the_menu_item_writes_a_bundle_with_the_houdini_render_step_first(fake_hou, monkeypatch, tmp_path):
    from framefill.farm.bundle import read_bundle_values
    from framefill_houdini import shelf, submit

    _rop(fake_hou)
    monkeypatch.setattr(submit, "deadline_submitter", lambda: None)  # no deadline[gui]: the bundle is saved
    fake_hou.answers.extend(["2", "rife-4", "render them on the farm (hython renders the ROP first)",
                             str(tmp_path / "job")])
    bundle = shelf.submit_deadline({}, cli=CLI)
    job = tmp_path / "job"
    assert bundle == str(job)
    assert fake_hou.messages == [("framefill: job bundle saved to {0}; submit it with: deadline bundle submit {0}"
                                  .format(job), "Message")]
    template = _read(job, "template.yaml")
    assert [s["name"] for s in template["steps"]] == ["HoudiniRender", "Fill", "QC", "Report"]
    assert template["steps"][1]["dependencies"] == [{"dependsOn": "HoudiniRender"}]
    run = template["steps"][0]["script"]["actions"]["onRun"]
    assert run["command"] == "hython"
    assert run["args"] == ["-c", submit.RENDER_CODE, "{{Param.HipFile}}", "{{Param.RopPath}}", "{{Task.Param.Frame}}",
                           "{{Param.InputDir}}/sh020_light.karma1.$F4.exr"]
    render = "/shots/sq010/sh020/render"
    assert read_bundle_values(job) == {
        "InputDir": render, "InputPattern": "sh020_light.karma1.####.exr",
        "OutputDir": render + "/framefill_filled", "OutputPattern": "sh020_light.karma1.####.exr",
        "Frames": "1001-1013", "Keyframes": "1001-1013:2", "Filled": "1002-1012:2", "ChunkSize": 8,
        "QcChunkSize": 16, "Model": "rife-4", "Mode": "", "Device": "auto", "Batch": 1,
        "ReportDir": render + "/framefill_filled/framefill_qc", "Threshold": "30.0",
        "CondaPackages": "houdini=20.5", "CondaChannels": "deadline-cloud",
        "HipFile": "/shots/sq010/sh020/sh020_light.hip", "RopPath": "/out/karma1",
    }


def test_the_render_code_renders_one_frame_of_the_rop(tmp_path):
    # The -c code, run against a stand-in hou: loads the .hip and renders the one frame to the override.
    from framefill_houdini import submit

    calls = tmp_path / "calls.json"
    fake = tmp_path / "hou.py"
    fake.write_text(
        "import json, types, sys\n"
        "log = []\n"
        "def _dump(): json.dump(log, open({!r}, 'w'))\n"
        "class _Rop:\n"
        "    def render(self, **kw): log.append(['render', kw]); _dump()\n"
        "hipFile = types.SimpleNamespace(load=lambda path, **kw: log.append(['load', path, kw]))\n"
        "def node(path): return _Rop() if path == '/out/karma1' else None\n".format(str(calls)))
    args = ["/s/a.hip", "/out/karma1", "1005", "/r/a.$F4.exr"]
    done = subprocess.run([sys.executable, "-c", submit.RENDER_CODE, *args], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(tmp_path)}, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(calls.read_text()) == [
        ["load", "/s/a.hip", {"suppress_save_prompt": True, "ignore_load_warnings": True}],
        ["render", {"frame_range": [1005, 1005], "output_file": "/r/a.$F4.exr", "verbose": True}]]
    missing = subprocess.run([sys.executable, "-c", submit.RENDER_CODE, "/s/a.hip", "/out/nope", "1", "/r/a.exr"],
                             cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path)},
                             check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == "framefill: no ROP /out/nope in /s/a.hip"


@pytest.mark.parametrize("render_on_farm", [True, False], ids=["render-on-farm", "rendered-already"])
def test_houdini_the_cli_and_make_bundle_write_the_same_bytes(fake_hou, tmp_path, render_on_farm):
    from framefill.api import make_bundle
    from framefill.requests import BundleRequest
    from framefill_houdini import submit

    request = submit.bundle_request(
        hip_file="/shots/a/a.hip", rop_path="/out/karma1", input_pattern="/shots/a/render/a.####.exr",
        frames=range(1001, 1021), every=3, out_dir=str(tmp_path / "houdini"), model="rife-4", device="cuda",
        threshold_db=31.0, chunk_size=5, houdini_version="21.0", render_on_farm=render_on_farm)
    # WHEN Houdini's route writes it, a user types it at the CLI, and a Python caller uses make_bundle
    houdini = submit.write_bundle(request, cli=CLI)
    typed = [*CLI, "farm", "bundle", "sparse_pipeline", "--out", str(tmp_path / "cli"),
             "--input", request["input_pattern"], "--output", request["output_pattern"],
             "--frames", request["frames"], "--keyframes", request["keyframes"], "--model", request["model"],
             "--report", request["report_dir"], "--chunk-size", str(request["chunk_size"]), "--name", request["name"],
             *[a for k, v in request["params"].items() for a in ("-p", f"{k}={v}")],
             *[a for spec in request.get("conda_packages", []) for a in ("--conda-package", spec)], "--json"]
    if render_on_farm:
        step_file = tmp_path / "step.yaml"
        step_file.write_text(yaml.safe_dump(submit.render_step_document(request), sort_keys=False))
        typed[-1:-1] = ["--render-step", str(step_file)]
    done = subprocess.run(typed, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    fields = {k: v for k, v in request.items() if k not in ("out_dir", "report_dir")}
    fields["render_parameters"] = tuple(fields.get("render_parameters", ()))
    api = make_bundle(BundleRequest(out_dir=tmp_path / "api", report_dir=Path(request["report_dir"]), **fields))
    # THEN the three bundles are the same bytes
    assert houdini == str(tmp_path / "houdini") and api.folder == tmp_path / "api"
    for name in BUNDLE_FILES:
        want = (tmp_path / "houdini" / name).read_bytes()
        assert (tmp_path / "cli" / name).read_bytes() == want, name
        assert (tmp_path / "api" / name).read_bytes() == want, name
    steps = [s["name"] for s in _read(tmp_path / "houdini", "template.yaml")["steps"]]
    assert steps == (["HoudiniRender"] if render_on_farm else []) + ["Fill", "QC", "Report"]
    rows = {r["name"]: r["value"] for r in _read(tmp_path / "houdini", "parameter_values.yaml")["parameterValues"]}
    assert (rows["Keyframes"], rows["Device"], rows["ChunkSize"]) == ("1001-1019:3,1020", "cuda", 5)


def test_the_deadline_submitter_opens_on_the_bundle_when_it_imports(fake_hou, monkeypatch):
    from framefill_houdini import shelf, submit

    opened = []
    monkeypatch.setattr(submit, "deadline_submitter", lambda: lambda **kw: opened.append(kw))
    _rop(fake_hou)
    fake_hou.answers.extend(["2", "rife-4", "are rendered already"])
    bundle = shelf.submit_deadline({}, cli=CLI)
    assert opened == [{"input_job_bundle_dir": bundle}] and Path(bundle, "template.yaml").is_file()
    assert [s["name"] for s in _read(Path(bundle), "template.yaml")["steps"]] == ["Fill", "QC", "Report"]
    assert fake_hou.messages == []


def test_unsaved_files_and_bad_values_are_one_line(fake_hou, monkeypatch, tmp_path):
    from framefill_host import HostError
    from framefill_houdini import shelf, submit

    monkeypatch.setattr(submit, "deadline_submitter", lambda: None)
    _rop(fake_hou)
    fake_hou.dirty = True
    shelf.submit_deadline({}, cli=CLI)
    assert fake_hou.messages == [("framefill: save the .hip first: the farm renders the saved file", "Error")]
    with pytest.raises(HostError, match="with every 1 each frame is a keyframe: nothing to fill"):
        submit.bundle_request(hip_file="/a.hip", rop_path="/out/k", input_pattern="/r/a.####.exr", frames=range(1, 9),
                              every=1, out_dir=str(tmp_path), model="rife-4", device="cpu", threshold_db=30,
                              chunk_size=8, houdini_version="20.5", render_on_farm=True)
    request = submit.bundle_request(hip_file="/a.hip", rop_path="/out/k", input_pattern="/r/a.####.exr",
                                    frames=range(1, 9), every=2, out_dir=str(tmp_path / "bad"), model="rife-4",
                                    device="cuda; touch PWNED", threshold_db=30, chunk_size=8,
                                    houdini_version="20.5", render_on_farm=True)
    with pytest.raises(HostError, match=r"^cannot write the job bundle: -p Device: 'cuda; touch PWNED' is not a "
                                        r"device"):
        submit.write_bundle(request, cli=CLI)
    assert not (tmp_path / "bad").exists() and not list(tmp_path.rglob("PWNED*"))
