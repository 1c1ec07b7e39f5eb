"""What the framefill nodes do, without Nuke: their knobs, command lines, bundles and results.

:mod:`framefill_nuke.nodes` reads knob values into a :class:`JobRequest`;
everything from there (the CLI arguments, the job-bundle arguments, what the
node's internal Read shows afterwards) is decided here and tested for real.
"""

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from framefill_host import HostError
from framefill_host.commands import (
    bundle_argv,
    interpolate_argv,
    qc_argv,
    split_extra,
    upscale_argv,
)
from framefill_host.patterns import (
    find_token,
    first_last_range,
    format_range,
    framefill_range_to_nuke,
    parse_range,
    to_framefill,
    to_nuke,
)
from framefill_host.runner import RunOutcome

__all__ = [
    "NodeSpec",
    "NODE_SPECS",
    "DEVICES",
    "JobRequest",
    "ResultView",
    "spec_for",
    "default_output",
    "job_argv",
    "job_bundle_argv",
    "result_view",
    "heatmap_pattern",
    "nuke_bbox",
    "regions_text",
    "regions_sidecar",
]

DEVICES = ("auto", "cpu", "cuda", "cuda:0", "cuda:1", "cuda:2", "cuda:3")


@dataclass(frozen=True)
class NodeSpec:
    """One framefill node class: its name, models, output folder and farm job kind."""

    node_class: str
    kind: str  # interpolate | upscale | qc
    label: str
    models: Tuple[str, ...]
    output_folder: str  # beside the input: where results go by default
    bundle_kind: str
    help: str = ""


NODE_SPECS = (
    NodeSpec(
        "FF_Interpolate", "interpolate", "framefill interpolate",
        ("rife-4", "rife-hdv3", "rife-4+hdv3", "flow", "blend"), "framefill_filled", "fill",
        "Fills the frames missing from the upstream Read's sequence with ML interpolation; "
        "rendered frames are copied bit-exact.",
    ),
    NodeSpec(
        "FF_Upscale", "upscale", "framefill upscale",
        ("realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3-x4", "realesr-animevideov3-x3",
         "realesr-animevideov3-x2", "lanczos"), "framefill_upscaled", "upscale",
        "Upscales the upstream Read's sequence with Real-ESRGAN, tiled and HDR-safe.",
    ),
    NodeSpec(
        "FF_FlowError", "qc", "framefill flow error",
        (), "framefill_qc", "qc",
        "Scores the filled frames of the upstream sequence: error heatmaps (ff_err, ff_risk) and "
        "the frames that still need a real render.",
    ),
)


def spec_for(node_class: str) -> NodeSpec:
    """The spec of a framefill node class.

    Raises:
        HostError: not a framefill node class.
    """
    for spec in NODE_SPECS:
        if spec.node_class == node_class:
            return spec
    raise HostError("{} is not a framefill node; use one of {}".format(
        node_class, ", ".join(s.node_class for s in NODE_SPECS)))


@dataclass(frozen=True)
class JobRequest:
    """Everything a node's Process button (or the farm menu) needs, read from its knobs.

    ``input_pattern`` is the upstream Read's file in Nuke's spelling; ``first``
    and ``last`` its frame range; ``frames`` an optional narrower range (Nuke
    or framefill syntax); ``output`` a file pattern (interpolate, upscale) or
    a report folder (qc). ``options`` holds the node's own knobs by name.
    """

    node_class: str
    input_pattern: str
    first: int
    last: int
    output: str
    model: str = ""
    device: str = "auto"
    frames: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    extra: str = ""

    @property
    def spec(self) -> NodeSpec:
        return spec_for(self.node_class)

    def frame_range(self) -> str:
        """The frames to work on, in framefill syntax (``frames`` if set, else first-last)."""
        if self.frames.strip():
            return format_range(parse_range(self.frames))
        return first_last_range(self.first, self.last)


def default_output(spec: NodeSpec, input_pattern: str) -> str:
    """Where results go when the output knob is empty: a folder beside the input.

    ``/shots/a/beauty.####.exr`` -> ``/shots/a/framefill_filled/beauty.####.exr``
    (interpolate; ``framefill_upscaled`` for upscale) or ``/shots/a/framefill_qc``
    (qc, a folder).
    """
    find_token(input_pattern)  # a pattern with a frame token, or a HostError now
    folder, name = os.path.split(input_pattern)
    target = os.path.join(folder, spec.output_folder) if folder else spec.output_folder
    if spec.kind == "qc":
        return target
    return os.path.join(target, to_nuke(name))


