"""The operators: Render sparse + fill, Interpolate / Upscale image sequence, the Deadline Cloud submits.

Long operators are modal: :meth:`_JobOperator.invoke` starts a job and a
timer, and each timer tick advances the job one step (render one frame, or
read the running CLI's progress), with the progress in the status bar and
the panel. Esc cancels between frames. In background mode (and when a script
calls the operator, which runs ``execute``) the job runs to its end at once.
Every failure reaches the user as a Blender report, never a traceback.
"""

import json
import os
import subprocess
from typing import Any, Dict, Optional, Set

import bpy
from bpy.props import StringProperty

from . import host_api
from .framefill_host import HostError
from .framefill_host.commands import interpolate_argv, upscale_argv
from .jobs import CliJob, Job, SparseFillJob
from .naming import pattern_from_file, report_dir
from .submit import (
    bundle_request,
    gui_submitter_available,
    last_qc_listing,
    open_gui_submitter,
    python_of,
    rerender_bundle_request,
    write_bundle,
)

__all__ = ["CLASSES"]

# Timer period of the modal operators: the status bar refreshes this often while the CLI works.
TIMER_S = 0.1
# Resolution of Blender's progress indicator (progress_begin/update).
PROGRESS_STEPS = 1000
# A framefill --version that takes longer than this means something is wrong with the install.
CHECK_TIMEOUT_S = 60
REPORT_NAME = "sparse_report.json"


def _redraw_properties(context: "bpy.types.Context") -> None:
    wm = context.window_manager
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type == "PROPERTIES":
                area.tag_redraw()


class _JobOperator:
    """Mixin of the modal operators: subclasses give :meth:`make_job` and may use :meth:`on_done`."""

    _job: Optional[Job] = None
    _timer = None

    @classmethod
    def poll(cls, context: "bpy.types.Context") -> bool:
        runtime = getattr(context.window_manager, "framefill", None)
        return runtime is not None and not runtime.running

    def make_job(self, context: "bpy.types.Context") -> Job:
        raise NotImplementedError

    def on_done(self, context: "bpy.types.Context", job: Job) -> None:
        """Called after a job that ended well (store its report)."""

    # -- start and end ---------------------------------------------------------------------

    def _start(self, context: "bpy.types.Context") -> Optional[Job]:
        try:
            job = self.make_job(context)
        except HostError as err:
            self.report({"ERROR"}, err.msg)
            return None
        self._job = job
        runtime = context.window_manager.framefill
        runtime.running = True
        runtime.progress = 0.0
        runtime.status = "{}: starting".format(job.title)
        return job

    def _finish(self, context: "bpy.types.Context", job: Job) -> Set[str]:
        runtime = context.window_manager.framefill
        runtime.running = False
        runtime.status = ""
        for warning in dict.fromkeys(job.warnings):  # each once, in order
            self.report({"WARNING"}, warning)
        if job.status == "done":
            try:
                self.on_done(context, job)
            except (HostError, OSError) as err:
                self.report({"ERROR"}, getattr(err, "msg", None) or str(err))
                return {"CANCELLED"}
            self.report({"INFO"}, job.message)
            return {"FINISHED"}
        if job.status == "cancelled":
            self.report({"WARNING"}, "{}: {}".format(job.title, job.message))
        else:
            self.report({"ERROR"}, "{}: {}".format(job.title, job.message))
        return {"CANCELLED"}

    # -- synchronous: background mode and scripts --------------------------------------------

    def execute(self, context: "bpy.types.Context") -> Set[str]:
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        try:
            job.run_to_end()
        finally:
            context.window_manager.framefill.running = False
        return self._finish(context, job)

    # -- modal: the UI ----------------------------------------------------------------------

    def invoke(self, context: "bpy.types.Context", event: "bpy.types.Event") -> Set[str]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_S, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, PROGRESS_STEPS)
        self._show(context, job)
        return {"RUNNING_MODAL"}

    def modal(self, context: "bpy.types.Context", event: "bpy.types.Event") -> Set[str]:
        job = self._job
        if job is None:
            return {"CANCELLED"}
        if event.type == "ESC" and event.value == "PRESS":
            if not job.cancel_requested:
                job.cancel()
                self._show(context, job, note="cancelling after the current frame...")
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        more = job.step()
        if more:
            self._show(context, job, note="cancelling after the current frame..." if job.cancel_requested else "")
            return {"RUNNING_MODAL"}
        self._cleanup(context)
        return self._finish(context, job)

    def cancel(self, context: "bpy.types.Context") -> None:
        """Blender ends the operator (a file is loaded, the window closes): stop the job, keep its frames."""
        if self._job is not None:
            self._job.close()
        self._cleanup(context)
        context.window_manager.framefill.running = False

    def _show(self, context: "bpy.types.Context", job: Job, note: str = "") -> None:
        runtime = context.window_manager.framefill
        progress = job.progress
        runtime.progress = progress.overall
        runtime.status = note or progress.text()
        context.window_manager.progress_update(int(progress.overall * PROGRESS_STEPS))
        if context.workspace is not None:
            context.workspace.status_text_set("{}: {}   (Esc to cancel)".format(job.title, runtime.status))
        _redraw_properties(context)

    def _cleanup(self, context: "bpy.types.Context") -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
            wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        _redraw_properties(context)


