"""Render sparse + fill in real bpy, scored against a full render of the same scene.

GIVEN the generated scene (13 frames, Cycles CPU) and its full render (every frame, plain Blender)
WHEN the extension renders every 2nd frame, fills the rest, runs QC and re-renders what QC flags
THEN the output holds the complete frame range with Blender's naming; every filled frame has a
PSNR against the real render; with re-render on no final frame is below the QC threshold; and the
report's counts are the files on disk. Cancelling mid-render and mid-fill leaves only complete
frames, and the next run resumes from them.

One scene, one output folder: the phases run in order (cancel while rendering, cancel while
filling, finish with re-render off, finish again with re-render on), each resuming the last.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest
from blender_env import configure_preferences

pytestmark = pytest.mark.blender

EVERY = 2
THRESHOLD_DB = 30.0
# A filled frame of this scene (smooth motion, every 2nd frame rendered) that scores below this
# is broken, not merely soft: the RIFE fill measured 26.8-33.7 dB here.
FILL_FLOOR_DB = 22.0


def _beauty(path: Path) -> np.ndarray:
    from framefill.frames import read_exr
    from framefill.pipeline.qc import beauty_rgb

    rgb, _ = beauty_rgb(read_exr(path))
    return rgb


def _psnr_db(a: Path, b: Path) -> float:
    """PSNR of two frames' beauty on the display proxy (QC's own measure); inf when identical."""
    from framefill.ops.metrics import display_proxy, psnr

    x, y = _beauty(a), _beauty(b)
    if np.array_equal(x, y):
        return math.inf
    return psnr(display_proxy(x), display_proxy(y))


def _same_pixels(a: Path, b: Path) -> bool:
    """Every channel of every part equal (headers differ: Blender stamps dates and render times)."""
    from framefill.frames import read_exr

    ia, ib = read_exr(a), read_exr(b)
    if [p.name for p in ia.parts] != [p.name for p in ib.parts]:
        return False
    return all(pa.channels.keys() == pb.channels.keys() and
               all(np.array_equal(pa.channels[c], pb.channels[c]) for c in pa.channels)
               for pa, pb in zip(ia.parts, ib.parts))


def _frames_on_disk(folder: Path, prefix: str = "shot_") -> list[int]:
    return sorted(int(p.stem[len(prefix):]) for p in folder.glob(f"{prefix}*.exr"))


def _stray_files(folder: Path) -> list[str]:
    """Anything in the output folders that is not a finished frame or framefill's bookkeeping."""
    if not folder.is_dir():
        return []
    stray = []
    for path in [*folder.iterdir(), *(folder / ".framefill" / "rendered").glob("*")]:
        name = path.name
        finished_frame = name.startswith("shot_") and name.endswith(".exr")
        if not (path.is_dir() or name == "framefill.manifest.json" or finished_frame):
            stray.append(str(path))
    return stray


def _manifest_status(output_pattern: str) -> dict[int, str]:
    from framefill.pipeline.manifest import Manifest

    return {f: e.status for f, e in Manifest(output_pattern).entries().items()}


@pytest.fixture(scope="module")
def shot(extension, test_scene):
    """The scene opened fresh with the extension's settings, its output folder empty."""
    bpy.ops.wm.open_mainfile(filepath=str(test_scene.blend))
    configure_preferences()
    out = Path(test_scene.output_pattern).parent
    shutil.rmtree(out, ignore_errors=True)
    ff = bpy.context.scene.framefill
    ff.every = EVERY
    ff.model = "rife-4"
    ff.qc_threshold = THRESHOLD_DB
    return test_scene


