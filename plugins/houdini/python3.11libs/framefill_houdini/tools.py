""""Interpolate sequence", "Upscale sequence" and "Flow error": the framefill CLI on a rendered sequence.

The sequence comes from a ROP's output path or a node's file parameter (or a
file the artist picks); its ``$F4``/``$HIP``/``$JOB`` spelling becomes a
framefill pattern (:mod:`framefill_houdini.paths`). The CLI runs out of
process with ``--events``; :func:`run_with_progress` shows its progress in
Houdini's interrupt dialog (``hou.InterruptableOperation``), whose cancel
interrupts the CLI (finished frames stay, a rerun resumes). The result comes
back as a File COP; every problem is one line in a message box.
"""

import os
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from framefill_host import HostError
from framefill_host.commands import interpolate_argv, qc_argv, upscale_argv
from framefill_host.patterns import first_last_range, format_range, to_framefill
from framefill_host.runner import CliRun, RunOutcome

from framefill_houdini import host_api as hu
from framefill_houdini.paths import (
    FILLED_FOLDER,
    QC_FOLDER,
    UPSCALED_FOLDER,
    beside,
    clean_env,
    framefill_to_houdini,
    houdini_to_framefill,
)

__all__ = [
    "KINDS",
    "OUTPUT_PARMS",
    "source_of",
    "default_output",
    "tool_argv",
    "run_with_progress",
    "result_pattern",
    "summary",
    "load_result",
]

KINDS = {"interpolate": "Interpolate sequence", "upscale": "Upscale sequence", "qc": "Flow error"}
# Where nodes keep an image path: Mantra, Karma/OpenGL, Arnold, Redshift, USD Render, Composite ROPs, File COPs.
OUTPUT_PARMS = ("vm_picture", "picture", "ar_picture", "RS_outputFileNamePrefix", "outputimage", "copoutput",
                "filename", "file", "filename1")


def source_of(node: Any) -> Tuple[str, Optional[str]]:
    """The framefill pattern a node renders to or reads, and (for a ROP) its frame range.

    Raises:
        HostError: the node has no image path parameter, or a path framefill cannot read.
    """
    for name in OUTPUT_PARMS:
        raw = hu.parm_raw(node, name)
        if raw is None:
            continue
        where = "{} parameter {}".format(node.path(), name)
        pattern = houdini_to_framefill(raw, expand=hu.expand, where=where, node_name=node.name())
        frames = None
        if hu.category(node) == "Driver":
            start, end, step = hu.frame_range(node)
            frames = first_last_range(start, end, step)
        return pattern, frames
    raise HostError("{} has no image path ({}); select a ROP or a File COP, or pick a file".format(
        node.path(), ", ".join(OUTPUT_PARMS[:3])))


def default_output(kind: str, pattern: str) -> str:
    folder = {"interpolate": FILLED_FOLDER, "upscale": UPSCALED_FOLDER}.get(kind)
    if folder is None:
        return os.path.join(os.path.dirname(to_framefill(pattern)), QC_FOLDER)
    return beside(pattern, folder)


def tool_argv(kind: str, cli: Sequence[str], *, pattern: str, output: Optional[str] = None,
              frames: Optional[str] = None, model: Optional[str] = None) -> List[str]:
    """The CLI command of one tool (``--events`` last).

    Raises:
        HostError: an unknown tool, a bad range, or an output that is the input.
    """
    target = output or default_output(kind, pattern)
    if kind in ("interpolate", "upscale") and to_framefill(target) == to_framefill(pattern):
        raise HostError("the output {} is the input sequence; framefill never writes over its input".format(target))
    if kind == "interpolate":
        return interpolate_argv(cli, input_pattern=pattern, output_pattern=target, frames=frames, model=model)
    if kind == "upscale":
        return upscale_argv(cli, input_pattern=pattern, output_pattern=target, frames=frames, model=model)
    if kind == "qc":
        return qc_argv(cli, pattern=pattern, report_dir=target)
    raise HostError("unknown framefill tool {!r}; use one of {}".format(kind, ", ".join(KINDS)))


def run_with_progress(argv: Sequence[str], title: str, *, environ: Optional[Mapping[str, str]] = None,
                      grace_s: float = 15.0) -> RunOutcome:
    """Run the CLI in Houdini's interrupt dialog; its cancel stops the CLI. Blocks until the CLI exits."""
    env = clean_env(os.environ if environ is None else environ)
    try:
        run = CliRun(argv, env=env, grace_s=grace_s).start()
    except HostError as err:
        return RunOutcome("error", None, err.msg)
    interrupted = hu.interrupted_error()
    with hu.interruptable(title) as operation:

        def poll() -> bool:
            # updateProgress is also where Houdini notices the cancel button.
            fraction = run.state.fraction or 0.0
            try:
                operation.updateLongProgress(fraction, run.state.label() or "starting framefill")
                operation.updateProgress(fraction)
            except interrupted:
                return True
            return False

        try:
            return run.wait(is_cancelled=poll)
        except (HostError, OSError, ValueError) as err:  # the artist must hear back, whatever happened
            run.cancel()
            return RunOutcome("error", None, getattr(err, "msg", None) or str(err))


def _frames(result: Mapping[str, Any], status: Optional[str] = None) -> List[int]:
    items = result.get("frames")
    if not isinstance(items, list):
        return []
    return sorted(int(i["frame"]) for i in items if isinstance(i, dict) and isinstance(i.get("frame"), int)
                  and (status is None or i.get("status") == status))


def result_pattern(kind: str, pattern: str, output: str, outcome: RunOutcome) -> Optional[str]:
    """What the File COP shows afterwards (Houdini spelling), or None after an error or a cancel."""
    if outcome.status not in ("ok", "failed") or outcome.result is None:
        return None
    if kind == "qc":
        return framefill_to_houdini(os.path.join(output, "heatmaps", os.path.basename(to_framefill(pattern))))
    return framefill_to_houdini(str(outcome.result.get("output") or output))


def summary(kind: str, outcome: RunOutcome) -> Tuple[str, bool]:
    """The one line the artist reads, and whether it is an error."""
    if outcome.status == "cancelled":
        return "framefill: cancelled; finished frames are kept and running the tool again resumes", False
    if outcome.status == "error" or outcome.result is None:
        return "framefill: {}".format(outcome.message or "framefill failed"), True
    result = outcome.result
    if kind == "interpolate":
        line = "framefill: {} filled, {} copied, {} held".format(
            result.get("filled", 0), result.get("copied", 0), result.get("held", 0))
    elif kind == "upscale":
        line = "framefill: upscaled {} frame(s)".format(len(_frames(result)))
    else:
        rerender = result.get("rerender_frames")
        frames = format_range(rerender) if isinstance(rerender, list) and rerender else "none"
        line = "framefill: frames to re-render: {}".format(frames)
    # qc "fails" when frames need a render: that is its answer, not a problem.
    if outcome.status == "failed" and outcome.message and kind != "qc":
        line = "{} ({})".format(line, outcome.message)
    return line, False


def load_result(parent: Any, name: str, houdini_pattern: str) -> Any:
    """A File COP in ``parent`` reading the result."""
    from framefill_houdini.cop_setup import COP_TYPES, PARMS

    item = hu.create_node(parent, COP_TYPES["file"], name)
    hu.set_parm(item, PARMS["file"], houdini_pattern)
    hu.layout(parent)
    return item