class FRAMEFILL_OT_render_sparse(_JobOperator, bpy.types.Operator):
    """Render every Nth frame, fill the rest with ML, check them and re-render the ones QC flags"""

    bl_idname = "framefill.render_sparse"
    bl_label = "Render Sparse + Fill"
    bl_options = {"REGISTER"}

    def make_job(self, context: "bpy.types.Context") -> Job:
        self._scene_name = context.scene.name
        return host_api.build_sparse_job(context)

    def on_done(self, context: "bpy.types.Context", job: Job) -> None:
        assert isinstance(job, SparseFillJob) and job.report is not None
        doc = job.report.to_dict()
        text = json.dumps(doc, indent=1, sort_keys=True)
        scene = bpy.data.scenes.get(getattr(self, "_scene_name", "")) or context.scene
        scene.framefill.last_report = text
        folder = os.path.join(os.path.dirname(job.settings.output_pattern), ".framefill")
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, ".{}.tmp".format(REPORT_NAME))
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(tmp, os.path.join(folder, REPORT_NAME))


def _pattern(value: str, what: str) -> str:
    if not value.strip():
        raise HostError("set the {} of the image sequence first".format(what))
    return pattern_from_file(bpy.path.abspath(value))


def _describe_fill(result: dict) -> str:
    text = "framefill: {} -> {} copied, {} filled, {} already done".format(
        result.get("output", "?"), result.get("copied", 0), result.get("filled", 0), result.get("skipped", 0))
    if result.get("needs_render"):
        text += "; {} held: they need a real render".format(result["needs_render"])
    return text


def _describe_upscale(result: dict) -> str:
    size_in, size_out = result.get("input_size") or ("?", "?"), result.get("output_size") or ("?", "?")
    return "framefill: {} upscaled, {} already done, {}x{} -> {}x{} with {} -> {}".format(
        result.get("upscaled", 0), result.get("skipped", 0), size_in[0], size_in[1], size_out[0], size_out[1],
        result.get("model", "?"), result.get("output", "?"))


class FRAMEFILL_OT_interpolate_sequence(_JobOperator, bpy.types.Operator):
    """Fill the missing frames of an existing EXR sequence with ML in-betweens"""

    bl_idname = "framefill.interpolate_sequence"
    bl_label = "Interpolate Image Sequence"
    bl_options = {"REGISTER"}

    def make_job(self, context: "bpy.types.Context") -> Job:
        ff = context.scene.framefill
        argv = interpolate_argv(
            host_api.cli_command(context), input_pattern=_pattern(ff.interp_input, "input"),
            output_pattern=_pattern(ff.interp_output, "output"), frames=ff.interp_frames.strip() or None,
            model=ff.model, device=host_api.device(context), extra=["--allow-held"])
        return CliJob(argv, title="Interpolate image sequence", stage="fill", env=host_api.cli_env(context),
                      describe=_describe_fill)


class FRAMEFILL_OT_upscale_sequence(_JobOperator, bpy.types.Operator):
    """Upscale an existing image sequence with an ML model"""

    bl_idname = "framefill.upscale_sequence"
    bl_label = "Upscale Image Sequence"
    bl_options = {"REGISTER"}

    def make_job(self, context: "bpy.types.Context") -> Job:
        ff = context.scene.framefill
        scale = float(ff.upscale_scale)
        argv = upscale_argv(
            host_api.cli_command(context), input_pattern=_pattern(ff.upscale_input, "input"),
            output_pattern=_pattern(ff.upscale_output, "output"), frames=ff.upscale_frames.strip() or None,
            model=ff.upscale_model, device=host_api.device(context),
            scale=int(scale) if scale.is_integer() else scale)  # type: ignore[arg-type]
        return CliJob(argv, title="Upscale image sequence", stage="upscale", env=host_api.cli_env(context),
                      describe=_describe_upscale)


class _SubmitOperator:
    """Mixin of the Deadline Cloud operators: subclasses give :meth:`request` (a ``bundle_request``-style dict)."""

    open_submitter: bpy.props.BoolProperty(
        name="Open Submitter", default=True,
        description="Open the Deadline Cloud submitter dialog when deadline[gui] is installed")

    def execute(self, context: "bpy.types.Context") -> Set[str]:
        try:
            message = self._submit(context)
        except HostError as err:
            self.report({"ERROR"}, err.msg)
            return {"CANCELLED"}
        self.report({"INFO"}, message)
        return {"FINISHED"}

    def request(self, context: "bpy.types.Context", blend: str, blender_version: str) -> Dict[str, Any]:
        raise NotImplementedError

    def _submit(self, context: "bpy.types.Context") -> str:
        blend = bpy.data.filepath
        if not blend:
            raise HostError("save the .blend first: the farm renders the saved file")
        # Background Blender reports every file as dirty (it has no window to track saves), so only the UI asks.
        if bpy.data.is_dirty and not bpy.app.background:
            raise HostError("save your changes first: the farm renders the saved .blend, not what is on screen")
        request = self.request(context, blend, "{}.{}".format(*bpy.app.version[:2]))
        cli = host_api.cli_command(context)
        env = host_api.cli_env(context)
        folder = write_bundle(request, cli=cli, env=env)
        python = python_of(cli)
        if self.open_submitter and not bpy.app.background and gui_submitter_available(python, env=env):
            open_gui_submitter(python, folder, env=env)  # type: ignore[arg-type]
            return "framefill: job bundle written to {}; the Deadline Cloud submitter is opening".format(folder)
        return ("framefill: job bundle saved to {}; submit it with `deadline bundle submit {}` (install deadline[gui] "
                "in framefill's Python to get the submitter dialog here)".format(folder, folder))