def _option(options: Mapping[str, Any], key: str) -> Any:
    value = options.get(key)
    if isinstance(value, str):
        value = value.strip()
    return None if value in ("", None, "auto", "default") else value


def _check_output(request: JobRequest, output: str) -> None:
    if to_framefill(output) == to_framefill(request.input_pattern):
        raise HostError("the output {} is the input sequence; framefill never writes over its input".format(output))


def job_argv(request: JobRequest, cli: Sequence[str]) -> List[str]:
    """The CLI arguments a node's Process button runs.

    Raises:
        HostError: a bad pattern or range, or an output that is the input.
    """
    spec = request.spec
    extra = split_extra(request.extra)
    output = request.output.strip() or default_output(spec, request.input_pattern)
    device = request.device or None
    if spec.kind == "interpolate":
        _check_output(request, output)
        scale = _option(request.options, "scale")
        return interpolate_argv(
            cli, input_pattern=request.input_pattern, output_pattern=output, frames=request.frame_range(),
            model=request.model or None, device=device, mode=_option(request.options, "mode"),
            scale=float(scale) if scale is not None else None, extra=extra,
        )
    if spec.kind == "upscale":
        _check_output(request, output)
        factor = _option(request.options, "factor")
        tile = _option(request.options, "tile_px")
        return upscale_argv(
            cli, input_pattern=request.input_pattern, output_pattern=output, frames=request.frame_range(),
            model=request.model or None, device=device, scale=int(factor) if factor is not None else None,
            size=_option(request.options, "size"), tile_px=int(tile) if tile else None, extra=extra,
        )
    # No filled range: the CLI reads which frames were filled from framefill.manifest.json.
    filled = _option(request.options, "filled")
    threshold = _option(request.options, "threshold_db")
    return qc_argv(
        cli, pattern=request.input_pattern, filled=filled,
        truth=_option(request.options, "truth"), report_dir=output,
        threshold_db=float(threshold) if threshold else None, extra=extra,
    )


def job_bundle_argv(request: JobRequest, cli: Sequence[str], out_dir: str) -> List[str]:
    """The ``framefill farm bundle`` arguments that describe the same job for Deadline Cloud.

    Raises:
        HostError: as :func:`job_argv`.
    """
    spec = request.spec
    output = request.output.strip() or default_output(spec, request.input_pattern)
    params: Dict[str, Any] = {}
    if request.device and request.device != "auto":
        params["Device"] = request.device
    if spec.kind == "interpolate":
        _check_output(request, output)
        if _option(request.options, "mode"):
            params["Mode"] = request.options["mode"]
        return bundle_argv(cli, kind=spec.bundle_kind, out_dir=out_dir, input_pattern=request.input_pattern,
                           output_pattern=output, frames=request.frame_range(), model=request.model or None,
                           params=params)
    if spec.kind == "upscale":
        _check_output(request, output)
        for key, param in (("factor", "Scale"), ("size", "Size"), ("tile_px", "TilePx")):
            if _option(request.options, key) is not None:
                params[param] = request.options[key]
        return bundle_argv(cli, kind=spec.bundle_kind, out_dir=out_dir, input_pattern=request.input_pattern,
                           output_pattern=output, frames=request.frame_range(), model=request.model or None,
                           params=params)
    threshold = _option(request.options, "threshold_db")
    if threshold:
        params["Threshold"] = repr(float(threshold))
    params.pop("Device", None)  # qc runs on the CPU; its template has no Device
    filled = _option(request.options, "filled")
    if not filled:
        raise HostError("a qc job needs the filled frames: set the node's filled frames, or put it under an "
                        "FF_Interpolate that has run")
    return bundle_argv(cli, kind=spec.bundle_kind, out_dir=out_dir, output_pattern=request.input_pattern,
                       filled=filled, report_dir=output, params=params)


def heatmap_pattern(input_pattern: str, report_dir: str) -> str:
    """Where ``framefill qc --report DIR`` writes heatmap EXRs: ``DIR/heatmaps/<input file name>`` (Nuke spelling)."""
    return to_nuke(os.path.join(report_dir, "heatmaps", os.path.basename(to_framefill(input_pattern))))


@dataclass(frozen=True)
class ResultView:
    """What a node shows after a run: its internal Read, a status line and, maybe, a message box.

    ``read_file`` None leaves the Read as it was (a failed run shows nothing new).
    """

    status: str
    read_file: Optional[str] = None
    first: Optional[int] = None
    last: Optional[int] = None
    message: str = ""
    rerender: str = ""
    filled: str = ""
    regions: str = ""
    regions_file: str = ""


