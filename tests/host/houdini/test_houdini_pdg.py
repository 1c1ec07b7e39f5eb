"""TOPs: the network the shelf builds, the work items its Python Processors generate, and the task they run.

GIVEN a ROP WHEN "Sparse render + fill (TOPs)" runs THEN /tasks/framefill_sparse holds ROP
Fetch (every Nth frame) -> fill -> qc -> re-render, and each Python Processor's generate
callback, run against a fake item holder, makes the exact work items (commands, expected
outputs, the re-render frames); and the work item command, run for real on a small shot
with the real CLI, prints the OUTPUT_FILE lines PDG reads.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
PYTHONPATH = os.pathsep.join(str(p) for p in (REPO / "plugins" / "common", REPO / "plugins" / "houdini" /
                                              "python3.11libs"))


class File:
    def __init__(self, path: str, tag: str) -> None:
        self.path, self.tag = path, tag


class WorkItem:
    """Only what the generate callbacks use of pdg.WorkItem."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.command = ""
        self.expected: list[tuple[str, str, bool]] = []
        self.int_attribs: dict[str, int] = {}
        self.float_attribs: dict[str, float] = {}
        self.outputFiles: list[File] = []

    def setCommand(self, command: str) -> None:  # noqa: N802 - pdg's spelling
        self.command = command

    def addExpectedOutputFile(self, path: str, tag: str = "", own: bool = True) -> None:  # noqa: N802
        self.expected.append((path, tag, own))

    def setIntAttrib(self, name: str, value: int) -> None:  # noqa: N802
        self.int_attribs[name] = int(value)

    def setFloatAttrib(self, name: str, value: float) -> None:  # noqa: N802
        self.float_attribs[name] = float(value)


class ItemHolder:
    def __init__(self) -> None:
        self.items: list[WorkItem] = []

    def addWorkItem(self, index: int = 0, **kwargs) -> WorkItem:  # noqa: N802
        item = WorkItem(index)
        self.items.append(item)
        return item


def _run_generate(script: str, upstream: list | None = None) -> ItemHolder:
    holder = ItemHolder()
    exec(compile(script, "<generate>", "exec"), {"item_holder": holder, "upstream_items": upstream or []})
    return holder


def test_the_shelf_builds_the_top_network_and_its_callbacks_generate_the_work_items(fake_hou, monkeypatch):
    from framefill_houdini import shelf

    monkeypatch.setenv("FRAMEFILL_PYTHON", sys.executable)
    rop = fake_hou.node("/out").createNode("karma", "karma1")
    rop.parmTuple("f").set((1001, 1009, 1))
    fake_hou.selection = [rop]
    fake_hou.answers.extend(["4", "3"])  # render every 4th frame, 3 frames per fill work item
    made = shelf.tops_sparse_fill({})
    assert {n: (m.type().name(), {i: s.name() for i, (s, _) in m.inputs.items()}) for n, m in made.items()} == {
        "render_keyframes": ("ropfetch", {}), "framefill_fill": ("pythonprocessor", {0: "render_keyframes"}),
        "framefill_qc": ("pythonprocessor", {0: "framefill_fill"}),
        "framefill_rerender": ("pythonprocessor", {0: "framefill_qc"})}
    assert made["render_keyframes"].parent().path() == "/tasks/framefill_sparse"
    fetch = made["render_keyframes"]
    assert fetch.parm("roppath").eval() == "/out/karma1" and fetch.parm("framegeneration").eval() == "1"
    assert fetch.parmTuple("range").eval() == (1001, 1009, 4)
    assert all(made[n].parm("generatewhen").eval() == "1" for n in ("framefill_fill", "framefill_qc",
                                                                      "framefill_rerender"))
    # The fill callback: one work item per batch, running pdg_task around framefill interpolate.
    rendered = "/shots/sq010/sh020/render/sh020_light.karma1.####.exr"
    filled = "/shots/sq010/sh020/render/framefill_filled/sh020_light.karma1.####.exr"
    cli = [sys.executable, "-m", "framefill"]
    fill = _run_generate(made["framefill_fill"].parm("generate").eval())
    assert [shlex.split(i.command) for i in fill.items] == [
        ["__PDG_PYTHON__", "-m", "framefill_houdini.pdg_task", "--tag", "file/image", "--", *cli, "interpolate",
         rendered, "--out", filled, "--frames", frames, "--model", "rife-4", "--events"]
        for frames in ("1001-1003", "1004-1006", "1007-1009")]
    assert [p for p, _, _ in fill.items[1].expected] == [filled.replace("####", str(f)) for f in (1004, 1005, 1006)]
    assert {tag for i in fill.items for _, tag, _ in i.expected} == {"file/image"}
    qc = _run_generate(made["framefill_qc"].parm("generate").eval())
    (qc_item,) = qc.items
    report = "/shots/sq010/sh020/render/framefill_filled/framefill_qc"
    assert shlex.split(qc_item.command) == [
        "__PDG_PYTHON__", "-m", "framefill_houdini.pdg_task", "--tag", "file/json", "--", *cli, "qc", filled,
        "--report", report, "--events"]
    assert qc_item.expected == [(report + "/qc.json", "file/json", True)]
    assert fake_hou.messages == [("framefill: built /tasks/framefill_sparse (cook framefill_rerender for the frames "
                                  "to re-render)", "Message")]


