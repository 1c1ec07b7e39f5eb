"""Copernicus shelf tools against the fake ``hou``: the ONNX Inference networks they build and the exports they need.

GIVEN a File COP on a rendered plate WHEN "COP Interpolate (ONNX)" or "COP Upscale (ONNX)"
runs THEN the current COP network holds exactly the nodes, values, flips, Resample Size,
frame expressions and wiring the setup describes; the static-shape model is exported once
per model and size (framefill export onnx, out of process) and reused after.
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

RIFE_SIDECAR = {"inputs": {"frame0": [1, 3, 64, 96], "frame1": [1, 3, 64, 96], "timestep": [1, 1, 64, 96]},
                "outputs": ["flow0", "flow1", "mask"], "flow_convention": "pixels, x right, y up"}
UPSCALE_SIDECAR = {"inputs": {"image": [1, 3, 64, 96]}, "outputs": ["upscaled"], "scale": 2.0}

# Stands in for `framefill export onnx`: writes the .onnx and its sidecar where --out says.
FAKE_EXPORT = textwrap.dedent("""
    import json, os, sys
    argv = sys.argv[1:]
    with open(os.environ["FAKE_ARGV"], "a") as fh:
        fh.write(json.dumps(argv) + "\\n")
    out, model, size = argv[argv.index("--out") + 1], argv[argv.index("--model") + 1], argv[argv.index("--size") + 1]
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, model + "_" + size)
    open(stem + ".onnx", "wb").write(b"onnx")
    meta = json.loads(os.environ["FAKE_SIDECAR"])
    json.dump(meta, open(stem + ".json", "w"))
    print(json.dumps({"kind": "done", "data": {"files": [{"path": stem + ".onnx"}]}}))
