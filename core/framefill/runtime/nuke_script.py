"""The ``.nk`` text ``framefill export nuke`` writes: a CatFileCreator for each
TorchScript file, and the Group that wires it (the RIFE retime: FrameHold,
Copy, Inference, STMap on every channel, Keymix; or the upscaler's Inference).

Plain text, no torch: the host tests parse what these functions return.
"""

from pathlib import Path
from typing import Any, List, Tuple

__all__ = [
    "LAYER_B",
    "NUKE_RGB",
    "NUKE_B_RGB",
    "NUKE_MOTION_OUT",
    "node_name",
    "catfilecreator_nk",
    "rife_setup_nk",
    "upscale_setup_nk",
]

# Channel names the .nk files use. Frame B travels in a layer of its own
# (declared with add_layer); the outputs use Nuke's built-in motion-vector layers
# and alpha, so they exist in every script.
LAYER_B = "ffB"
NUKE_RGB = ("rgba.red", "rgba.green", "rgba.blue")
NUKE_B_RGB = (f"{LAYER_B}.red", f"{LAYER_B}.green", f"{LAYER_B}.blue")
NUKE_MOTION_OUT = ("forward.u", "forward.v", "backward.u", "backward.v", "rgba.alpha")


def node_name(text: str) -> str:
    """A valid Nuke node name: letters, digits and underscores, not starting with a digit."""
    cleaned = "".join(c if c.isalnum() else "_" for c in text)
    return cleaned if cleaned[:1].isalpha() else f"ff_{cleaned}"


def _nk_string(value: str) -> str:
    """A knob value as .nk text: quoted when it holds spaces or specials; TCL brackets and $ escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("[", "\\[").replace("]", "\\]")
    escaped = escaped.replace("$", "\\$")
    if escaped and all(c.isalnum() or c in "/._-:," for c in escaped):
        return escaped
    return f'"{escaped}"'


def _nk_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return _nk_string(str(value))


def _add_layer_lines(channels: List[str]) -> List[str]:
    """``add_layer`` lines for the non-built-in layers among ``channels``."""
    layers: dict[str, List[str]] = {}
    for channel in channels:
        layer, _, _ = channel.partition(".")
        if layer == LAYER_B:
            layers.setdefault(layer, [])
            if channel not in layers[layer]:
                layers[layer].append(channel)
    return [f"add_layer {{{layer} {' '.join(chans)}}}" for layer, chans in layers.items()]


_KNOB_TYPE = {"float": 7, "int": 6}  # Double_Knob; int flags are checkboxes (Boolean_Knob, stored as int)


def catfilecreator_nk(
    torchscript: Path,
    cat: Path,
    *,
    model_id: str,
    channels_in: List[str],
    channels_out: List[str],
    output_scale: int,
    knobs: List[Tuple[str, str, Any]],
) -> str:
    """A CatFileCreator node (NukeX) set up for a framefill ``.pt``: press "Create .cat file" in it.

    The user knobs carry the attribute names of the module, so the Inference
    node that loads the ``.cat`` shows them.
    """
    lines = ["set cut_paste_input [stack 0]", *_add_layer_lines(channels_in + channels_out), "CatFileCreator {"]
    lines += [
        " inputs 0",
        f" torchScriptFile {_nk_string(str(torchscript))}",
        f" catFile {_nk_string(str(cat))}",
        f" channelsIn {','.join(channels_in)}",
        f" channelsOut {','.join(channels_out)}",
        f" modelId {_nk_string(model_id)}",
    ]
    if output_scale != 1:
        lines.append(f" outputScale {int(output_scale)}")
    lines += [f" name {node_name('CatFileCreator_' + model_id)}", " addUserKnob {20 framefill}"]
    for knob, kind, default in knobs:
        if kind == "float":
            lines.append(f" addUserKnob {{{_KNOB_TYPE[kind]} {knob} R 0 {4 if knob == 'scale' else 1}}}")
            lines.append(f" {knob} {_nk_value(float(default))}")
        else:
            lines.append(f" addUserKnob {{{_KNOB_TYPE[kind]} {knob} +STARTLINE}}")
            lines.append(f" {knob} {_nk_value(bool(default))}")
    lines.append("}")
    return "\n".join(lines) + "\n"


# Node stack in .nk text: a node takes its inputs from the top of the stack, the last
# pushed as input 0. STMap: input 0 src, 1 stmap. Copy and Keymix: input 0 is B (the
# stream that passes through), 1 is A; Keymix's input 2 is the mask: A * m + B * (1 - m).
_RIFE_SETUP = """set cut_paste_input [stack 0]
add_layer {%(layer)s %(layer_channels)s}
push $cut_paste_input
Group {
 name %(name)s
 label "framefill RIFE\\n\\[value src_frame]"
 addUserKnob {20 framefill}
 addUserKnob {7 src_frame l "Source frame" t "Source time to show; fractional values are interpolated." R 0 100}
 src_frame {{frame}}
 addUserKnob {7 rife_scale l "RIFE scale" t "1 up to 2K, 0.5 for 4K, 0.25 for 8K." R 0.25 4}
 rife_scale %(scale)s
 addUserKnob {6 linear_input l "Linear input" t "On: the frames are scene-linear (the model encodes them)." +STARTLINE}
 linear_input %(linear)s
}
 Input {
  inputs 0
  name Input1
 }
 set Nsrc [stack 0]
 FrameHold {
  firstFrame {{"floor(parent.src_frame)"}}
  name HoldA
 }
 set NholdA [stack 0]