def test_batches_and_the_rerender_items(tmp_path):
    from framefill_host import HostError
    from framefill_houdini import pdg_fill

    assert pdg_fill.batches("1001-1010", 4) == [(1001, 1004), (1005, 1008), (1009, 1010)]
    assert pdg_fill.batches("1-3,7,8", 10) == [(1, 3), (7, 8)]
    with pytest.raises(HostError, match="a fill batch needs 1 frame or more, got 0"):
        pdg_fill.batches("1-3", 0)
    report = tmp_path / "qc.json"
    report.write_text(json.dumps({"rerender_frames": [1006, 1002]}))
    upstream = WorkItem(0)
    upstream.outputFiles = [File("/r/log.txt", "file/text"), File(str(report), "file/json")]
    holder = _run_generate(pdg_fill.generate_script("generate_rerender"), [upstream])
    assert [(i.index, i.int_attribs) for i in holder.items] == [(0, {"rerender_frame": 1002}),
                                                                 (1, {"rerender_frame": 1006})]
    report.write_text("{}")
    with pytest.raises(HostError, match="has no rerender_frames list; rerun the framefill_qc work item"):
        _run_generate(pdg_fill.generate_script("generate_rerender"), [upstream])


def test_rerender_items_carry_the_region_in_pixels_y_down_and_as_a_crop_y_up(tmp_path):
    from framefill_houdini import pdg_fill

    # GIVEN a qc.json listing 1002 with two boxes (display window 0,0-639,359), 1004 whole, 1006 not flagged
    window = [0, 0, 639, 359]
    report = tmp_path / "qc.json"
    report.write_text(json.dumps({"rerender_frames": [1002, 1004], "frames": [
        {"frame": 1002, "flagged": True, "regions": {"whole_frame": False, "display_window": window,
                                                     "boxes": [[64, 32, 127, 95], [320, 240, 415, 303]]}},
        {"frame": 1004, "flagged": True, "regions": {"whole_frame": True, "display_window": window, "boxes": []}},
        {"frame": 1006, "flagged": False, "regions": {"whole_frame": False, "display_window": window,
                                                      "boxes": [[0, 0, 15, 15]]}}]}))
    upstream = WorkItem(0)
    upstream.outputFiles = [File(str(report), "file/json")]
    # WHEN the re-render items are generated
    holder = _run_generate(pdg_fill.generate_script("generate_rerender"), [upstream])
    # THEN 1002 carries the boxes' bounding box as qc wrote it (y down) and as Houdini's crop (y up from the
    # bottom row): bottom = (359 - 303) / 360, top = (359 - 32 + 1) / 360; 1004 (whole frame) carries neither
    first, second = holder.items
    assert first.int_attribs == {"rerender_frame": 1002, "rerender_x0": 64, "rerender_y0": 32,
                                 "rerender_x1": 415, "rerender_y1": 303}
    assert first.float_attribs == {"rerender_cropl": 64 / 640, "rerender_cropr": 416 / 640,
                                   "rerender_cropb": 56 / 360, "rerender_cropt": 328 / 360}
    assert (second.int_attribs, second.float_attribs) == ({"rerender_frame": 1004}, {})
    # a display window off the origin: the crop is relative to it
    assert pdg_fill.crop_of((10, 20, 19, 29), (10, 20, 49, 59)) == [0.0, 0.25, 0.75, 1.0]