@pytest.mark.slow
def test_sparse_fill_cancel_resume_then_rerender(shot, ext_module) -> None:
    host_api, naming = ext_module("host_api"), ext_module("naming")
    scene = bpy.context.scene
    out_pattern = host_api.output_pattern(scene)
    assert out_pattern == shot.output_pattern
    out_dir = Path(out_pattern).parent
    rendered_dir = Path(naming.rendered_pattern(out_pattern)).parent
    frames = list(shot.frames)
    keys = naming.keyframes(frames, EVERY)
    assert keys == tuple(range(1001, 1014, 2))

    # -- 1. cancel while Blender renders the keyframes: only whole frames stay -----------------
    scene.framefill.rerender = False
    job = host_api.build_sparse_job(bpy.context)
    while len(job.rendered_now) < 2:
        assert job.step(), job.message
    job.cancel()
    while job.step():
        pass
    assert job.status == "cancelled", job.message
    assert _frames_on_disk(rendered_dir) == [1001, 1003]
    assert _frames_on_disk(out_dir) == []
    assert _stray_files(out_dir) == []
    for f in (1001, 1003):  # the renders are exactly the full render's frames
        assert _same_pixels(rendered_dir / f"shot_{f}.exr", shot.truth[f])

    # -- 2. cancel while the CLI fills: the interrupt stops it after a frame --------------------
    job = host_api.build_sparse_job(bpy.context)
    while not (job.progress.stage == "fill" and (job.progress.fraction or 0) > 0):
        assert job.step(), job.message
    assert job.rendered_now == [1005, 1007, 1009, 1011, 1013]  # resumed: the first two were kept
    job.cancel()
    job.run_to_end()
    assert job.status == "cancelled", job.message
    assert "resume" in job.message
    written = _frames_on_disk(out_dir)
    assert 0 < len(written) < len(frames)
    assert _stray_files(out_dir) == []
    from framefill.frames import read_exr

    for f in written:  # every file there is a complete EXR
        read_exr(out_dir / f"shot_{f}.exr")

    # -- 3. the operator finishes the run (re-render off) ------------------------------------
    assert bpy.ops.framefill.render_sparse() == {"FINISHED"}
    report = json.loads(scene.framefill.last_report)
    assert report == json.loads((out_dir / ".framefill" / "sparse_report.json").read_text())
    # The complete range with Blender's naming, and nothing else.
    assert [scene.render.frame_path(frame=f) for f in frames] == [str(out_dir / f"shot_{f}.exr") for f in frames]
    assert _frames_on_disk(out_dir) == frames
    assert _stray_files(out_dir) == []
    # Counts are the files: rendered = keyframes on disk, filled = the rest.
    assert _frames_on_disk(rendered_dir) == list(keys)
    filled = [f for f in frames if f not in keys]
    status = _manifest_status(out_pattern)
    assert report["frames_total"] == len(frames) == 13
    assert report["rendered"] == len(keys) == 7 and report["keyframes"] == list(keys)
    assert report["filled"] == len(filled) == 6 and report["filled_frames"] == filled
    assert report["rerendered"] == 0 and report["rendered_this_run"] == 0  # all keyframes were already there
    assert report["estimated_full_render_seconds"] is None
    assert status == {**{f: "copied" for f in keys}, **{f: "filled" for f in filled}}
    # Rendered frames are the real renders (bit-exact pixels); every filled frame is scored.
    for f in keys:
        assert _same_pixels(out_dir / f"shot_{f}.exr", shot.truth[f])
    scores = {f: _psnr_db(out_dir / f"shot_{f}.exr", shot.truth[f]) for f in filled}
    print("filled frames vs the full render (dB):", {f: round(v, 2) for f, v in scores.items()})
    print("QC predicted (dB):", report["predicted_psnr_db"], "flagged:", report["flagged_frames"])
    assert all(FILL_FLOOR_DB < v < math.inf for v in scores.values()), scores
    flagged = report["flagged_frames"]
    assert set(flagged) <= set(filled) and report["unresolved_frames"] == flagged
    assert Path(report["qc_report"]).is_file()

    # -- 4. re-render on: the same run resumes, re-renders what QC flagged ----------------------
    scene.framefill.rerender = True
    assert bpy.ops.framefill.render_sparse() == {"FINISHED"}
    report = json.loads(scene.framefill.last_report)
    on_disk_rendered = _frames_on_disk(rendered_dir)
    rerendered = [f for f in on_disk_rendered if f not in keys]
    still_filled = [f for f in frames if f not in on_disk_rendered]
    assert rerendered == flagged  # QC's scores are cached: the same list
    assert report["rerendered_frames"] == rerendered and report["rerendered"] == len(rerendered)
    assert report["filled_frames"] == still_filled and report["filled"] == len(still_filled)
    assert report["rendered"] == len(keys)
    assert report["rendered_this_run"] == len(rerendered)
    assert report["rendered"] + report["filled"] + report["rerendered"] == report["frames_total"] == 13
    assert report["unresolved_frames"] == []
    assert _frames_on_disk(out_dir) == frames and _stray_files(out_dir) == []
    status = _manifest_status(out_pattern)
    assert status == {**{f: "copied" for f in on_disk_rendered}, **{f: "filled" for f in still_filled}}
    # No frame of the final sequence is below the QC threshold against the full render.
    final = {f: _psnr_db(out_dir / f"shot_{f}.exr", shot.truth[f]) for f in frames}
    print("final sequence vs the full render (dB):", {f: round(v, 2) for f, v in final.items()})
    assert all(v >= THRESHOLD_DB for v in final.values()), final
    for f in on_disk_rendered:
        assert final[f] == math.inf  # real renders, bit-exact
    for f in still_filled:
        assert final[f] == scores[f]  # untouched by the re-render run


