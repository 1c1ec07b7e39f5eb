"""framefill's long work as jobs: generators of small steps that a Blender operator drives.

A job is a generator over steps (render one frame; look once at the events of
a running ``framefill`` CLI). Blender's UI advances it one step per timer tick
from a modal operator, so the UI stays live and Esc is seen between steps;
background mode (tests, command-line Blender) runs it to the end with
:meth:`Job.run_to_end`. No bpy here: rendering comes in as a callable.

Cancel stops between frames: a frame Blender is rendering finishes (and is
renamed into place), the CLI gets an interrupt, finishes its frame and exits.
Everything written is complete (temporary name, then rename), so running the
same job again resumes: rendered frames are kept, the fill skips what its
manifest holds, QC reuses its cached scores.
"""

import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

from .framefill_host import HostError
from .framefill_host.commands import interpolate_argv, qc_argv, upscale_argv
from .framefill_host.events import HostEvent, ProgressState
from .framefill_host.patterns import format_range
from .framefill_host.runner import CliRun, RunOutcome
from .regions import Box, CostModel, border_of, regions_of, render_boxes
from .naming import (
    frame_file,
    frames_on_disk,
    keyframes,
    rendered_pattern,
    report_dir,
    upscaled_pattern,
)

__all__ = [
    "JobCancelled",
    "Progress",
    "Job",
    "CliJob",
    "SparseSettings",
    "SparseReport",
    "SparseFillJob",
]

# How long run_to_end sleeps while a CLI runs and no event has arrived.
POLL_S = 0.05
# How long a closed job waits for its CLI to exit after the interrupt (the CLI
# finishes its frame first; the run's own escalation terminates it later).
CLOSE_JOIN_S = 2.0

Renderer = Callable[[int, str], None]


class JobCancelled(Exception):
    """The user cancelled; raised inside a job's generator."""


@dataclass
class Progress:
    """What the status bar shows: the stage, its share done and one line of text."""

    stage: str = ""
    stage_index: int = 0
    stage_count: int = 1
    fraction: Optional[float] = None
    label: str = ""

    @property
    def overall(self) -> float:
        """Share of the whole job done, in [0, 1] (each stage counts the same)."""
        inner = self.fraction or 0.0
        return min(max((self.stage_index + inner) / max(self.stage_count, 1), 0.0), 1.0)

    def text(self) -> str:
        head = "[{}/{}] {}".format(self.stage_index + 1, self.stage_count, self.stage) if self.stage else ""
        if self.label and head:
            return "{}: {}".format(head, self.label)
        return self.label or head