def _frames_of(result: Mapping[str, Any], status: Optional[str] = None) -> List[int]:
    frames = result.get("frames")
    if not isinstance(frames, list):
        return []
    out = []
    for item in frames:
        if isinstance(item, dict) and isinstance(item.get("frame"), int):
            if status is None or item.get("status") == status:
                out.append(item["frame"])
    return sorted(out)


def nuke_bbox(box: Sequence[int], display_window: Sequence[int]) -> Tuple[int, int, int, int]:
    """A region box of ``framefill qc`` in Nuke's bbox convention.

    framefill's boxes (``regions.json``, ``qc.json``) are inclusive ``x0, y0, x1, y1``
    display-window pixels with y DOWN (EXR windows). Nuke puts the format's origin at
    the display window's bottom-left corner, y UP, and a bbox's ``r`` and ``t`` are
    one past its last pixel: ``x = x0 - dx0``, ``y = dy1 - y1``, ``r = x1 - dx0 + 1``,
    ``t = dy1 - y0 + 1`` for the display window ``dx0, dy0, dx1, dy1``.
    """
    x0, y0, x1, y1 = (int(v) for v in box)
    dx0, _dy0, _dx1, dy1 = (int(v) for v in display_window)
    return x0 - dx0, dy1 - y1, x1 - dx0 + 1, dy1 - y0 + 1


def regions_text(result: Mapping[str, Any]) -> str:
    """One line per listed frame of a qc result: ``1002: x y r t`` (Nuke bboxes, :func:`nuke_bbox`;
    several boxes separated by ``|``) or ``1004: whole frame``."""
    lines = []
    for row in result.get("frames") or []:
        if not isinstance(row, dict) or not row.get("flagged") or not isinstance(row.get("frame"), int):
            continue
        regions = row.get("regions")
        window = regions.get("display_window") if isinstance(regions, dict) else None
        boxes = regions.get("boxes") if isinstance(regions, dict) else None
        if not isinstance(regions, dict) or regions.get("whole_frame") or not boxes or not window:
            lines.append((row["frame"], "whole frame"))
            continue
        lines.append((row["frame"], " | ".join(" ".join(str(v) for v in nuke_bbox(b, window)) for b in boxes)))
    return "\n".join("{}: {}".format(frame, text) for frame, text in sorted(lines))


def regions_sidecar(result: Mapping[str, Any], report_dir: str) -> str:
    """The ``regions.json`` that ``framefill qc --report`` writes beside its ``qc.json``."""
    qc_json = result.get("qc_json")
    folder = os.path.dirname(str(qc_json)) if isinstance(qc_json, str) and qc_json else report_dir
    return os.path.join(folder, "regions.json")


def result_view(request: JobRequest, outcome: RunOutcome) -> ResultView:
    """Turn a run's outcome into what the node shows (pure: no Nuke)."""
    spec = request.spec
    if outcome.status == "cancelled":
        return ResultView("cancelled; finished frames are kept, Process again resumes")
    if outcome.status == "error" or outcome.result is None:
        return ResultView("failed: {}".format(outcome.message), message=outcome.message or "framefill failed")
    result = outcome.result
    output = request.output.strip() or default_output(spec, request.input_pattern)
    frames = _frames_of(result) or parse_range(request.frame_range())
    first, last = frames[0], frames[-1]
    note = outcome.message if outcome.status == "failed" else ""
    if spec.kind == "interpolate":
        filled = format_range(_frames_of(result, "filled"))
        status = "{} filled, {} copied, {} held".format(result.get("filled", 0), result.get("copied", 0),
                                                        result.get("held", 0))
        return ResultView(status, to_nuke(str(result.get("output") or output)), first, last, note, filled=filled)
    if spec.kind == "upscale":
        status = "upscaled {} frame(s)".format(len(frames))
        return ResultView(status, to_nuke(str(result.get("output") or output)), first, last, note)
    rerender = result.get("rerender_nuke")
    if not isinstance(rerender, str):
        rerender = framefill_range_to_nuke(str(result["rerender"])) if result.get("rerender") else ""
    status = "re-render: {}".format(rerender or "none")
    regions = regions_text(result)
    return ResultView(status, heatmap_pattern(request.input_pattern, output), first, last, note, rerender=rerender,
                      regions=regions, regions_file=regions_sidecar(result, output) if regions else "")