class FRAMEFILL_OT_submit_deadline(_SubmitOperator, bpy.types.Operator):
    """Write a Deadline Cloud job: Blender renders the keyframes, framefill fills, checks and reports"""

    bl_idname = "framefill.submit_deadline"
    bl_label = "Submit to Deadline Cloud"
    bl_options = {"REGISTER"}

    def request(self, context: "bpy.types.Context", blend: str, blender_version: str) -> Dict[str, Any]:
        scene = context.scene
        ff = scene.framefill
        return bundle_request(
            blend_file=blend, output_pattern=host_api.output_pattern(scene), frames=host_api.scene_frames(scene),
            every=ff.every, out_dir=bpy.path.abspath(ff.farm_folder), model=ff.model,
            device=host_api.device(context), threshold_db=ff.qc_threshold, chunk_size=ff.farm_chunk_size,
            blender_version=blender_version)


class FRAMEFILL_OT_submit_rerender(_SubmitOperator, bpy.types.Operator):
    """Write a Deadline Cloud job: Blender re-renders the regions QC listed, framefill patches, checks and reports"""

    bl_idname = "framefill.submit_rerender"
    bl_label = "Submit Re-renders to Deadline Cloud"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: "bpy.types.Context") -> bool:
        try:
            # the last Render sparse + fill's QC output
            regions_file = os.path.join(report_dir(host_api.output_pattern(context.scene)), "regions.json")
        except HostError as err:
            cls.poll_message_set(err.msg)
            return False
        if not os.path.isfile(regions_file):
            cls.poll_message_set("no QC output at {}: run Render Sparse + Fill first".format(regions_file))
            return False
        return True

    def request(self, context: "bpy.types.Context", blend: str, blender_version: str) -> Dict[str, Any]:
        scene = context.scene
        ff = scene.framefill
        output = host_api.output_pattern(scene)
        regions_file, filled = last_qc_listing(report_dir(output))
        # Beside the fill job's bundle, so neither overwrites the other.
        folder = os.path.normpath(bpy.path.abspath(ff.farm_folder)) + "_rerender"
        return rerender_bundle_request(
            blend_file=blend, regions_file=regions_file, output_pattern=output, filled=filled, out_dir=folder,
            threshold_db=ff.qc_threshold, blender_version=blender_version)


class FRAMEFILL_OT_check_setup(bpy.types.Operator):
    """Check that Blender can start framefill with these preferences"""

    bl_idname = "framefill.check_setup"
    bl_label = "Check framefill"

    def execute(self, context: "bpy.types.Context") -> Set[str]:
        try:
            cli = host_api.cli_command(context)
        except HostError as err:
            self.report({"ERROR"}, err.msg)
            return {"CANCELLED"}
        try:
            done = subprocess.run([*cli, "--version"], env=host_api.cli_env(context), stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            self.report({"ERROR"}, "cannot run {}: {}".format(" ".join(cli), err))
            return {"CANCELLED"}
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["exit code {}".format(done.returncode)])[-1]
            self.report({"ERROR"}, "{} does not run framefill: {}".format(" ".join(cli), tail))
            return {"CANCELLED"}
        self.report({"INFO"}, "{} ({})".format(done.stdout.strip(), " ".join(cli)))
        return {"FINISHED"}


class FRAMEFILL_OT_open_qc_report(bpy.types.Operator):
    """Open the QC report of the last Render sparse + fill in a web browser"""

    bl_idname = "framefill.open_qc_report"
    bl_label = "Open QC Report"

    path: StringProperty(options={"HIDDEN", "SKIP_SAVE"})

    def execute(self, context: "bpy.types.Context") -> Set[str]:
        if not self.path or not os.path.isfile(self.path):
            self.report({"ERROR"}, "no QC report at {!r}; run Render Sparse + Fill first".format(self.path))
            return {"CANCELLED"}
        bpy.ops.wm.url_open(url="file://" + self.path)
        return {"FINISHED"}


CLASSES = (
    FRAMEFILL_OT_render_sparse,
    FRAMEFILL_OT_interpolate_sequence,
    FRAMEFILL_OT_upscale_sequence,
    FRAMEFILL_OT_submit_deadline,
    FRAMEFILL_OT_submit_rerender,
    FRAMEFILL_OT_check_setup,
    FRAMEFILL_OT_open_qc_report,
)
