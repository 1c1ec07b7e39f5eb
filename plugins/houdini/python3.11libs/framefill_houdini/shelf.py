"""What the framefill shelf tools and the Render menu item call (``toolbar/framefill.shelf``, ``MainMenuCommon.xml``).

Each entry point takes the shelf's ``kwargs`` (unused; tests pass ``cli``),
asks the artist what it needs, does its work, and reports one line in a
message box; a problem never reaches the artist as a traceback.
"""

import functools
import os
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from framefill_host import HostError
from framefill_host.settings import get_python, set_python

from framefill_houdini import cop_setup, host_api as hu, pdg_fill, prefs, submit, tools
from framefill_houdini.paths import (
    FILLED_FOLDER,
    beside,
    clean_env,
    framefill_to_houdini,
    onnx_cache_dir,
    pattern_from_pick,
)

__all__ = [
    "TOP_TYPES",
    "TOP_PARMS",
    "interpolate_sequence",
    "upscale_sequence",
    "flow_error",
    "cop_interpolate",
    "cop_upscale",
    "tops_sparse_fill",
    "tops_network",
    "submit_deadline",
    "choose_python",
]

# TOP node types (doc pages nodes/top/<type>.html) and the parameter names used (assumptions).
TOP_TYPES = {"network": "topnet", "ropfetch": "ropfetch", "python": "pythonprocessor"}
TOP_PARMS = {
    "roppath": "roppath",               # ROP Fetch: ROP Path
    "range_mode": "framegeneration",    # ROP Fetch: Evaluate Using (menu)
    "range": "range",                   # ROP Fetch: start, end, increment
    "generate": "generate",             # Python Processor: the generate callback (onGenerate)
    "generate_when": "generatewhen",    # Python Processor: Generate When (menu)
}
DEFAULT_EVERY = 2
DEFAULT_BATCH = 8
DEFAULT_THRESHOLD_DB = 30.0
DEFAULT_CHUNK = 8