""")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "onnx_cache"
    monkeypatch.setenv("FRAMEFILL_ONNX_CACHE", str(folder))
    return folder


def _cached(cache, model: str, meta: dict) -> str:
    folder = cache / f"{model}_96x64"
    folder.mkdir(parents=True)
    (folder / f"{model}_96x64.onnx").write_bytes(b"onnx")
    (folder / f"{model}_96x64.json").write_text(json.dumps(meta))
    return str(folder / f"{model}_96x64.onnx")


def _plate(hou):
    plate = hou.node("/img").createNode("file", "plate")
    plate.parm("filename").set("$HIP/render/sh020.$F4.exr")
    hou.selection = [plate]
    return plate


def _wiring(made: dict) -> dict:
    return {name: (node.type().name(), {i: (src.name(), out) for i, (src, out) in sorted(node.inputs.items())})
            for name, node in made.items()}


def test_interpolate_setup_builds_the_rife_network(fake_hou, cache, monkeypatch):
    from framefill_houdini import shelf

    # GIVEN a cached rife-4 export at the plate size (no export may run: the CLI does not exist)
    onnx = _cached(cache, "rife-4", RIFE_SIDECAR)
    monkeypatch.setenv("FRAMEFILL_ONNX_CACHE", str(cache))
    _plate(fake_hou)
    fake_hou.answers.extend(["rife-4", "96x64", "2", "1001", "1"])
    made = shelf.cop_interpolate({}, cli=["/nonexistent/framefill"])
    # THEN the nodes, their types and wiring
    assert _wiring(made) == {
        "ff_frame0": ("file", {}), "ff_frame1": ("file", {}), "ff_timestep": ("layer", {}),
        "ff_rife": ("onnx", {0: ("ff_frame0", 0), 1: ("ff_frame1", 0), 2: ("ff_timestep", 0)}),
        "ff_uv": ("uvmap", {0: ("ff_frame0", 0)}), "ff_texel": ("layer", {}),
        "ff_flow0_uv": ("blend", {0: ("ff_rife", 0), 1: ("ff_texel", 0)}),
        "ff_stmap0": ("blend", {0: ("ff_uv", 0), 1: ("ff_flow0_uv", 0)}),
        "ff_flow1_uv": ("blend", {0: ("ff_rife", 1), 1: ("ff_texel", 0)}),
        "ff_stmap1": ("blend", {0: ("ff_uv", 0), 1: ("ff_flow1_uv", 0)}),
        "ff_warp0_0": ("sample", {0: ("ff_stmap0", 0), 2: ("ff_frame0", 0)}),
        "ff_warp1_0": ("sample", {0: ("ff_stmap1", 0), 2: ("ff_frame1", 0)}),
        "ff_out_0": ("blend", {0: ("ff_warp1_0", 0), 1: ("ff_warp0_0", 0), 2: ("ff_rife", 2)}),
    }
    assert all(node.parent().path() == "/img" for node in made.values())
    # ... the values: model, flips, Resample Size, frame expressions, blend modes
    rife = made["ff_rife"]
    assert rife.parm("modelfile").eval() == onnx and rife.parm("setupshapes").presses == 1
    assert (rife.parm("input_flip").eval(), rife.parm("output_flip").eval(), rife.parm("resample").eval()) == (1, 1, 1)
    assert rife.parmTuple("resamplesize").eval() == (96, 64)
    assert made["ff_frame0"].parm("filename").eval() == (
        "/shots/sq010/sh020/render/sh020.`padzero(4, 1001 + floor(($F - 1001) / 2) * 2)`.exr")
    assert made["ff_frame1"].parm("filename").eval() == (
        "/shots/sq010/sh020/render/sh020.`padzero(4, 1001 + floor(($F - 1001) / 2) * 2 + 2)`.exr")
    assert made["ff_timestep"].parm("signature").eval() == "mono"
    assert made["ff_timestep"].parm("value_mono").expression == "($F - 1001) / 2 - floor(($F - 1001) / 2)"
    assert made["ff_texel"].parm("signature").eval() == "uv"
    assert made["ff_texel"].parmTuple("value_uv").eval() == (1 / 96, 1 / 64)
    modes = {name: made[name].parm("mode").eval() for name in made if made[name].type().name() == "blend"}
    assert modes == {"ff_flow0_uv": "multiply", "ff_flow1_uv": "multiply", "ff_stmap0": "add", "ff_stmap1": "add",
                     "ff_out_0": "blend"}
    assert made["ff_out_0"].display and fake_hou.node("/img").laid_out == 1
    # ... and the tool says the model is static, in one line
    assert fake_hou.messages == [(
        "framefill: interpolate setup built in /img with rife-4_96x64.onnx at 96x64 (a static model: a plate "
        "of another size needs the tool again)", "Message")]
    assert ("readInput", "Plate size WxH. The ONNX model is static: one export per resolution (cached by model "
                         "and size)") in fake_hou.prompts


def test_every_layer_of_the_file_cops_is_warped_with_the_same_flows():
    from framefill_houdini import cop_setup

    specs = {s.name: s for s in cop_setup.interpolate_network(pattern="/r/s.$F4.exr", onnx_file="/m.onnx", width=96,
                                                               height=64, first_key=1, every=2, layers=3)}
    for layer in range(3):
        assert specs[f"ff_warp0_{layer}"].inputs == ((0, "ff_stmap0", 0), (2, "ff_frame0", layer))
        assert specs[f"ff_warp1_{layer}"].inputs == ((0, "ff_stmap1", 0), (2, "ff_frame1", layer))
        assert specs[f"ff_out_{layer}"].inputs == ((0, f"ff_warp1_{layer}", 0), (1, f"ff_warp0_{layer}", 0),
                                                   (2, "ff_rife", 2))
    # The model sees only the first output (C); the flows are computed once.
    assert specs["ff_rife"].inputs == ((0, "ff_frame0", 0), (1, "ff_frame1", 0), (2, "ff_timestep", 0))
    assert sum(s.node_type == "onnx" for s in specs.values()) == 1


def test_upscale_setup_exports_once_per_model_and_size(fake_hou, cache, monkeypatch, tmp_path):
    from framefill_houdini import shelf

    script = tmp_path / "fake_export.py"
    script.write_text(FAKE_EXPORT)
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_ARGV", str(log))
    monkeypatch.setenv("FAKE_SIDECAR", json.dumps(UPSCALE_SIDECAR))
    cli = [sys.executable, str(script)]
    _plate(fake_hou)
    fake_hou.answers.extend(["realesr-animevideov3-x2", "96x64"])
    made = shelf.cop_upscale({}, cli=cli)
    folder = cache / "realesr-animevideov3-x2_96x64"
    assert [json.loads(line) for line in log.read_text().splitlines()] == [
        ["export", "onnx", "--model", "realesr-animevideov3-x2", "--size", "96x64", "--out", str(folder), "--events"]]
    assert _wiring(made) == {"ff_source": ("file", {}), "ff_upscale": ("onnx", {0: ("ff_source", 0)})}
    up = made["ff_upscale"]
    assert up.parm("modelfile").eval() == str(folder / "realesr-animevideov3-x2_96x64.onnx")
    assert (up.parm("input_flip").eval(), up.parm("output_flip").eval(), up.parm("resample").eval()) == (1, 1, 1)
    assert up.parmTuple("resamplesize").eval() == (96, 64)
    assert made["ff_source"].parm("filename").eval() == "/shots/sq010/sh020/render/sh020.$F4.exr"
    assert made["ff_source"].parm("type").eval() == "rgb"
    # WHEN the tool runs again for the same model and size THEN the cached export is used
    fake_hou.answers.extend(["realesr-animevideov3-x2", "96x64"])
    shelf.cop_upscale({}, cli=cli)
    assert len(log.read_text().splitlines()) == 1
    # ... and another size is another export
    fake_hou.answers.extend(["realesr-animevideov3-x2", "128x72"])
    shelf.cop_upscale({}, cli=cli)
    assert json.loads(log.read_text().splitlines()[-1])[5] == "128x72"


def test_rife_export_asks_for_y_up_flows_and_a_y_down_cache_is_redone(fake_hou, cache):
    from framefill_houdini import cop_setup

    cli = ["/ff/python", "-m", "framefill"]
    assert cop_setup.export_argv(cli, model="rife-4", width=1920, height=1080, out_dir="/c/rife-4_1920x1080") == [
        *cli, "export", "onnx", "--model", "rife-4", "--size", "1920x1080", "--out", "/c/rife-4_1920x1080",
        "--flow-y-up", "--events"]
    files = cop_setup.onnx_files(str(cache), "rife-4", 96, 64)
    assert cop_setup.export_needed(files, interpolate=True)
    _cached(cache, "rife-4", {**RIFE_SIDECAR, "flow_convention": "pixels, x right, y down (row order)"})
    assert cop_setup.export_needed(files, interpolate=True)
    (cache / "rife-4_96x64" / "rife-4_96x64.json").write_text(json.dumps(RIFE_SIDECAR))
    assert not cop_setup.export_needed(files, interpolate=True)


@pytest.mark.parametrize(("answers", "error"), [
    pytest.param(["rife-4", "wide"], "plate size 'wide' is not WIDTHxHEIGHT (1920x1080)", id="bad-size"),
    pytest.param(["rife-4", "4x4"], "the plate size 4x4 is too small for a model; use at least 8x8", id="tiny"),
    pytest.param(["rife-4", "96x64", "1"], "Rendered every N frames must be 2 or more, got 1", id="every-1"),
])
def test_bad_answers_are_one_line_and_build_nothing(fake_hou, cache, answers, error):
    from framefill_houdini import shelf

    _cached(cache, "rife-4", RIFE_SIDECAR)
    _plate(fake_hou)
    fake_hou.answers.extend(answers)
    assert shelf.cop_interpolate({}, cli=["/nonexistent/framefill"]) is None
    assert fake_hou.messages == [("framefill: " + error, "Error")]
    assert [n.name() for n in fake_hou.node("/img").children()] == ["plate"]


def test_a_failed_export_is_one_line(fake_hou, cache):
    from framefill_houdini import shelf

    _plate(fake_hou)
    fake_hou.answers.extend(["rife-4", "96x64"])
    shelf.cop_interpolate({}, cli=["/nonexistent/framefill"])
    assert fake_hou.messages == [("framefill: the ONNX export of rife-4 at 96x64 failed: cannot start "
                                  "/nonexistent/framefill: No such file or directory", "Error")]
