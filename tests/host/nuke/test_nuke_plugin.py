"""The Nuke plugin against a hand-written fake ``nuke``: menus, node knobs, Process, cancel, submit.

The CLI runs for real where it is cheap: FF_Interpolate fills a tiny EXR
sequence with the weightless ``blend`` model, and the submit menu writes a
real job bundle with ``framefill farm bundle``.
"""

from __future__ import annotations

import json
import os
import runpy
import stat
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PLUGIN = REPO / "plugins" / "nuke"
CORE = REPO / "core"
# A whole fill of 3 tiny frames, interpreter start included; generous for a shared 2-core box.
RUN_TIMEOUT_S = 120.0

NODE_CLASSES = ("FF_Interpolate", "FF_Upscale", "FF_FlowError")
COMMON_HEAD = ["framefill", "ff_help", "ff_source", "output"]
COMMON_TAIL = ["extra", "process", "status", "ff_node_class", "ff_filled", "ff_running"]
EXPECTED_KNOBS = {
    "FF_Interpolate": COMMON_HEAD + ["model", "device", "frames", "mode", "scale"] + COMMON_TAIL,
    "FF_Upscale": COMMON_HEAD + ["model", "device", "frames", "factor", "size", "tile_px"] + COMMON_TAIL,
    "FF_FlowError": COMMON_HEAD + ["device", "frames", "filled", "truth", "threshold_db", "view", "rerender",
                                   "copy_rerender", "rerender_regions", "regions_file"] + COMMON_TAIL,
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A clean HOME (for ~/.nuke/framefill.json) and the CLI from this repo's Python."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FRAMEFILL_PYTHON", sys.executable)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(CORE), os.environ.get("PYTHONPATH", "")]))
    return tmp_path / "home"


def _wait_for_main_thread_call(fake, timeout_s: float = RUN_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not fake.main_thread_calls:
        if time.monotonic() > deadline:
            pytest.fail("the background run never reported back to the main thread")
        time.sleep(0.05)
    assert fake.run_main_thread() == 1


def _read(fake, path: str, first: int, last: int):
    read = fake.nodes.Read(file=path, first=first, last=last)
    fake.selected = [read]
    return read


# --------------------------------------------------------------------------- init.py and menu.py


def test_init_adds_the_shared_client_in_terminal_mode(fake_nuke):
    fake_nuke.GUI = False
    runpy.run_path(str(PLUGIN / "init.py"))
    assert fake_nuke.plugin_paths == [str(REPO / "plugins" / "common")]
    assert fake_nuke.printed == []


def test_menu_registers_the_toolbar_and_the_render_menu(fake_nuke):
    runpy.run_path(str(PLUGIN / "menu.py"))
    from framefill_nuke import menus, nodes, submit

    toolbar = fake_nuke.menus["Nodes"].submenus["framefill"]
    assert [name for name, _ in toolbar.items] == [
        "FF_Interpolate", "FF_Upscale", "FF_FlowError", "-", "Set framefill Python..."]
    assert toolbar.command("FF_Interpolate") is nodes.create_interpolate
    assert toolbar.command("FF_Upscale") is nodes.create_upscale
    assert toolbar.command("FF_FlowError") is nodes.create_flow_error
    assert toolbar.command("Set framefill Python...") is menus.choose_python
    render = fake_nuke.menus["Nuke"].submenus["Render"]
    assert render.items == [("Submit to Deadline Cloud (framefill)", submit.submit_selected)]


def test_menu_does_nothing_in_terminal_mode(fake_nuke):
    fake_nuke.GUI = False
    from framefill_nuke import menus

    assert menus.install() is None
    assert fake_nuke.menus["Nodes"].items == [] and fake_nuke.menus["Nuke"].items == []


def test_choose_python_saves_the_preference(fake_nuke, home):
    from framefill_nuke import menus

    fake_nuke.next_filename = "/opt/framefill/bin/python3.11"
    menus.choose_python()
    saved = json.loads((home / ".nuke" / "framefill.json").read_text())
    assert saved == {"python": "/opt/framefill/bin/python3.11"}
    assert fake_nuke.messages == ["framefill nodes will run /opt/framefill/bin/python3.11"]


# --------------------------------------------------------------------------- the nodes


@pytest.mark.parametrize("node_class", NODE_CLASSES)
def test_each_node_builds_its_knobs_and_internal_read(fake_nuke, node_class):
    from framefill_nuke import nodes
    from framefill_nuke.jobs import DEVICES, spec_for

    read = _read(fake_nuke, "/shots/a/beauty.####.exr", 1001, 1010)
    group = {"FF_Interpolate": nodes.create_interpolate, "FF_Upscale": nodes.create_upscale,
             "FF_FlowError": nodes.create_flow_error}[node_class]()
    assert group.Class() == "Group" and group.name() == node_class
    assert group.input(0) is read  # created on the selection, as Nuke does
    assert fake_nuke.knob_order[id(group)] == EXPECTED_KNOBS[node_class]
    knob = group.knob
    assert type(knob("framefill")).__name__ == "Tab_Knob"
    assert type(knob("output")).__name__ == "File_Knob"
    assert knob("device").values() == list(DEVICES)
    if spec_for(node_class).models:
        assert knob("model").values() == list(spec_for(node_class).models)
    assert type(knob("process")).__name__ == "PyScript_Knob"
    assert knob("process").value() == "import framefill_nuke.nodes\nframefill_nuke.nodes.process(nuke.thisNode())"
    assert knob("ff_node_class").value() == node_class and fake_nuke.INVISIBLE in knob("ff_node_class").flags
    assert {fake_nuke.INVISIBLE, fake_nuke.DO_NOT_WRITE} <= knob("ff_running").flags
    # Inside: Input1 -> ff_switch -> Output1, with the result Read on the switch's second input.
    inner = {n.name(): n for n in group.children}
    switch, result = inner["ff_switch"], inner["ff_result"]
    assert switch.input(0) is inner["Input1"] and inner["Output1"].input(0) is switch
    assert switch["which"].value() == 0
    if node_class == "FF_FlowError":
        assert switch.input(1) is inner["ff_view"] and inner["ff_view"].input(0) is result
        assert fake_nuke.READ_ONLY in knob("rerender").flags
        assert fake_nuke.STARTLINE in knob("copy_rerender").cleared
        assert "knob_changed" in knob("knobChanged").value()
    else:
        assert switch.input(1) is result
    assert fake_nuke.context == [fake_nuke.root]  # begin/end balanced


def test_process_without_a_read_shows_one_line_and_starts_nothing(fake_nuke, home):
    from framefill_nuke import nodes

    group = nodes.create_interpolate()
    nodes.process(group)
    assert fake_nuke.messages == [
        "framefill: FF_Interpolate: connect its input to a Read node (or a chain of nodes that starts at one)"]
    assert fake_nuke.progress_tasks == [] and group["ff_running"].value() is False


def test_process_refuses_to_write_over_its_input(fake_nuke, home):
    from framefill_nuke import nodes

    _read(fake_nuke, "/shots/a/beauty.%04d.exr", 1, 3)
    group = nodes.create_interpolate()
    group["output"].setValue("/shots/a/beauty.####.exr")
    nodes.process(group)
    assert fake_nuke.messages == [
        "framefill: the output /shots/a/beauty.####.exr is the input sequence; framefill never writes over its input"]


def test_process_fills_a_sequence_in_the_background_and_shows_the_result(fake_nuke, home, tmp_path):
    import numpy as np
    from framefill.frames.exr import image_from_arrays, write_exr
    from framefill_nuke import nodes

    shot = tmp_path / "shot"
    shot.mkdir()
    ramp = np.linspace(0.1, 0.9, 32, dtype=np.float32)[None, :].repeat(24, 0)
    for frame, shift in ((1001, 0), (1003, 2)):  # a small pan: no scene cut
        rgb = np.roll(ramp, shift, axis=1)
        write_exr(shot / f"beauty.{frame:04d}.exr", image_from_arrays({"R": rgb, "G": rgb, "B": rgb}))
    _read(fake_nuke, str(shot / "beauty.%04d.exr"), 1001, 1003)
    group = nodes.create_interpolate()
    group["model"].setValue("blend")
    group["device"].setValue("cpu")
    nodes.process(group)
    assert fake_nuke.messages == []
    assert group["ff_running"].value() is True and group["status"].value() == "processing..."
    assert group["output"].value() == str(shot / "framefill_filled" / "beauty.####.exr")
    _wait_for_main_thread_call(fake_nuke)
    assert fake_nuke.messages == []
    assert group["status"].value() == "1 filled, 2 copied, 0 held"
    assert group["ff_running"].value() is False and group["ff_filled"].value() == "1002"
    result = group.node("ff_result")
    assert result["file"].value() == str(shot / "framefill_filled" / "beauty.####.exr")
    assert (result["first"].value(), result["last"].value()) == (1001, 1003)
    assert result["on_error"].value() == "black" and result["reload"].executed == 1
    assert group.node("ff_switch")["which"].value() == 1
    assert sorted(p.name for p in (shot / "framefill_filled").glob("*.exr")) == [
        "beauty.1001.exr", "beauty.1002.exr", "beauty.1003.exr"]
    task = fake_nuke.progress_tasks[-1]
    assert task.title == "FF_Interpolate: framefill interpolate"
    assert task.progress and task.progress[-1] == 100


def test_a_chained_flow_error_node_scores_the_upstream_result(fake_nuke, home):
    from framefill_nuke import nodes
    from framefill_nuke.jobs import job_argv

    _read(fake_nuke, "/shots/a/beauty.####.exr", 1001, 1009)
    fill = nodes.create_interpolate()
    with pytest.raises(Exception, match="has no result yet"):
        flow_error = nodes.create_flow_error()
        nodes.request_from_node(flow_error)
    fill.node("ff_result")["file"].setValue("/shots/a/framefill_filled/beauty.####.exr")
    fill.node("ff_result")["first"].setValue(1001)
    fill.node("ff_result")["last"].setValue(1009)
    fill.node("ff_switch")["which"].setValue(1)
    fill["ff_filled"].setValue("1002-1008:2")
    request = nodes.request_from_node(flow_error)
    assert job_argv(request, ["framefill"]) == [
        "framefill", "qc", "/shots/a/framefill_filled/beauty.####.exr", "--filled", "1002-1008:2",
        "--report", "/shots/a/framefill_filled/framefill_qc", "--events"]


def _fake_cli(tmp_path: Path, body: str) -> Path:
    """An executable that stands in for the framefill CLI (a preference may name any executable)."""
    script = tmp_path / "fake-framefill"
    script.write_text(f"#!{sys.executable}\nimport json, signal, sys, time\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_cancel_in_the_progress_bar_stops_the_run(fake_nuke, home, tmp_path):
    from framefill_host.settings import set_python
    from framefill_nuke import nodes

    cli = _fake_cli(tmp_path, (
        "def stop(*_):\n"
        "    print(json.dumps({'kind': 'error', 'message': 'interrupted', 'data': {'exit_code': 130}}), flush=True)\n"
        "    sys.exit(130)\n"
        "signal.signal(signal.SIGINT, stop)\n"
        "for i in range(600):\n"
        "    print(json.dumps({'kind': 'frame', 'stage': 'fill', 'done': i, 'total': 600}), flush=True)\n"
        "    time.sleep(0.05)\n"
    ))
    set_python(str(home / ".nuke" / "framefill.json"), str(cli))
    _read(fake_nuke, "/shots/a/beauty.####.exr", 1, 9)
    group = nodes.create_interpolate()
    nodes.process(group)
    deadline = time.monotonic() + 30
    while not (fake_nuke.progress_tasks and fake_nuke.progress_tasks[-1].progress):
        assert time.monotonic() < deadline, "no progress arrived"
        time.sleep(0.02)
    fake_nuke.cancel_progress = True
    _wait_for_main_thread_call(fake_nuke, 30)
    assert group["status"].value() == "cancelled; finished frames are kept, Process again resumes"
    assert fake_nuke.messages == [] and group["ff_running"].value() is False
    assert group.node("ff_switch")["which"].value() == 0


def test_a_failing_cli_shows_its_one_line_error(fake_nuke, home, tmp_path):
    from framefill_host.settings import set_python
    from framefill_nuke import nodes

    cli = _fake_cli(tmp_path, (
        "print(json.dumps({'kind': 'error', 'message': 'frame 5 missing from /s/a.####.exr', "
        "'data': {'exit_code': 2}}), flush=True)\n"
        "print('framefill: error: frame 5 missing from /s/a.####.exr', file=sys.stderr)\n"
        "sys.exit(2)\n"
    ))
    set_python(str(home / ".nuke" / "framefill.json"), str(cli))
    _read(fake_nuke, "/shots/a/beauty.####.exr", 1, 9)
    group = nodes.create_upscale()
    nodes.process(group)
    _wait_for_main_thread_call(fake_nuke, 30)
    assert fake_nuke.messages == ["framefill: frame 5 missing from /s/a.####.exr"]
    assert group["status"].value() == "failed: frame 5 missing from /s/a.####.exr"


def test_flow_error_view_and_copy(fake_nuke):
    from framefill_nuke import nodes

    group = nodes.create_flow_error()
    view = group.node("ff_view")
    group["view"].setValue("ff_risk")
    nodes.knob_changed(group, group["view"])
    assert [view[f"expr{i}"].value() for i in range(4)] == ["ff_risk.Y", "ff_risk.Y", "ff_risk.Y", "a"]
    assert view["disable"].value() is False
    group["view"].setValue("beauty")
    nodes.knob_changed(group, group["view"])
    assert view["disable"].value() is True
    nodes.copy_rerender(group)
    assert fake_nuke.messages == ["framefill: no re-render list yet; press Process first"]
    group["rerender"].setValue("1002-1010x2 1015")
    nodes.copy_rerender(group)  # no QApplication in tests: the list is shown instead
    assert fake_nuke.messages[-1] == "Frames to re-render:\n1002-1010x2 1015"


def test_flow_error_shows_and_copies_the_regions_as_nuke_bboxes(fake_nuke):
    from framefill_host.runner import RunOutcome
    from framefill_nuke import nodes
    from framefill_nuke.jobs import result_view

    # GIVEN a qc run (1920x1080) that lists 1002 with two boxes and 1004 whole
    group = nodes.create_flow_error()
    window = [0, 0, 1919, 1079]
    result = {"rerender": "1002,1004", "qc_json": "/s/qc/qc.json", "frames": [
        {"frame": 1002, "status": "filled", "flagged": True, "regions": {
            "whole_frame": False, "display_window": window, "boxes": [[0, 0, 127, 63], [960, 1040, 1919, 1079]]}},
        {"frame": 1004, "status": "filled", "flagged": True, "regions": {
            "whole_frame": True, "display_window": window, "boxes": []}},
        {"frame": 1006, "status": "filled", "flagged": False}]}
    request = nodes.JobRequest("FF_FlowError", "/s/sh.####.exr", 1001, 1007, "/s/qc")
    # WHEN the run finishes
    nodes.finish(group, request, RunOutcome("ok", 0, "", result))
    # THEN the regions knob shows Nuke bboxes (x y r t, y up from the bottom row, r and t exclusive): the
    # top-left 128x64 box is 0 1016 128 1080, the bottom-right strip 960 0 1920 40; the sidecar is regions.json
    assert group["rerender_regions"].value() == "1002: 0 1016 128 1080 | 960 0 1920 40\n1004: whole frame"
    assert group["regions_file"].value() == "/s/qc/regions.json"
    assert fake_nuke.READ_ONLY in group.knob("regions_file").flags
    nodes.copy_rerender(group)
    assert fake_nuke.messages[-1] == (
        "Frames to re-render:\n1002 1004\nregions (Nuke bbox x y r t, y up; framefill's boxes, y down: "
        "/s/qc/regions.json):\n1002: 0 1016 128 1080 | 960 0 1920 40\n1004: whole frame")
    # a listed frame without regions (a qc.json from before regions) is a whole frame
    assert result_view(request, RunOutcome("ok", 0, "", {"rerender": "1002", "frames": [
        {"frame": 1002, "status": "filled", "flagged": True}]})).regions == "1002: whole frame"


# --------------------------------------------------------------------------- the submit menu


def test_submit_needs_one_selected_framefill_node(fake_nuke, home):
    from framefill_nuke import submit

    _read(fake_nuke, "/shots/a/beauty.####.exr", 1, 9)
    submit.submit_selected()
    assert fake_nuke.messages == [
        "framefill: select one FF_Interpolate, FF_Upscale or FF_FlowError node to submit (0 selected)"]


@pytest.mark.parametrize("with_deadline_gui", [False, True], ids=["save-folder", "deadline-dialog"])
def test_submit_writes_the_bundle_through_the_cli(fake_nuke, home, tmp_path, monkeypatch, with_deadline_gui):
    from framefill_nuke import nodes, submit

    opened: list[dict] = []
    monkeypatch.setattr(submit, "deadline_submitter",
                        (lambda: (lambda **kw: opened.append(kw))) if with_deadline_gui else (lambda: None))
    folder = tmp_path / "bundle"
    folder.mkdir()
    fake_nuke.next_filename = str(folder) + "/"
    _read(fake_nuke, str(tmp_path / "renders" / "sh.%04d.exr"), 1001, 1008)
    node = nodes.create_interpolate()
    node["output"].setValue(str(tmp_path / "filled" / "sh.####.exr"))
    submit.submit_selected()
    _wait_for_main_thread_call(fake_nuke)
    if with_deadline_gui:
        assert fake_nuke.messages == []
        assert len(opened) == 1 and set(opened[0]) == {"input_job_bundle_dir", "parent"}
        bundle = Path(opened[0]["input_job_bundle_dir"])
    else:
        bundle = folder
        assert fake_nuke.messages == [
            f"framefill job bundle saved to {folder}\nSubmit it with: deadline bundle submit {folder}"]
    values = (bundle / "parameter_values.yaml").read_text()
    assert "sh.####.exr" in values and "1001-1008" in values
    assert (bundle / "template.yaml").is_file()