def _task(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    return subprocess.run([sys.executable, "-m", "framefill_houdini.pdg_task", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300, check=False)


def test_the_work_item_command_reports_framefill_outputs_for_real(tmp_path):
    # GIVEN a small shot rendered on frames 1, 3 and 5 (the real CLI, the classical blend model)
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from synthetic_shot import write_shot
    finally:
        sys.path.remove(str(REPO / "tests"))
    from framefill_host.runner import python_cli
    from framefill_houdini import pdg_fill

    rendered = write_shot(tmp_path / "render", [1, 3, 5])
    rendered = str(tmp_path / "render" / os.path.basename(rendered))
    filled = str(tmp_path / "filled" / "shot.####.exr")
    fill = _run_generate(pdg_fill.generate_script("generate_fill", input_pattern=rendered, output_pattern=filled,
                                                  frames="1-5", batch=5, model="blend", cli=python_cli(),
                                                  python=sys.executable))
    (item,) = fill.items
    # WHEN the work item's command runs
    argv = shlex.split(item.command)
    assert argv[:3] == [sys.executable, "-m", "framefill_houdini.pdg_task"]
    done = _task(*argv[3:], cwd=tmp_path)
    # THEN every frame framefill wrote is one OUTPUT_FILE line, as the work item expected
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("OUTPUT_FILE:")]
    want = [filled.replace("####", "{:04d}".format(f)) for f in range(1, 6)]
    assert lines == ["OUTPUT_FILE:{};file/image".format(p) for p in want]
    assert [p for p, _, _ in item.expected] == want and all(os.path.isfile(p) for p in want)
    # ... and the qc item reports its qc.json, whose re-render list becomes work items
    qc = _run_generate(pdg_fill.generate_script("generate_qc", output_pattern=filled,
                                                report_dir=str(tmp_path / "qc"), cli=python_cli(),
                                                python=sys.executable))
    done = _task(*shlex.split(qc.items[0].command)[3:], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    qc_json = str(tmp_path / "qc" / "qc.json")
    assert [line for line in done.stdout.splitlines() if line.startswith("OUTPUT_FILE:")] == [
        "OUTPUT_FILE:{};file/json".format(qc_json)]
    upstream = WorkItem(0)
    upstream.outputFiles = [File(qc_json, "file/json")]
    rerender = _run_generate(pdg_fill.generate_script("generate_rerender"), [upstream])
    flagged = json.loads(Path(qc_json).read_text())["rerender_frames"]
    assert [i.int_attribs["rerender_frame"] for i in rerender.items] == flagged


def test_a_failing_framefill_command_fails_the_work_item_with_its_line(tmp_path):
    from framefill_host.runner import python_cli

    done = _task("--", *python_cli(), "interpolate", str(tmp_path / "none.####.exr"), "--out",
                 str(tmp_path / "o.####.exr"), "--events", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout.strip().splitlines()[-1] == (
        "framefill: no rendered frames match {}; check the path and the padding (#)".format(tmp_path / "none.####.exr"))
