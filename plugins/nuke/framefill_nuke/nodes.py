"""FF_Interpolate, FF_Upscale and FF_FlowError: Group nodes built in Python, no binary gizmo.

Each group holds ``Input1 -> ff_switch -> Output1`` with an internal Read
(``ff_result``) on the switch's second input. Until a run finishes the group
passes its input through; afterwards the Read points at the output (the filled
or upscaled sequence, or FF_FlowError's heatmap EXRs with their ``ff_err`` and
``ff_risk`` layers) and the switch shows it. Knobs live on a "framefill" tab;
the Process button starts the CLI in the background (see
:mod:`framefill_nuke.background`). Errors reach the user as Nuke messages.
"""

import functools
import os
from typing import Any, Dict, List, Tuple

from framefill_host import HostError
from framefill_host.runner import RunOutcome, resolve_cli
from framefill_host.settings import get_python

from framefill_nuke import host_api as nk
from framefill_nuke.background import run_in_background
from framefill_nuke.jobs import (
    DEVICES,
    JobRequest,
    NodeSpec,
    default_output,
    job_argv,
    result_view,
    spec_for,
)
from framefill_nuke.qt import copy_to_clipboard

__all__ = [
    "TAB",
    "SETTINGS_FILE",
    "create",
    "create_interpolate",
    "create_upscale",
    "create_flow_error",
    "option_knobs",
    "request_from_node",
    "process",
    "knob_changed",
    "copy_rerender",
    "settings_path",
    "is_framefill_node",
]

TAB = "framefill"
SETTINGS_FILE = "framefill.json"
CLASS_KNOB = "ff_node_class"
RUNNING_KNOB = "ff_running"
FILLED_KNOB = "ff_filled"
RESULT_READ = "ff_result"
SWITCH = "ff_switch"
VIEW_EXPR = "ff_view"
HEATMAP_VIEWS = ("beauty", "ff_risk", "ff_err")
REGIONS_KNOB = "rerender_regions"
REGIONS_FILE_KNOB = "regions_file"

# Knob scripts are stored in the .nk as text, so they call back by module path.
_PROCESS = "import framefill_nuke.nodes\nframefill_nuke.nodes.process(nuke.thisNode())"
_COPY = "import framefill_nuke.nodes\nframefill_nuke.nodes.copy_rerender(nuke.thisNode())"
_KNOB_CHANGED = "import framefill_nuke.nodes\nframefill_nuke.nodes.knob_changed(nuke.thisNode(), nuke.thisKnob())"


def settings_path() -> str:
    return os.path.join(nk.user_dir(), SETTINGS_FILE)


def option_knobs(spec: NodeSpec) -> Tuple[str, ...]:
    """The node's own option knobs, whose values go into ``JobRequest.options``."""
    if spec.kind == "interpolate":
        return ("mode", "scale")
    if spec.kind == "upscale":
        return ("factor", "size", "tile_px")
    return ("filled", "truth", "threshold_db")


def _option_knob_objects(spec: NodeSpec) -> List[Any]:
    if spec.kind == "interpolate":
        return [
            nk.enum_knob("mode", "gaps", ["direct", "recursive"]),
            nk.enum_knob("scale", "RIFE scale", ["auto", "1.0", "0.5", "0.25"]),
        ]
    if spec.kind == "upscale":
        return [
            nk.enum_knob("factor", "scale", ["default", "2", "3", "4"]),
            nk.string_knob("size", "or size WxH"),
            nk.int_knob("tile_px", "tile (px, 0 = auto)", 0),
        ]
    rerender = nk.set_flags(nk.string_knob("rerender", "re-render"), read_only=True)
    return [
        nk.string_knob("filled", "filled frames"),
        nk.file_knob("truth", "true renders (optional)"),
        nk.double_knob("threshold_db", "threshold (dB, 0 = default)", 0.0),
        nk.enum_knob("view", "show", list(HEATMAP_VIEWS)),
        rerender,
        nk.set_flags(nk.script_knob("copy_rerender", "copy", _COPY), new_line=False),
        # Per listed frame: the boxes to re-render as Nuke bboxes (x y r t, y up) or "whole frame".
        nk.text_knob(REGIONS_KNOB, "regions (x y r t)", ""),
        # The regions sidecar (framefill's boxes, y down) that `framefill patch` and the other hosts read.
        nk.set_flags(nk.string_knob(REGIONS_FILE_KNOB, "regions file"), read_only=True),
    ]