class Job:
    """A resumable, cancellable unit of work; subclasses write :meth:`_run`.

    After the last step ``status`` is "done", "cancelled" or "error" and
    ``message`` is one line for the user.
    """

    title = "framefill"

    def __init__(self, *, cli: Sequence[str], env: Optional[Mapping[str, str]] = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.cli = list(cli)
        self.env = dict(os.environ if env is None else env)
        self.clock = clock
        self.progress = Progress()
        self.status = "running"
        self.message = ""
        self.warnings: List[str] = []
        self.waiting = False
        self._cancel = False
        self._gen: Optional[Iterator[None]] = None

    # -- driving ----------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.status != "running"

    def cancel(self) -> None:
        """Ask the job to stop at the next step (the running CLI gets an interrupt)."""
        self._cancel = True

    @property
    def cancel_requested(self) -> bool:
        return self._cancel

    def step(self) -> bool:
        """Do one step; False once the job has ended (see ``status`` and ``message``)."""
        if self.finished:
            return False
        if self._gen is None:
            self._gen = self._run()
        try:
            next(self._gen)
            return True
        except StopIteration:
            self.status = "done"
        except JobCancelled as err:
            self.status = "cancelled"
            self.message = str(err) or "cancelled; run it again to resume"
        except HostError as err:
            self.status = "error"
            self.message = err.msg
        except OSError as err:  # disk full, permissions: not a bug, but not ours to explain better
            self.status = "error"
            self.message = "{}: {}".format(getattr(err, "filename", None) or type(err).__name__,
                                           err.strerror or err)
        self.waiting = False
        return False

    def run_to_end(self, *, poll_s: float = POLL_S) -> None:
        """Step until the job ends (background mode); sleeps while a CLI works."""
        while self.step():
            if self.waiting:
                time.sleep(poll_s)

    def close(self) -> None:
        """Abandon the job now (Blender is closing the operator): stop its CLI, keep what is written."""
        if self._gen is not None and not self.finished:
            self._cancel = True
            self._gen.close()
        if not self.finished:
            self.status = "cancelled"
            self.message = "cancelled; run it again to resume"

    def _run(self) -> Iterator[None]:
        raise NotImplementedError

    # -- helpers for subclasses ---------------------------------------------------------

    def _check_cancel(self, what: str = "") -> None:
        if self._cancel:
            raise JobCancelled("cancelled{}; finished frames are kept and running it again resumes".format(
                " " + what if what else ""))

    def _set(self, stage: str, *, index: int, count: int, done: Optional[int] = None,
             total: Optional[int] = None, label: str = "") -> None:
        fraction = None if done is None or not total else min(max(done / total, 0.0), 1.0)
        self.progress = Progress(stage, index, count, fraction, label)

    def _cli(self, argv: Sequence[str], *, stage: str, index: int, count: int, what: str) -> Iterator[None]:
        """Run the CLI to its end, yielding while it works; returns its :class:`RunOutcome`.

        ``what`` names the step in error messages ("fill", "qc").

        Raises:
            JobCancelled: the user cancelled (the CLI was interrupted).
            HostError: the CLI failed; its one-line message.
        """
        events: "queue.Queue[HostEvent]" = queue.Queue()
        box: Dict[str, RunOutcome] = {}
        run = CliRun(argv, env=self.env).start()

        def follow() -> None:
            box["outcome"] = run.wait(on_event=events.put, is_cancelled=lambda: self._cancel)

        thread = threading.Thread(target=follow, name="framefill-cli", daemon=True)
        thread.start()
        state = ProgressState()
        self._set(stage, index=index, count=count, label="starting framefill")
        try:
            while True:
                alive = thread.is_alive()
                while True:
                    try:
                        event = events.get_nowait()
                    except queue.Empty:
                        break
                    state.update(event)
                    self._set(stage, index=index, count=count, done=state.done, total=state.total,
                              label=state.label())
                if not alive:
                    break
                self.waiting = True
                yield
        finally:
            self.waiting = False
            if thread.is_alive():  # the generator was closed mid-run
                run.cancel()
                thread.join(timeout=CLOSE_JOIN_S)
        outcome = box.get("outcome")
        if outcome is None:
            raise HostError("framefill {} ended without a result".format(what))
        self.warnings.extend(outcome.warnings)
        if outcome.status == "cancelled":
            raise JobCancelled("cancelled during {}; finished frames are kept and running it again resumes".format(
                what))
        if outcome.status != "ok":
            raise HostError("framefill {} failed: {}".format(what, outcome.message))
        return outcome


class CliJob(Job):
    """One CLI command as a job (Interpolate / Upscale image sequence)."""

    def __init__(self, argv: Sequence[str], *, title: str, stage: str, env: Optional[Mapping[str, str]] = None,
                 describe: Optional[Callable[[Dict[str, Any]], str]] = None) -> None:
        super().__init__(cli=argv, env=env)
        self.title = title
        self.stage = stage
        self.describe = describe
        self.result: Dict[str, Any] = {}
        self.seconds = 0.0

    def _run(self) -> Iterator[None]:
        started = self.clock()
        outcome = yield from self._cli(self.cli, stage=self.stage, index=0, count=1, what=self.stage)
        self.result = dict(outcome.result or {})
        self.seconds = self.clock() - started
        self.message = self.describe(self.result) if self.describe else "{} done".format(self.title)


# ---------------------------------------------------------------------------------------
# Render sparse + fill
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SparseSettings:
    """Everything a sparse render needs, read from the scene and preferences at the start."""

    frames: Tuple[int, ...]
    every: int
    output_pattern: str  # framefill hashes, absolute: the scene's output with Blender's naming
    model: str = "rife-4"
    device: str = "auto"
    threshold_db: float = 30.0
    rerender: bool = True
    regions: bool = True  # re-render only QC's regions (render border) and patch them in
    resolution: Tuple[int, int] = (0, 0)  # the render's pixel size (0: unknown, whole frames only)
    upscale: bool = False
    upscale_model: str = "realesrgan-x4plus"
    upscale_scale: float = 2.0

    @property
    def rendered_pattern(self) -> str:
        return rendered_pattern(self.output_pattern)

    @property
    def report_dir(self) -> str:
        return report_dir(self.output_pattern)

    @property
    def upscaled_pattern(self) -> str:
        return upscaled_pattern(self.output_pattern)

    def region_pattern(self, index: int) -> str:
        """Where the ``index``-th region render of each frame goes (full-size files, render border)."""
        folder, name = os.path.split(self.rendered_pattern)
        return os.path.join(os.path.dirname(folder), "regions", str(index), name)


@dataclass(frozen=True)
class SparseReport:
    """What a sparse render did; the counts are of the frames on disk at the end."""

    output_pattern: str
    frames: Tuple[int, ...]
    keyframes: Tuple[int, ...]
    rerendered: Tuple[int, ...]  # flagged by QC and rendered for real
    filled: Tuple[int, ...]  # ML frames in the final sequence
    flagged: Tuple[int, ...]  # QC's re-render list in this run
    rendered_now: Tuple[int, ...]  # frames Blender rendered in this run (a resumed run reuses others)
    render_seconds: float  # Blender's time for rendered_now
    wall_seconds: float
    threshold_db: float
    qc_report: Optional[str] = None
    upscaled_pattern: Optional[str] = None
    predicted_psnr_db: Mapping[int, float] = field(default_factory=dict)
    stage_seconds: Mapping[str, float] = field(default_factory=dict)  # wall time of each stage
    patched: Tuple[int, ...] = ()  # listed frames whose regions were re-rendered and patched in
    region_renders: int = 0  # Blender renders of regions in this run
    region_pixels: int = 0  # pixels those renders rendered
    region_full_frame_pixels: int = 0  # pixels full-frame re-renders of the same frames would render
    region_seconds: float = 0.0  # Blender's time for the region renders

    @property
    def seconds_per_frame(self) -> Optional[float]:
        """Measured Blender time per frame in this run (None when nothing was rendered)."""
        return self.render_seconds / len(self.rendered_now) if self.rendered_now else None

    @property
    def estimated_full_seconds(self) -> Optional[float]:
        """A full render of every frame at the measured time per frame."""
        per = self.seconds_per_frame
        return None if per is None else per * len(self.frames)

    @property
    def unresolved(self) -> Tuple[int, ...]:
        """Flagged frames that are still ML frames (re-render was off)."""
        done = set(self.rerendered)
        return tuple(f for f in self.flagged if f not in done)

    def summary(self) -> str:
        """One line for Blender's report: counts, wall time, the full-render estimate."""
        text = "framefill: {} frames: {} rendered, {} filled, {} re-rendered in {:.1f} s".format(
            len(self.frames), len(self.keyframes), len(self.filled), len(self.rerendered), self.wall_seconds)
        full = self.estimated_full_seconds
        if full is not None:
            text += "; a full render would take ~{:.1f} s ({:.2f} s/frame measured)".format(
                full, self.seconds_per_frame)
        else:
            text += "; no frame rendered in this run, so no full-render estimate"
        if self.unresolved:
            text += "; QC flags {} for a real render".format(format_range(self.unresolved))
        return text

    def to_dict(self) -> Dict[str, Any]:
        full = self.estimated_full_seconds
        return {
            "output": self.output_pattern,
            "frames": format_range(self.frames),
            "frames_total": len(self.frames),
            "rendered": len(self.keyframes),
            "keyframes": list(self.keyframes),
            "filled": len(self.filled),
            "filled_frames": list(self.filled),
            "rerendered": len(self.rerendered),
            "rerendered_frames": list(self.rerendered),
            "flagged_frames": list(self.flagged),
            "unresolved_frames": list(self.unresolved),
            "rendered_this_run": len(self.rendered_now),
            "render_seconds": round(self.render_seconds, 3),
            "seconds_per_frame": None if self.seconds_per_frame is None else round(self.seconds_per_frame, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "estimated_full_render_seconds": None if full is None else round(full, 3),
            "wall_over_full": None if not full else round(self.wall_seconds / full, 3),
            "threshold_db": self.threshold_db,
            "qc_report": self.qc_report,
            "upscaled": self.upscaled_pattern,
            "predicted_psnr_db": {str(k): v for k, v in sorted(self.predicted_psnr_db.items())},
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "patched_frames": list(self.patched),
            "region_renders": self.region_renders,
            "region_pixels": self.region_pixels,
            "region_full_frame_pixels": self.region_full_frame_pixels,
            "region_seconds": round(self.region_seconds, 3),
            "estimated_full_frame_rerender_seconds": None if self.seconds_per_frame is None
            else round(self.seconds_per_frame * len(self.patched), 3),
        }


class SparseFillJob(Job):
    """Render the keyframes, fill the rest, QC, re-render what QC flags, upscale.

    Stages: render (Blender, every Nth frame and the last) -> fill (CLI) -> qc
    (CLI) -> re-render (Blender, the flagged frames; then the CLI copies them
    into the sequence) -> upscale (CLI). Real renders go to
    ``.framefill/rendered/`` and are copied bit-exact into the sequence.
    """

    title = "Render sparse + fill"

    def __init__(self, settings: SparseSettings, *, render: Renderer, cli: Sequence[str],
                 env: Optional[Mapping[str, str]] = None, clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(cli=cli, env=env, clock=clock)
        if not settings.frames:
            raise HostError("the scene's frame range is empty; set Start and End in Output Properties")
        self.settings = settings
        self.render = render
        self.report: Optional[SparseReport] = None
        self.rendered_now: List[int] = []
        self.render_seconds = 0.0
        self.cost = CostModel()
        self.region_renders = 0
        self.region_pixels = 0
        self.region_seconds = 0.0

    def _stages(self) -> List[str]:
        stages = ["render", "fill", "qc"]
        if self.settings.rerender:
            stages.append("re-render")
        if self.settings.upscale:
            stages.append("upscale")
        return stages

    def _render_frames(self, frames: Sequence[int], *, stage: str, index: int, count: int) -> Iterator[None]:
        """Render the frames that have no real render yet, one step each."""
        s = self.settings
        todo = [f for f in frames if not os.path.isfile(frame_file(s.rendered_pattern, f))]
        for i, frame in enumerate(todo):
            self._check_cancel("after {} of {} frames were rendered".format(i, len(todo)))
            self._set(stage, index=index, count=count, done=i, total=len(todo),
                      label="rendering frame {} ({} of {})".format(frame, i + 1, len(todo)))
            yield  # show the label before the (blocking) render starts
            self._check_cancel("after {} of {} frames were rendered".format(i, len(todo)))
            t0 = self.clock()
            self.render(frame, frame_file(s.rendered_pattern, frame))
            seconds = self.clock() - t0
            self.render_seconds += seconds
            self.rendered_now.append(frame)
            if s.resolution[0] > 0:
                self.cost.add(s.resolution[0] * s.resolution[1], seconds)
        self._set(stage, index=index, count=count, done=len(todo), total=len(todo),
                  label="{} frame(s) rendered, {} already there".format(len(todo), len(frames) - len(todo)))
        yield

    def _run(self) -> Iterator[None]:
        s = self.settings
        started = self.clock()
        stages = self._stages()
        count = len(stages)
        frames = tuple(sorted(set(s.frames)))
        keys = keyframes(frames, s.every)
        range_text = format_range(frames)

        timer = _StageTimer(self.clock)
        yield from self._render_frames(keys, stage="render", index=0, count=count)
        timer.lap("render")

        self._check_cancel()
        yield from self._cli(
            interpolate_argv(self.cli, input_pattern=s.rendered_pattern, output_pattern=s.output_pattern,
                             frames=range_text, model=s.model, device=s.device, extra=["--allow-held"]),
            stage="fill", index=1, count=count, what="fill")
        timer.lap("fill")

        real = set(frames_on_disk(s.rendered_pattern, frames))
        filled = [f for f in frames if f not in real]
        flagged: Tuple[int, ...] = ()
        predicted: Dict[int, float] = {}
        qc_html: Optional[str] = None
        regions: Dict[int, Optional[List[Box]]] = {}
        partial: Dict[int, List[Box]] = {}
        if filled:
            self._check_cancel()
            outcome = yield from self._cli(
                qc_argv(self.cli, pattern=s.output_pattern, filled=format_range(filled), report_dir=s.report_dir,
                        threshold_db=s.threshold_db),
                stage="qc", index=2, count=count, what="qc")
            flagged, predicted = _read_qc(outcome.result or {})
            qc_html = (outcome.result or {}).get("report")
            regions = regions_of(outcome.result or {})
        timer.lap("qc")

        if s.rerender and flagged and s.regions and s.resolution[0] > 0:
            partial = {f: list(b) for f, b in regions.items() if f in flagged and b}
        whole = tuple(f for f in flagged if f not in partial)
        if s.rerender and partial:
            yield from self._rerender_regions(partial, index=stages.index("re-render"), count=count)
            timer.lap("re-render regions")
        if s.rerender and whole:
            index = stages.index("re-render")
            yield from self._render_frames(whole, stage="re-render", index=index, count=count)
            timer.lap("re-render")
            self._check_cancel()
            # The CLI copies the new renders into the sequence and marks them rendered in its manifest.
            yield from self._cli(
                interpolate_argv(self.cli, input_pattern=s.rendered_pattern, output_pattern=s.output_pattern,
                                 frames=format_range(whole), model=s.model, device=s.device,
                                 extra=["--allow-held"]),
                stage="re-render", index=index, count=count, what="copy of the re-rendered frames")
            timer.lap("copy re-renders")

        upscaled = None
        if s.upscale:
            self._check_cancel()
            scale = s.upscale_scale
            yield from self._cli(
                upscale_argv(self.cli, input_pattern=s.output_pattern, output_pattern=s.upscaled_pattern,
                             frames=range_text, model=s.upscale_model, device=s.device,
                             scale=int(scale) if float(scale).is_integer() else scale),  # type: ignore[arg-type]
                stage="upscale", index=stages.index("upscale"), count=count, what="upscale")
            upscaled = s.upscaled_pattern
            timer.lap("upscale")

        real = set(frames_on_disk(s.rendered_pattern, frames))
        missing = [f for f in frames if not os.path.isfile(frame_file(s.output_pattern, f))]
        if missing:
            raise HostError("frames {} of {} were not written; run it again to resume".format(
                format_range(missing), s.output_pattern))
        key_set = set(keys)
        self.report = SparseReport(
            output_pattern=s.output_pattern,
            frames=frames,
            keyframes=keys,
            rerendered=tuple(f for f in frames if f in real and f not in key_set),
            filled=tuple(f for f in frames if f not in real),
            flagged=tuple(flagged),
            rendered_now=tuple(self.rendered_now),
            render_seconds=self.render_seconds,
            wall_seconds=self.clock() - started,
            threshold_db=s.threshold_db,
            qc_report=qc_html,
            upscaled_pattern=upscaled,
            predicted_psnr_db=predicted,
            stage_seconds=dict(timer.laps),
            patched=tuple(sorted(partial)),
            region_renders=self.region_renders,
            region_pixels=self.region_pixels,
            region_full_frame_pixels=len(partial) * s.resolution[0] * s.resolution[1],
            region_seconds=self.region_seconds,
        )
        self._set("done", index=count - 1, count=count, done=1, total=1, label="done")
        self.message = self.report.summary()


    def _region_plan(self, partial: Mapping[int, Sequence[Box]]) -> Dict[int, List[Box]]:
        """Frame -> the boxes to render (each box, or their union: the cheaper by the cost model).

        Kept in ``regions/plan.json`` so a resumed run renders the same boxes.
        """
        s = self.settings
        path = os.path.normpath(os.path.join(os.path.dirname(s.region_pattern(0)), os.pardir, "plan.json"))
        stored: Dict[str, Any] = {}
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                stored = json.load(handle)
        plan: Dict[int, List[Box]] = {}
        frame_px = s.resolution[0] * s.resolution[1]
        for frame, boxes in sorted(partial.items()):
            record = stored.get(str(frame))
            if isinstance(record, dict) and record.get("boxes") == [list(b) for b in boxes]:
                plan[frame] = [tuple(r) for r in record["renders"]]  # type: ignore[misc]
            else:
                plan[frame] = render_boxes(boxes, self.cost, frame_px)
        doc = {str(f): {"boxes": [list(b) for b in partial[f]], "renders": [list(r) for r in plan[f]]}
               for f in plan}
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        _write_json(path, doc)
        return plan

    def _rerender_regions(self, partial: Mapping[int, Sequence[Box]], *, index: int, count: int) -> Iterator[None]:
        """Render each listed frame's regions (render border, full-size files) and patch them in."""
        s = self.settings
        width, height = s.resolution
        plan = self._region_plan(partial)
        jobs = [(f, i, box) for f, boxes in sorted(plan.items()) for i, box in enumerate(boxes)]
        for n, (frame, i, box) in enumerate(jobs):
            self._check_cancel("after {} of {} regions were rendered".format(n, len(jobs)))
            dest = frame_file(s.region_pattern(i), frame)
            border = border_of(box, width, height)
            pixels = round((border[1] - border[0]) * width) * round((border[3] - border[2]) * height)
            self.region_pixels += pixels
            if os.path.isfile(dest):
                continue
            self._set("re-render", index=index, count=count, done=n, total=len(jobs),
                      label="rendering region {} of frame {} ({} of {})".format(i + 1, frame, n + 1, len(jobs)))
            yield
            t0 = self.clock()
            self.render(frame, dest, border)  # type: ignore[call-arg]
            seconds = self.clock() - t0
            self.region_seconds += seconds
            self.region_renders += 1
            self.cost.add(pixels, seconds)
        groups = sorted({i for _, i, _ in jobs})
        for i in groups:
            self._check_cancel()
            frames = sorted(f for f, j, _ in jobs if j == i)
            sidecar = os.path.join(os.path.dirname(s.region_pattern(i)), "regions.json")
            _write_json(sidecar, {"format": "framefill-regions", "version": 1, "frames": {
                str(f): {"whole_frame": False, "boxes": [list(plan[f][i])],
                         "display_window": [0, 0, width - 1, height - 1]} for f in frames}})
            yield from self._cli(
                [*self.cli, "patch", s.output_pattern, "--renders", s.region_pattern(i), "--frames",
                 format_range(frames), "--regions", sidecar, "--events"],
                stage="re-render", index=index, count=count, what="patch of the region renders")


def _write_json(path: str, doc: Mapping[str, Any]) -> None:
    tmp = os.path.join(os.path.dirname(path), ".{}.tmp".format(os.path.basename(path)))
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(doc, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


class _StageTimer:
    """Wall time of each stage, for the report."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.last = clock()
        self.laps: Dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = self.clock()
        self.laps[name] = self.laps.get(name, 0.0) + now - self.last
        self.last = now


def _read_qc(result: Mapping[str, Any]) -> Tuple[Tuple[int, ...], Dict[int, float]]:
    """The re-render list and predicted PSNRs from ``framefill qc``'s result.

    Raises:
        HostError: the result has no re-render list (an incompatible framefill).
    """
    frames = result.get("rerender_frames")
    if not isinstance(frames, list) or not all(isinstance(f, int) and not isinstance(f, bool) for f in frames):
        raise HostError("framefill qc returned no re-render list; update framefill (the CLI) to this extension's "
                        "version")
    predicted: Dict[int, float] = {}
    for row in result.get("frames") or []:
        if isinstance(row, dict) and isinstance(row.get("frame"), int) and \
                isinstance(row.get("predicted_psnr_db"), (int, float)):
            predicted[int(row["frame"])] = float(row["predicted_psnr_db"])
    return tuple(sorted(set(frames))), predicted