push $Nsrc
 FrameHold {
  firstFrame {{"floor(parent.src_frame) + 1"}}
  name HoldB
 }
 set NholdB [stack 0]
push $NholdA
 Copy {
  inputs 2
%(copy)s
  name PackAB
 }
 Inference {
  modelFile %(cat)s
  serialiseKnob {timestep:{"parent.src_frame - floor(parent.src_frame)"};scale:{"parent.rife_scale"};linear_input:{"parent.linear_input"};}
  name FF_Inference
 }
 set Nmotion [stack 0]
%(stmap_a)s
 set NstA [stack 0]
push $Nmotion
%(stmap_b)s
 set NstB [stack 0]
push $Nmotion
push $NstA
push $NholdA
 STMap {
  inputs 2
  channels all
  uv rgb
  name WarpA
 }
push $NstB
push $NholdB
 STMap {
  inputs 2
  channels all
  uv rgb
  name WarpB
 }
 Keymix {
  inputs 3
  channels all
  maskChannel rgba.alpha
  name BlendAB
 }
push $NholdA
 Switch {
  inputs 2
  which {{"parent.src_frame != floor(parent.src_frame)"}}
  name WholeFrameBypass
 }
 Output {
  name Output1
 }
end_group
"""

_STMAP_EXPRESSION = """ Expression {
  expr0 "(x + 0.5 + %(u)s) / width"
  expr1 "(y + 0.5 + %(v)s) / height"
  channel0 {rgba.red -rgba.green -rgba.blue none}
  channel1 {-rgba.red rgba.green -rgba.blue none}
  channel2 none
  channel3 none
  name %(name)s
 }"""


def rife_setup_nk(cat: Path, *, name: str, scale: float = 1.0, linear_input: bool = True) -> str:
    """A Group that retimes its input with a framefill RIFE ``.cat`` and warps EVERY channel.

    ``src_frame`` (default: the current frame) is the source time to show.
    FrameHolds take frames floor(t) (A) and floor(t) + 1 (B); B's rgb is
    copied into the ``ffB`` layer of A; the Inference node returns the flows
    in ``forward.u/v`` (to A) and ``backward.u/v`` (to B) and A's weight in
    alpha; Expressions turn the flows into STMaps ((x + 0.5 + u) / width:
    pixel centres, origin at the bottom left, flows already y-up); STMaps
    warp all channels of the ORIGINAL frames and a Keymix blends them with
    the weight. Whole source frames show A itself.
    """
    copy = "\n".join(f"  from{i} {src}\n  to{i} {dst}" for i, (src, dst) in enumerate(zip(NUKE_RGB, NUKE_B_RGB)))
    to_a, to_b = NUKE_MOTION_OUT[0:2], NUKE_MOTION_OUT[2:4]
    return _RIFE_SETUP % {
        "layer": LAYER_B, "layer_channels": " ".join(NUKE_B_RGB), "name": node_name(name),
        "scale": _nk_value(float(scale)), "linear": _nk_value(bool(linear_input)), "copy": copy,
        "cat": _nk_string(str(cat)),
        "stmap_a": _STMAP_EXPRESSION % {"u": to_a[0], "v": to_a[1], "name": "STMapA"},
        "stmap_b": _STMAP_EXPRESSION % {"u": to_b[0], "v": to_b[1], "name": "STMapB"},
    }


_UPSCALE_SETUP = """set cut_paste_input [stack 0]
push $cut_paste_input
Group {
 name %(name)s
 addUserKnob {20 framefill}
 addUserKnob {6 linear_input l "Linear input" t "On: rgb is scene-linear (the model encodes it)." +STARTLINE}
 linear_input %(linear)s
}
 Input {
  inputs 0
  name Input1
 }
 Inference {
  modelFile %(cat)s
  serialiseKnob {linear_input:{"parent.linear_input"};}
  name FF_Inference
 }
 Output {
  name Output1
 }
end_group
"""


def upscale_setup_nk(cat: Path, *, name: str, linear_input: bool = True) -> str:
    """A Group that upscales its rgb with a framefill upscaler ``.cat`` (other channels are not upscaled)."""
    return _UPSCALE_SETUP % {"name": node_name(name), "linear": _nk_value(bool(linear_input)),
                             "cat": _nk_string(str(cat))}