def create(node_class: str) -> Any:
    """Create a framefill node (connected to the selection, as Nuke creates nodes)."""
    spec = spec_for(node_class)
    group = nk.create_group(spec.node_class)
    for knob in _knobs(spec):
        group.addKnob(knob)
    if spec.kind == "qc":
        nk.set_knob(group, "knobChanged", _KNOB_CHANGED)
    _build_internals(group, spec)
    return group


def create_interpolate() -> Any:
    return create("FF_Interpolate")


def create_upscale() -> Any:
    return create("FF_Upscale")


def create_flow_error() -> Any:
    return create("FF_FlowError")


def _knobs(spec: NodeSpec) -> List[Any]:
    knobs = [
        nk.tab_knob(TAB, TAB),
        nk.text_knob("ff_help", "", spec.help),
        nk.text_knob("ff_source", "input", "(the upstream Read, read when you press Process)"),
        nk.file_knob("output", "report folder" if spec.kind == "qc" else "output"),
    ]
    if spec.models:
        knobs.append(nk.enum_knob("model", "model", list(spec.models)))
    knobs.append(nk.enum_knob("device", "device", list(DEVICES)))
    knobs.append(nk.string_knob("frames", "frames (empty = the Read's range)"))
    knobs += _option_knob_objects(spec)
    knobs += [
        nk.string_knob("extra", "extra CLI options"),
        nk.script_knob("process", "Process", _PROCESS),
        nk.text_knob("status", "status", "not processed"),
        nk.set_flags(nk.string_knob(CLASS_KNOB, CLASS_KNOB, spec.node_class), hidden=True),
        nk.set_flags(nk.string_knob(FILLED_KNOB, FILLED_KNOB), hidden=True),
        nk.set_flags(nk.bool_knob(RUNNING_KNOB, RUNNING_KNOB), hidden=True, not_saved=True),
    ]
    return knobs


def _build_internals(group: Any, spec: NodeSpec) -> None:
    group.begin()
    try:
        # Reuse what a Nuke version may already put inside a new Group.
        source = group.node("Input1") or nk.new_node("Input", name="Input1")
        read = nk.new_node("Read", name=RESULT_READ)
        shown = read
        if spec.kind == "qc":
            # Shows one heatmap layer in rgb when asked (knob "view"); off shows the beauty.
            shown = nk.new_node("Expression", name=VIEW_EXPR, disable=True)
            shown.setInput(0, read)
        switch = nk.new_node("Switch", name=SWITCH, which=0)
        switch.setInput(0, source)
        switch.setInput(1, shown)
        output = group.node("Output1") or nk.new_node("Output", name="Output1")
        output.setInput(0, switch)
    finally:
        group.end()


def is_framefill_node(node: Any) -> bool:
    return bool(nk.knob_value(node, CLASS_KNOB, ""))


def _upstream(node: Any) -> Tuple[str, int, int]:
    """The sequence feeding ``node``: the first Read up its input chain, or a framefill node's result.

    Raises:
        HostError: no Read upstream, or an upstream framefill node with no result yet.
    """
    current = node.input(0)
    for _ in range(1000):  # a graph is a DAG; the bound only guards against a broken one
        if current is None:
            break
        if current.Class() == "Read":
            return nk.node_filename(current), int(current["first"].value()), int(current["last"].value())
        if is_framefill_node(current):
            read = current.node(RESULT_READ)
            shown = current.node(SWITCH)
            if read is None or not read["file"].value() or shown is None or int(shown["which"].value()) != 1:
                raise HostError("{} has no result yet: press its Process button first".format(current.name()))
            return read["file"].value(), int(read["first"].value()), int(read["last"].value())
        current = current.input(0)
    raise HostError("{}: connect its input to a Read node (or a chain of nodes that starts at one)".format(
        node.name()))


def _upstream_filled(node: Any) -> str:
    """An upstream FF_Interpolate's filled frames (so FF_FlowError scores exactly those)."""
    current = node.input(0)
    while current is not None and current.Class() != "Read":
        if is_framefill_node(current):
            return str(nk.knob_value(current, FILLED_KNOB, "") or "")
        current = current.input(0)
    return ""


