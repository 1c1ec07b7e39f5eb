"""``framefill export nuke | onnx``: host-ready models from the registry's real weights.

torch and the exporters are imported inside the command bodies only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from framefill.cli import cli, make_output, named_flags, output_options, run_command
from framefill.events import Event

__all__ = ["export_group"]

@click.group("export")
def export_group() -> None:
    """Host-ready models: TorchScript for NukeX's Inference node, ONNX for Houdini and ONNX Runtime.

    \b
    framefill export nuke --model rife-4 --out nuke_models/
    framefill export nuke --model realesrgan-x4plus --out nuke_models/
    framefill export onnx --model rife-4 --size 1920x1080 --out onnx_models/
    """


_model_option = click.option("--model", required=True, metavar="NAME",
                             help="rife-4, or an upscaler (framefill models list).")
_out_option = click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
                           help="Folder for the exported files (created if missing).")
_weights_option = click.option("--weights", type=click.Path(dir_okay=False, exists=True),
                               help="Use this weights file instead of the cached, verified one.")
_linear_option = click.option("--linear-input/--no-linear-input", default=True, show_default=True,
                              help="Inputs are scene-linear: the model applies the sRGB curve (unclamped) "
                                   "itself. Off: feed sRGB-encoded images.")


def _human(payload: dict[str, Any]) -> None:
    click.echo(f"{payload['model']} exported for {payload['target']}:")
    for item in payload["files"]:
        click.echo(f"  {item['role']:<18} {item['path']}")


def _say(out: Any) -> Any:
    def report(message: str) -> None:
        out.report(Event("progress", stage="export", message=message))

    return report


@export_group.command("nuke")
@_model_option
@_out_option
@_weights_option
@click.option("--timestep", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="Default of the timestep knob (interpolation).")
@click.option("--scale", type=float, default=1.0, show_default=True,
              help="Default of RIFE's scale knob: 1.0 up to 2K, 0.5 for 4K, 0.25 for 8K.")
@_linear_option
@output_options
def export_nuke_command(
    model: str, out_dir: str, weights: str | None, timestep: float, scale: float, linear_input: bool,
    json_mode: bool, events_mode: bool, quiet: bool,
) -> None:
    """TorchScript .pt files for NukeX's Inference node, with .nk snippets.

    Writes MODEL.pt and MODEL_CatFileCreator.nk (paste it into NukeX and press
    "Create .cat file"), and MODEL_setup.nk, a Group that uses the .cat. For
    rife-4 the setup warps every channel of the original frames with the
    model's flows through STMaps; MODEL_frame.pt returns the frame directly.
    """
    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        from framefill import api

        result = api.export_model(
            "nuke", model, out_dir, weights=Path(weights) if weights else None, timestep=timestep, scale=scale,
            linear_input=linear_input, report=_say(out),
        )
        payload = result.to_json()
        out.result(payload, lambda: _human(payload))


@export_group.command("onnx")
@_model_option
@_out_option
@_weights_option
@click.option("--size", "size_text", default="1920x1080", show_default=True, metavar="WxH",
              help="Input frame size; every axis of the graph is static (Copernicus deduces at most one).")
@click.option("--variant", type=click.Choice(["motion", "frame"]), default="motion", show_default=True,
              help="Interpolation: flows and mask (motion) or the frame itself.")
@click.option("--rife-scale", type=float, default=None,
              help="RIFE's resolution scale (default: 1.0 up to 2K wide, 0.5 up to 4K, 0.25 above).")
@click.option("--flow-y-up", is_flag=True, help="Flows with y pointing up (Houdini's convention) instead of down.")
@_linear_option
@output_options
def export_onnx_command(
    model: str, out_dir: str, weights: str | None, size_text: str, variant: str, rife_scale: float | None,
    flow_y_up: bool, linear_input: bool, json_mode: bool, events_mode: bool, quiet: bool,
) -> None:
    """A float32, opset-17, single-file ONNX model for Houdini's ONNX Inference COP or ONNX Runtime.

    Writes MODEL_WxH.onnx and MODEL_WxH.json (inputs, outputs, flip and flow
    conventions). Tensors have row 0 at the top: enable the COP's input and
    output flips.
    """
    out = make_output(json_mode, events_mode, quiet)
    with run_command(out):
        from framefill import api
        from framefill.requests import parse_size

        with named_flags({}):
            size = parse_size(size_text)
        result = api.export_model(
            "onnx", model, out_dir, size=size, weights=Path(weights) if weights else None,
            variant=variant, rife_scale=rife_scale, linear_input=linear_input, flow_y_up=flow_y_up,
            report=_say(out),
        )
        payload = result.to_json()
        out.result(payload, lambda: _human(payload))


cli.add_command(export_group)
