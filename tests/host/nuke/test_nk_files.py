"""The .nk text framefill writes for NukeX is well formed and wired as documented.

GIVEN the snippets ``framefill export nuke`` writes (CatFileCreator, the RIFE
retime group, the upscale group) WHEN read with a strict .nk reader THEN braces
balance, every class and knob is Nuke's, and the node stack wires the STMap /
Keymix setup the way the exporter's docstring says.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nk_syntax import NkSyntaxError, by_name, check_balanced, parse_nk

export = pytest.importorskip("framefill.runtime.export")

CAT = Path("/shots/models/rife-4.cat")
PT = Path("/shots/models/rife-4.pt")


def _contract(task: str, variant: str = "motion", scale: int = 1) -> dict:
    loaded = export.LoadedExport("rife-4" if task == "interpolate" else "up", task, "0" * 64, None, 128, scale)
    return export.nuke_contract(loaded, variant=variant)


@pytest.mark.parametrize("task,variant,scale", [
    pytest.param("interpolate", "motion", 1, id="rife-motion"),
    pytest.param("interpolate", "frame", 1, id="rife-frame"),
    pytest.param("upscale", "motion", 4, id="upscale-x4"),
])
def test_catfilecreator_snippet(task, variant, scale):
    contract = _contract(task, variant, scale)
    text = export.catfilecreator_nk(
        PT, CAT, model_id="framefill_rife-4", channels_in=contract["channels_in"],
        channels_out=contract["channels_out"], output_scale=contract["output_scale"], knobs=contract["knobs"],
    )
    nodes = parse_nk(text)
    assert [n.node_class for n in nodes] == ["CatFileCreator"]
    node = nodes[0]
    assert node.knobs["torchScriptFile"] == str(PT)
    assert node.knobs["catFile"] == str(CAT)
    assert node.knobs["channelsIn"].split(",") == contract["channels_in"]
    assert node.knobs["channelsOut"].split(",") == contract["channels_out"]
    assert node.inputs == []
    # Knobs map to module attributes by name: Double knobs (7) for floats, checkboxes (6) for int flags.
    expected = [(7 if kind == "float" else 6, name) for name, kind, _ in contract["knobs"]]
    assert node.user_knobs == [(20, "framefill"), *expected]
    assert node.knobs.get("outputScale") == (str(scale) if scale != 1 else None)
    if task == "interpolate":
        assert "add_layer {ffB ffB.red ffB.green ffB.blue}" in text
        assert len(contract["channels_in"]) == 6
        assert len(contract["channels_out"]) == (3 if variant == "frame" else 5)


def test_rife_setup_is_wired_to_warp_every_channel_of_the_original_frames():
    text = export.rife_setup_nk(CAT, name="FF_rife_4_Retime", scale=0.5, linear_input=True)
    nodes = parse_nk(text)
    named = by_name(nodes)
    group = named["FF_rife_4_Retime"]
    assert [k for _, k in group.user_knobs] == ["framefill", "src_frame", "rife_scale", "linear_input"]
    assert group.knobs["rife_scale"] == "0.5"
    inside = [n.name for n in nodes if n.parent == "FF_rife_4_Retime"]
    assert inside == ["Input1", "HoldA", "HoldB", "PackAB", "FF_Inference", "STMapA", "STMapB", "WarpA", "WarpB",
                      "BlendAB", "WholeFrameBypass", "Output1"]
    # Input 0 first: the node a block takes from the top of the stack.
    assert named["HoldA"].inputs == ["Input1"] and named["HoldB"].inputs == ["Input1"]
    assert named["PackAB"].inputs == ["HoldA", "HoldB"]  # Copy: B (receives) = frame A, A (gives) = frame B
    assert named["FF_Inference"].inputs == ["PackAB"]
    assert named["STMapA"].inputs == ["FF_Inference"] and named["STMapB"].inputs == ["FF_Inference"]
    # STMap: src (input 0) is the ORIGINAL held frame, all channels; the stmap comes from the flows.
    assert named["WarpA"].inputs == ["HoldA", "STMapA"] and named["WarpA"].knobs["channels"] == "all"
    assert named["WarpB"].inputs == ["HoldB", "STMapB"] and named["WarpB"].knobs["channels"] == "all"
    # Keymix: B = warped B, A = warped A, mask = the Inference output (A's weight in alpha).
    assert named["BlendAB"].inputs == ["WarpB", "WarpA", "FF_Inference"]
    assert named["BlendAB"].knobs["maskChannel"] == "rgba.alpha"
    # Whole source frames (which = 0) show frame A itself, untouched by the network.
    assert named["WholeFrameBypass"].inputs == ["HoldA", "BlendAB"]
    assert named["WholeFrameBypass"].knobs["which"] == '{{"parent.src_frame != floor(parent.src_frame)"}}'
    assert named["Output1"].inputs == ["WholeFrameBypass"]
    assert named["HoldA"].knobs["firstFrame"] == '{{"floor(parent.src_frame)"}}'
    assert named["HoldB"].knobs["firstFrame"] == '{{"floor(parent.src_frame) + 1"}}'
    # Copy moves frame B's rgb into the ffB layer the CatFileCreator's channelsIn names.
    pack = named["PackAB"].knobs
    assert [(pack[f"from{i}"], pack[f"to{i}"]) for i in range(3)] == [
        ("rgba.red", "ffB.red"), ("rgba.green", "ffB.green"), ("rgba.blue", "ffB.blue")]
    # STMaps: pixel centres, normalised, bottom-left origin; flows arrive y-up from the model.
    contract = _contract("interpolate")
    to_a, to_b = contract["channels_out"][0:2], contract["channels_out"][2:4]
    assert named["STMapA"].knobs["expr0"] == f'"(x + 0.5 + {to_a[0]}) / width"'
    assert named["STMapA"].knobs["expr1"] == f'"(y + 0.5 + {to_a[1]}) / height"'
    assert named["STMapB"].knobs["expr0"] == f'"(x + 0.5 + {to_b[0]}) / width"'
    assert named["STMapB"].knobs["expr1"] == f'"(y + 0.5 + {to_b[1]}) / height"'
    assert contract["channels_out"][4] == "rgba.alpha"
    serialised = named["FF_Inference"].knobs["serialiseKnob"]
    for knob, _, _ in contract["knobs"]:
        assert f"{knob}:" in serialised
    assert named["FF_Inference"].knobs["modelFile"] == str(CAT)


def test_upscale_setup():
    nodes = parse_nk(export.upscale_setup_nk(CAT, name="FF_x4_Upscale", linear_input=False))
    named = by_name(nodes)
    assert named["FF_x4_Upscale"].knobs["linear_input"] == "false"
    assert named["FF_Inference"].inputs == ["Input1"] and named["Output1"].inputs == ["FF_Inference"]


def test_paths_with_spaces_and_tcl_characters_are_quoted():
    odd = Path("/show/my models/[v2] $shot/rife.cat")
    text = export.upscale_setup_nk(odd, name="FF_odd")
    node = by_name(parse_nk(text))["FF_Inference"]
    assert node.knobs["modelFile"] == '"/show/my models/\\[v2\\] \\$shot/rife.cat"'


@pytest.mark.parametrize("text,error", [
    pytest.param("Blur {\n name B\n}\n", "unknown node class", id="unknown-class"),
    pytest.param("STMap {\n uvv rgb\n}\n", "has no knob", id="unknown-knob"),
    pytest.param("Switch {\n which {{1}\n}\n", "never closed", id="unbalanced"),
    pytest.param("push $nowhere\n", "unknown variable", id="bad-push"),
    pytest.param("Keymix {\n inputs 3\n}\n", "takes 3 inputs", id="stack-underflow"),
])
def test_the_checker_catches_broken_text(text, error):
    with pytest.raises(NkSyntaxError, match=error):
        parse_nk(text)


def test_quoted_and_escaped_braces_do_not_count():
    check_balanced('Expression {\n expr0 "\\{ not a brace }"\n label \\{\n}\n')