def request_from_node(node: Any) -> JobRequest:
    """Read a framefill node's knobs and upstream sequence into a :class:`JobRequest`.

    Raises:
        HostError: not a framefill node, or no usable upstream sequence.
    """
    node_class = str(nk.knob_value(node, CLASS_KNOB, "") or "")
    spec = spec_for(node_class)
    pattern, first, last = _upstream(node)
    options: Dict[str, Any] = {name: nk.knob_value(node, name) for name in option_knobs(spec)}
    if spec.kind == "qc" and not str(options.get("filled") or "").strip():
        options["filled"] = _upstream_filled(node)
    return JobRequest(
        node_class=spec.node_class, input_pattern=pattern, first=first, last=last,
        output=str(nk.knob_value(node, "output", "") or ""), model=str(nk.knob_value(node, "model", "") or ""),
        device=str(nk.knob_value(node, "device", "auto") or "auto"),
        frames=str(nk.knob_value(node, "frames", "") or ""), options=options,
        extra=str(nk.knob_value(node, "extra", "") or ""),
    )


def process(node: Any) -> None:
    """The Process button: check, start the CLI in the background, return at once."""
    try:
        if nk.knob_value(node, RUNNING_KNOB, False):
            raise HostError("{} is already processing; cancel it in its progress bar first".format(node.name()))
        request = request_from_node(node)
        argv = job_argv(request, resolve_cli(get_python(settings_path())))
    except HostError as err:
        nk.message("framefill: {}".format(err.msg))
        return
    if not request.output.strip():
        nk.set_knob(node, "output", default_output(request.spec, request.input_pattern))
    nk.set_knob(node, "ff_source", "{} ({}-{})".format(request.input_pattern, request.first, request.last))
    nk.set_knob(node, RUNNING_KNOB, True)
    nk.set_knob(node, "status", "processing...")
    run_in_background(argv, title="{}: {}".format(node.name(), request.spec.label),
                      on_done=functools.partial(finish, node, request))


def finish(node: Any, request: JobRequest, outcome: RunOutcome) -> None:
    """Show a run's outcome on its node (main thread)."""
    try:
        node.name()
    except ValueError:  # the node was deleted while the run went on
        if outcome.status not in ("ok", "cancelled"):
            nk.message("framefill: {}".format(outcome.message))
        return
    nk.set_knob(node, RUNNING_KNOB, False)
    view = result_view(request, outcome)
    nk.set_knob(node, "status", view.status)
    if view.read_file is not None:
        read = node.node(RESULT_READ)
        read["file"].setValue(view.read_file)
        for name, value in (("first", view.first), ("last", view.last), ("origfirst", view.first),
                            ("origlast", view.last)):
            nk.set_knob(read, name, value)
        nk.set_knob(read, "on_error", "black")
        reload_knob = read.knob("reload")
        if reload_knob is not None:
            reload_knob.execute()
        node.node(SWITCH)["which"].setValue(1)
    if request.spec.kind == "interpolate":
        nk.set_knob(node, FILLED_KNOB, view.filled)
    if request.spec.kind == "qc":
        nk.set_knob(node, "rerender", view.rerender)
        nk.set_knob(node, REGIONS_KNOB, view.regions)
        nk.set_knob(node, REGIONS_FILE_KNOB, view.regions_file)
        _apply_view(node)
    if view.message:
        nk.message("framefill: {}".format(view.message))


def _apply_view(node: Any) -> None:
    """FF_FlowError's "show" knob: the beauty, or one heatmap layer in rgb."""
    expr = node.node(VIEW_EXPR)
    if expr is None:
        return
    choice = str(nk.knob_value(node, "view", "beauty") or "beauty")
    if choice not in HEATMAP_VIEWS[1:]:
        expr["disable"].setValue(True)
        return
    for index in range(3):
        expr["expr{}".format(index)].setValue("{}.Y".format(choice))
    expr["expr3"].setValue("a")
    expr["disable"].setValue(False)


def knob_changed(node: Any, knob: Any) -> None:
    """FF_FlowError's knobChanged callback."""
    if knob is not None and knob.name() == "view":
        _apply_view(node)


def copy_rerender(node: Any) -> None:
    """The copy button next to the re-render list: the frames, then each frame's regions and the sidecar."""
    text = str(nk.knob_value(node, "rerender", "") or "")
    if not text:
        nk.message("framefill: no re-render list yet; press Process first")
        return
    regions = str(nk.knob_value(node, REGIONS_KNOB, "") or "")
    sidecar = str(nk.knob_value(node, REGIONS_FILE_KNOB, "") or "")
    if regions:
        text += "\nregions (Nuke bbox x y r t, y up{}):\n{}".format(
            "; framefill's boxes, y down: " + sidecar if sidecar else "", regions)
    if not copy_to_clipboard(text):
        nk.message("Frames to re-render:\n{}".format(text))