@pytest.mark.slow
def test_interpolate_and_upscale_image_sequence_operators(shot, tmp_path: Path) -> None:
    # GIVEN every 3rd frame of the full render as an existing sequence on disk
    src = tmp_path / "plate"
    src.mkdir()
    for f in (1001, 1004, 1007):
        shutil.copyfile(shot.truth[f], src / f"shot_{f}.exr")
    ff = bpy.context.scene.framefill
    ff.interp_input = str(src / "shot_1004.exr")  # a picked frame
    ff.interp_output = str(tmp_path / "filled" / "shot_####.exr")
    ff.interp_frames = ""
    ff.model = "rife-4"
    # WHEN Interpolate image sequence runs THEN the whole range is there, rendered frames bit-exact
    assert bpy.ops.framefill.interpolate_sequence() == {"FINISHED"}
    assert _frames_on_disk(tmp_path / "filled") == list(range(1001, 1008))
    for f in (1001, 1004, 1007):
        assert (tmp_path / "filled" / f"shot_{f}.exr").read_bytes() == (src / f"shot_{f}.exr").read_bytes()
    for f in (1002, 1003, 1005, 1006):
        assert _psnr_db(tmp_path / "filled" / f"shot_{f}.exr", shot.truth[f]) > FILL_FLOOR_DB - 4.0
    # WHEN Upscale image sequence runs on two of them (x2) THEN they are twice the size, every part kept
    ff.upscale_input = str(tmp_path / "filled" / "shot_####.exr")
    ff.upscale_output = str(tmp_path / "big" / "shot_####.exr")
    ff.upscale_frames = "1002-1003"
    ff.upscale_model = "realesr-animevideov3"
    ff.upscale_scale = 2.0
    assert bpy.ops.framefill.upscale_sequence() == {"FINISHED"}
    from framefill.frames import read_exr

    assert _frames_on_disk(tmp_path / "big") == [1002, 1003]
    big = read_exr(tmp_path / "big" / "shot_1002.exr")
    small = read_exr(tmp_path / "filled" / "shot_1002.exr")
    assert [p.name for p in big.parts] == [p.name for p in small.parts]
    for pb, ps in zip(big.parts, small.parts):
        assert pb.channels.keys() == ps.channels.keys()
        for name in pb.channels:
            assert pb.channels[name].shape == (108, 192) and ps.channels[name].shape == (54, 96)


def test_sequence_operator_errors_are_reports(shot, tmp_path: Path) -> None:
    ff = bpy.context.scene.framefill
    ff.interp_input = str(tmp_path / "nothing" / "shot_####.exr")
    ff.interp_output = str(tmp_path / "out" / "shot_####.exr")
    # The CLI's one-line error comes back as a Blender error report (RuntimeError for a script).
    with pytest.raises(RuntimeError, match=r"Interpolate image sequence: framefill fill failed: no rendered frames"):
        bpy.ops.framefill.interpolate_sequence()
    ff.interp_output = ""
    with pytest.raises(RuntimeError, match="set the output of the image sequence first"):
        bpy.ops.framefill.interpolate_sequence()
    assert not bpy.context.window_manager.framefill.running


class _Event:
    def __init__(self, kind: str, value: str = "NOTHING") -> None:
        self.type = kind
        self.value = value