def _reports(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a HostError into one message box line."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HostError as err:
            hu.message("framefill: {}".format(err.msg), error=True)
            return None

    return wrapper


def _selected() -> Optional[Any]:
    nodes = hu.selected_nodes()
    return nodes[0] if nodes else None


def _source(node: Optional[Any], prompt: str) -> Tuple[str, Optional[str]]:
    if node is not None:
        return tools.source_of(node)
    picked = hu.ask_file(prompt)
    if not picked:
        raise HostError("no sequence chosen; select a ROP or a File COP, or pick one frame of the sequence")
    return pattern_from_pick(picked, expand=hu.expand), None


def _ask_int(prompt: str, default: int, minimum: int) -> int:
    text = hu.ask_text(prompt, str(default))
    if text is None:
        raise HostError("cancelled")
    try:
        value = int(text.strip())
    except ValueError:
        raise HostError("{!r} is not a whole number ({})".format(text, prompt)) from None
    if value < minimum:
        raise HostError("{} must be {} or more, got {}".format(prompt, minimum, value))
    return value


def _cop_parent(node: Optional[Any]) -> Any:
    """Where result and setup nodes go: beside a selected Copernicus node, else in /img."""
    if node is not None and hu.category(node) == "Cop":
        return node.parent()
    parent = hu.node("/img")
    if parent is None:
        raise HostError("no /img network to put the framefill nodes in; select a node inside a COP network")
    return parent


def _cli(cli: Optional[Sequence[str]]) -> List[str]:
    return list(cli) if cli is not None else prefs.cli()


# --------------------------------------------------------------------------- out of process


@_reports
def run_tool(kind: str, kwargs: Optional[Dict[str, Any]] = None, *, cli: Optional[Sequence[str]] = None) -> Any:
    """Interpolate sequence / Upscale sequence / Flow error on the selected ROP's or File COP's sequence."""
    node = _selected()
    pattern, frames = _source(node, "{}: pick one frame of the sequence".format(tools.KINDS[kind]))
    model = None
    if kind == "interpolate":
        model = hu.ask_choice("Interpolation model", ("rife-4", "rife-hdv3", "rife-4+hdv3", "flow", "blend"))
    elif kind == "upscale":
        model = hu.ask_choice("Upscale model", cop_setup.UPSCALE_MODELS + ("lanczos",))
    if kind != "qc" and model is None:
        return None
    output = tools.default_output(kind, pattern)
    argv = tools.tool_argv(kind, _cli(cli), pattern=pattern, output=output, frames=frames, model=model)
    outcome = tools.run_with_progress(argv, "framefill: {}".format(tools.KINDS[kind]))
    shown = tools.result_pattern(kind, pattern, output, outcome)
    loaded = None
    if shown is not None:
        loaded = tools.load_result(_cop_parent(node), "framefill_{}".format(kind), shown)
    line, is_error = tools.summary(kind, outcome)
    hu.message(line, error=is_error)
    return loaded


def interpolate_sequence(kwargs: Optional[Dict[str, Any]] = None, **options: Any) -> Any:
    return run_tool("interpolate", kwargs, **options)


def upscale_sequence(kwargs: Optional[Dict[str, Any]] = None, **options: Any) -> Any:
    return run_tool("upscale", kwargs, **options)


def flow_error(kwargs: Optional[Dict[str, Any]] = None, **options: Any) -> Any:
    return run_tool("qc", kwargs, **options)


# --------------------------------------------------------------------------- Copernicus


def _plate_size() -> Tuple[int, int]:
    text = hu.ask_text("Plate size WxH. The ONNX model is static: one export per resolution "
                       "(cached by model and size)", "1920x1080")
    if text is None:
        raise HostError("cancelled")
    try:
        width, height = (int(v) for v in text.lower().strip().split("x"))
    except ValueError:
        raise HostError("plate size {!r} is not WIDTHxHEIGHT (1920x1080)".format(text)) from None
    cop_setup.check_size(width, height)
    return width, height


def _export(model: str, width: int, height: int, cli: Sequence[str]) -> str:
    files = cop_setup.onnx_files(onnx_cache_dir(os.environ), model, width, height)
    if cop_setup.export_needed(files, interpolate=model in cop_setup.INTERPOLATE_MODELS):
        argv = cop_setup.export_argv(cli, model=model, width=width, height=height, out_dir=files.folder)
        outcome = tools.run_with_progress(argv, "framefill: exporting {} at {}x{}".format(model, width, height))
        if not outcome.ok:
            raise HostError("the ONNX export of {} at {}x{} failed: {}".format(model, width, height,
                                                                               outcome.message))
    return files.onnx


@_reports
def cop_setup_tool(kind: str, kwargs: Optional[Dict[str, Any]] = None, *,
                   cli: Optional[Sequence[str]] = None) -> Any:
    """Build an ONNX Inference setup for a framefill model in the current COP network."""
    node = _selected()
    parent = _cop_parent(node)
    pattern, frames = _source(node, "framefill Copernicus setup: pick one frame of the plate")
    models = cop_setup.INTERPOLATE_MODELS if kind == "interpolate" else cop_setup.UPSCALE_MODELS
    model = hu.ask_choice("framefill model", models)
    if model is None:
        return None
    width, height = _plate_size()
    onnx_file = _export(model, width, height, _cli(cli))
    houdini_pattern = framefill_to_houdini(pattern)
    if kind == "interpolate":
        every = _ask_int("Rendered every N frames", DEFAULT_EVERY, 2)
        first = _ask_int("First rendered frame", int(frames.split("-")[0]) if frames else 1001, -10**6)
        layers = _ask_int("Layers to warp (the File COPs' outputs: C, then your AOVs)", 1, 1)
        specs = cop_setup.interpolate_network(pattern=houdini_pattern, onnx_file=onnx_file, width=width,
                                              height=height, first_key=first, every=every, layers=layers)
    else:
        specs = cop_setup.upscale_network(pattern=houdini_pattern, onnx_file=onnx_file, width=width, height=height)
    made, missing = cop_setup.build(parent, specs)
    line = ("framefill: {} setup built in {} with {} at {}x{} (a static model: a plate of another size needs "
            "the tool again)".format(kind, parent.path(), os.path.basename(onnx_file), width, height))
    if missing:
        line += "; set by hand: {}".format(", ".join(missing))
    hu.message(line)
    return made


def cop_interpolate(kwargs: Optional[Dict[str, Any]] = None, **options: Any) -> Any:
    return cop_setup_tool("interpolate", kwargs, **options)


def cop_upscale(kwargs: Optional[Dict[str, Any]] = None, **options: Any) -> Any:
    return cop_setup_tool("upscale", kwargs, **options)


# --------------------------------------------------------------------------- TOPs


def tops_network(*, rop_path: str, pattern: str, start: int, end: int, every: int, batch: int,
                 model: str) -> List[cop_setup.NodeSpec]:
    """The TOP network of a sparse render: ROP Fetch every Nth frame -> fill -> qc -> re-render items."""
    output = beside(pattern, FILLED_FOLDER)
    report = tools.default_output("qc", output)
    cooked = ((TOP_PARMS["generate_when"], "All Upstream Items are Cooked"),)
    frames = "{}-{}".format(start, end)
    return [
        cop_setup.NodeSpec("render_keyframes", TOP_TYPES["ropfetch"],
                           parms=((TOP_PARMS["roppath"], rop_path), (TOP_PARMS["range"], (start, end, every))),
                           menus=((TOP_PARMS["range_mode"], "Frame Range"),)),
        cop_setup.NodeSpec("framefill_fill", TOP_TYPES["python"], menus=cooked, parms=((TOP_PARMS["generate"],
                           pdg_fill.generate_script("generate_fill", input_pattern=pattern, output_pattern=output,
                                                    frames=frames, batch=batch, model=model)),),
                           inputs=((0, "render_keyframes", 0),)),
        cop_setup.NodeSpec("framefill_qc", TOP_TYPES["python"], menus=cooked, parms=((TOP_PARMS["generate"],
                           pdg_fill.generate_script("generate_qc", output_pattern=output, report_dir=report)),),
                           inputs=((0, "framefill_fill", 0),)),
        cop_setup.NodeSpec("framefill_rerender", TOP_TYPES["python"], menus=cooked, parms=((TOP_PARMS["generate"],
                           pdg_fill.generate_script("generate_rerender")),), inputs=((0, "framefill_qc", 0),)),
    ]


def _selected_rop() -> Any:
    node = _selected()
    if node is None or hu.category(node) != "Driver":
        raise HostError("select the ROP that renders the shot (in /out) first")
    return node


@_reports
def tops_sparse_fill(kwargs: Optional[Dict[str, Any]] = None) -> Any:
    """Build /tasks/framefill_sparse for the selected ROP."""
    rop = _selected_rop()
    pattern, _ = tools.source_of(rop)
    start, end, _step = hu.frame_range(rop)
    every = _ask_int("Render every N frames", DEFAULT_EVERY, 2)
    batch = _ask_int("Frames per fill work item", DEFAULT_BATCH, 1)
    tasks = hu.node("/tasks")
    if tasks is None:
        raise HostError("no /tasks network in this Houdini session")
    topnet = hu.create_node(tasks, TOP_TYPES["network"], "framefill_sparse")
    made, missing = cop_setup.build(topnet, tops_network(rop_path=rop.path(), pattern=pattern, start=start,
                                                         end=end, every=every, batch=batch, model="rife-4"))
    line = "framefill: built {} (cook framefill_rerender for the frames to re-render)".format(topnet.path())
    if (end - start) % every:
        line += "; {}-{} is not a multiple of {}: frames after the last keyframe stay unfilled".format(
            start, end, every)
    if missing:
        line += "; set by hand: {}".format(", ".join(missing))
    hu.message(line)
    return made


# --------------------------------------------------------------------------- farm and preferences


@_reports
def submit_deadline(kwargs: Optional[Dict[str, Any]] = None, *, cli: Optional[Sequence[str]] = None) -> Any:
    """Render > Submit to Deadline Cloud (framefill): the selected ROP's shot as a sparse_pipeline bundle."""
    rop = _selected_rop()
    if hu.hip_dirty():
        raise HostError("save the .hip first: the farm renders the saved file")
    pattern, _ = tools.source_of(rop)
    start, end, step = hu.frame_range(rop)
    every = _ask_int("Render every N frames", DEFAULT_EVERY, 2)
    model = hu.ask_choice("Interpolation model", ("rife-4", "rife-hdv3", "rife-4+hdv3", "flow"))
    where = hu.ask_choice("The keyframes", ("render them on the farm (hython renders the ROP first)",
                                             "are rendered already"))
    if model is None or where is None:
        return None
    submitter = submit.deadline_submitter()
    if submitter is not None:
        folder = tempfile.mkdtemp(prefix="framefill-bundle-")
    else:
        folder = hu.ask_file("Save the framefill job bundle in this folder", kind="Directory")
        if not folder:
            return None
    version = hu.version()
    request = submit.bundle_request(
        hip_file=hu.hip_file(), rop_path=rop.path(), input_pattern=pattern, frames=range(start, end + 1, step),
        every=every, out_dir=folder, model=model, device="auto", threshold_db=DEFAULT_THRESHOLD_DB,
        chunk_size=DEFAULT_CHUNK, houdini_version="{}.{}".format(version[0], version[1]),
        render_on_farm=where.startswith("render"))
    bundle = submit.write_bundle(request, cli=_cli(cli), env=clean_env(os.environ))
    if submitter is not None:
        submitter(input_job_bundle_dir=bundle)
    else:
        hu.message("framefill: job bundle saved to {}; submit it with: deadline bundle submit {}".format(
            bundle, bundle))
    return bundle


@_reports
def choose_python(kwargs: Optional[Dict[str, Any]] = None) -> None:
    """Pick the Python with framefill installed (or the ``framefill`` executable) that the tools run."""
    path = prefs.settings_path()
    chosen = hu.ask_file("framefill Python (now: {})".format(get_python(path) or "$FRAMEFILL_PYTHON or PATH"),
                         kind="Any")
    if not chosen:
        return
    set_python(path, chosen)
    hu.message("framefill tools will run {}".format(chosen))