def test_modal_steps_on_timer_and_cancels_on_esc(shot, ext_module, tmp_path: Path) -> None:
    """The modal operator's logic, driven with Blender's real window manager and stand-in events.

    Background bpy has no event loop, so the operator's own ``modal`` is called the way Blender
    calls it: TIMER events step the job, ESC cancels it, the last step finishes with a report.
    """
    operators, jobs = ext_module("operators"), ext_module("jobs")
    HostError = ext_module("framefill_host").HostError

    class Driver(operators._JobOperator):
        def __init__(self, job) -> None:
            self.job_to_run = job
            self.reports: list[tuple[set, str]] = []

        def make_job(self, context):
            return self.job_to_run

        def report(self, kind, message):
            self.reports.append((kind, message))

    renders: list[int] = []

    def fake_render(frame: int, dest: str) -> None:  # writes a finished file the way Blender's renderer does
        renders.append(frame)
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot.truth[frame], dest)

    settings = jobs.SparseSettings(frames=tuple(range(1001, 1010)), every=2,
                                   output_pattern=str(tmp_path / "modal" / "shot_####.exr"), device="cpu")
    context = bpy.context
    driver = Driver(jobs.SparseFillJob(settings, render=fake_render, cli=["/bin/false"]))
    assert driver._start(context) is driver.job_to_run
    assert context.window_manager.framefill.running
    assert Driver.poll(context) is False  # one job at a time
    assert driver.modal(context, _Event("MOUSEMOVE")) == {"PASS_THROUGH"}
    assert driver.modal(context, _Event("TIMER")) == {"RUNNING_MODAL"}
    assert driver.modal(context, _Event("TIMER")) == {"RUNNING_MODAL"}
    assert renders == [1001]
    assert "rendering frame" in context.window_manager.framefill.status
    assert driver.modal(context, _Event("ESC", "PRESS")) == {"RUNNING_MODAL"}
    assert "cancelling" in context.window_manager.framefill.status
    result = driver.modal(context, _Event("TIMER"))
    assert result == {"CANCELLED"} and renders == [1001]
    assert driver.reports[-1][0] == {"WARNING"} and "running it again resumes" in driver.reports[-1][1]
    assert not context.window_manager.framefill.running and Driver.poll(context)

    # A CLI that fails ends the job with its error as an ERROR report, not an exception.
    driver = Driver(jobs.SparseFillJob(settings, render=fake_render, cli=["/bin/false"]))
    driver._start(context)
    result = {"RUNNING_MODAL"}
    while result == {"RUNNING_MODAL"}:
        result = driver.modal(context, _Event("TIMER"))
    assert result == {"CANCELLED"}
    assert driver.reports[-1][0] == {"ERROR"} and "framefill fill failed" in driver.reports[-1][1]
    assert renders == [1001, 1003, 1005, 1007, 1009]  # the cancelled run's frame was kept
    with pytest.raises(HostError, match="frame range is empty"):
        jobs.SparseFillJob(jobs.SparseSettings(frames=(), every=2, output_pattern=settings.output_pattern),
                           render=fake_render, cli=["x"])


def test_upscale_on_output_writes_the_upscaled_sequence(shot, ext_module, tmp_path: Path) -> None:
    """Upscale on output, with the job's real CLI stages (fast models: blend fill, Lanczos x2)."""
    jobs, naming = ext_module("jobs"), ext_module("naming")
    from framefill.frames import read_exr

    def copy_render(frame: int, dest: str) -> None:  # the full render's frame, written as the renderer does
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot.truth[frame], dest)

    out = str(tmp_path / "up" / "shot_####.exr")
    settings = jobs.SparseSettings(frames=tuple(range(1001, 1006)), every=2, output_pattern=out, model="blend",
                                   device="cpu", rerender=False, upscale=True, upscale_model="lanczos",
                                   upscale_scale=2.0)
    job = jobs.SparseFillJob(settings, render=copy_render, cli=[sys.executable, "-m", "framefill"])
    job.run_to_end()
    assert job.status == "done", job.message
    report = job.report
    upscaled = str(tmp_path / "up" / "upscaled" / "shot_####.exr")
    assert report.upscaled_pattern == naming.upscaled_pattern(out) == upscaled
    assert list(report.stage_seconds) == ["render", "fill", "qc", "upscale"]
    assert _frames_on_disk(tmp_path / "up" / "upscaled") == list(range(1001, 1006))
    for f in range(1001, 1006):
        big = read_exr(tmp_path / "up" / "upscaled" / f"shot_{f}.exr")
        assert all(ch.shape == (108, 192) for p in big.parts for ch in p.channels.values())
    assert report.keyframes == (1001, 1003, 1005) and report.filled == (1002, 1004)
