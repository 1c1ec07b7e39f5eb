"""Job bundles: golden files of `framefill farm bundle`, `deadline bundle info`, write_bundle's rules.

Every value is checked when the bundle is written (a hostile value fails here, with one line
naming its flag or parameter, not on the farm), and `--render-step FILE` puts a host's own
step first exactly as BundleRequest.render_step does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from farm_helpers import GOLDEN, framefill_argv
from framefill import api
from framefill.errors import RequestError, TemplateError
from framefill.farm import BundleResult, write_bundle
from framefill.farm.templates import validate_template
from framefill.requests import BundleRequest

UPDATE = os.environ.get("FRAMEFILL_UPDATE_GOLDEN") == "1"
FILES = ("template.yaml", "parameter_values.yaml", "asset_references.yaml")

# Each case: the `framefill farm bundle` arguments, run in a temporary folder with relative paths.
CASES = {
    "fill": ["fill", "--input", "renders/beauty.####.exr", "--output", "filled/beauty.####.exr",
             "--frames", "1001-1100", "--chunk-size", "10"],
    "upscale": ["upscale", "--input", "filled/beauty.####.exr", "--output", "up/beauty.####.exr",
                "--frames", "1001-1100x2", "--model", "realesr-animevideov3-x2", "-p", "TilePx=512"],
    "qc": ["qc", "--output", "filled/beauty.####.exr", "--filled", "1002-1100:2", "--report", "qc"],
    "sparse_pipeline": ["sparse_pipeline", "--input", "renders/beauty.####.exr", "--output",
                        "filled/beauty.####.exr", "--frames", "1001-1100", "--keyframes", "1001-1099:2,1100",
                        "--chunk-size", "8", "--name", "shot010 sparse", "--gpu-memory-mib", "12000",
                        "-p", "deadline:priority=70", "-p", "Device=cuda:0"],
}

RENDER_STEP = {
    "name": "Render",
    "description": "Render the keyframes in Blender.",
    "parameterSpace": {"taskParameterDefinitions": [{"name": "Frame", "type": "INT", "range": "{{Param.Keyframes}}"}]},
    "script": {"actions": {"onRun": {"command": "blender", "args": [
        "--background", "{{Param.BlendFile}}", "--render-output", "{{Param.InputDir}}/beauty.####",
        "--render-frame", "{{Task.Param.Frame}}"]}}},
}
RENDER_PARAMS = [{"name": "BlendFile", "type": "PATH", "objectType": "FILE", "dataFlow": "IN"}]


def _normalise(text: str, root: Path) -> str:
    return text.replace(str(root.resolve()), "<TMP>").replace(str(root), "<TMP>")


def _compare(case: str, bundle: Path, root: Path) -> None:
    for name in FILES:
        got = _normalise((bundle / name).read_text(encoding="utf-8"), root)
        golden = GOLDEN / case / name
        if UPDATE:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(got, encoding="utf-8")
        assert golden.is_file(), f"missing golden file {golden}; run with FRAMEFILL_UPDATE_GOLDEN=1"
        assert got == golden.read_text(encoding="utf-8"), f"{case}/{name} differs from the golden file"


@pytest.mark.parametrize("case", list(CASES))
def test_farm_bundle_matches_golden(case, tmp_path, env):
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        framefill_argv("farm", "bundle", *CASES[case], "--out", "bundle", "--json"),
        cwd=work, env=env, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    bundle = work / "bundle"
    assert result["bundle"] == str(bundle.resolve())
    assert sorted(p.name for p in bundle.iterdir()) == sorted(FILES)
    _compare(case, bundle, work)
    # The written template is itself a valid OpenJD template.
    validate_template(yaml.safe_load((bundle / "template.yaml").read_text()))


def test_render_step_bundle_matches_golden(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = write_bundle(BundleRequest(
        "sparse_pipeline", Path("bundle"), input_pattern="renders/beauty.####.exr",
        output_pattern="filled/beauty.####.exr", frames="1001-1010", keyframes="1001-1009:2,1010",
        params={"BlendFile": "shot010.blend"}, render_step=RENDER_STEP, render_parameters=tuple(RENDER_PARAMS),
    ))
    bundle = result.folder
    assert bundle == tmp_path.resolve() / "bundle"
    _compare("sparse_pipeline_render_step", bundle, tmp_path)
    doc = yaml.safe_load((bundle / "template.yaml").read_text())
    deps = {s["name"]: [d["dependsOn"] for d in s.get("dependencies", [])] for s in doc["steps"]}
    assert deps == {"Render": [], "Fill": ["Render"], "QC": ["Fill"], "Report": ["Fill", "QC"]}
    flows = {p["name"]: p.get("dataFlow") for p in doc["parameterDefinitions"]}
    assert flows["InputDir"] == "OUT" and flows["BlendFile"] == "IN"
    refs = yaml.safe_load((bundle / "asset_references.yaml").read_text())["assetReferences"]
    assert refs["inputs"]["directories"] == []
    assert str(tmp_path.resolve() / "renders") in refs["outputs"]["directories"]


@pytest.mark.parametrize("suffix", [pytest.param(".yaml", id="yaml"), pytest.param(".json", id="json")])
def test_cli_render_step_file_writes_the_same_bytes(suffix, tmp_path, env):
    # GIVEN the render step and its parameter in a file, as a host writes it
    work = tmp_path / "work"
    work.mkdir()
    doc = {"step": RENDER_STEP, "parameterDefinitions": RENDER_PARAMS}
    step_file = work / f"render_step{suffix}"
    step_file.write_text(json.dumps(doc) if suffix == ".json" else yaml.safe_dump(doc, sort_keys=False),
                         encoding="utf-8")
    # WHEN the CLI writes the bundle with --render-step
    proc = subprocess.run(
        framefill_argv("farm", "bundle", "sparse_pipeline", "--input", "renders/beauty.####.exr", "--output",
                       "filled/beauty.####.exr", "--frames", "1001-1010", "--keyframes", "1001-1009:2,1010",
                       "-p", "BlendFile=shot010.blend", "--render-step", step_file.name, "--out", "bundle",
                       "--json"),
        cwd=work, env=env, capture_output=True, text=True, check=False,
    )
    # THEN it is byte for byte the bundle of BundleRequest.render_step (the golden files), step first
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["parameters"]["BlendFile"] == str(work.resolve() / "shot010.blend")
    _compare("sparse_pipeline_render_step", work / "bundle", work)


@pytest.mark.parametrize("case", list(CASES))
def test_deadline_bundle_info_accepts_the_bundle(case, tmp_path, env):
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(framefill_argv("farm", "bundle", *CASES[case], "--out", "bundle"), cwd=work, env=env,
                   capture_output=True, check=True)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "deadline"), "bundle", "info", str(work / "bundle"), "--output", "json"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info = json.loads(proc.stdout)
    template = yaml.safe_load((work / "bundle" / "template.yaml").read_text())
    assert info["steps"] == [s["name"] for s in template["steps"]]
    shown = {p["name"]: p.get("_display_value") for p in info["parameters"]}
    values = yaml.safe_load((work / "bundle" / "parameter_values.yaml").read_text())["parameterValues"]
    for row in values:
        if not row["name"].startswith("deadline:"):
            assert shown[row["name"]] == str(row["value"]), row["name"]


def test_bundle_values_are_absolute_and_filled_is_computed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = api.make_bundle(BundleRequest("sparse_pipeline", tmp_path / "b", input_pattern="r/x.####.exr",
                                           output_pattern="o/x.####.exr", frames="1-10", keyframes="1-9:4,10"))
    bundle = result.folder
    rows = yaml.safe_load((bundle / "parameter_values.yaml").read_text())["parameterValues"]
    values = {r["name"]: r["value"] for r in rows}
    assert values["InputDir"] == str(tmp_path.resolve() / "r")
    assert values["Filled"] == "2-4,6-8"
    assert values["ReportDir"] == str(tmp_path.resolve() / "o" / "qc_report")
    assert values["ChunkSize"] == 8 and values["Mode"] == "" and values["CondaPackages"] == ""
    # The result is what `framefill farm bundle --json` prints.
    assert isinstance(result, BundleResult) and result.parameters == values
    assert result.to_json() == {"bundle": str(bundle), "kind": "sparse_pipeline",
                                "files": [str(bundle / f) for f in FILES], "parameters": values}


def test_json_payload_is_the_result(tmp_path, env):
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(framefill_argv("farm", "bundle", *CASES["sparse_pipeline"], "--out", "bundle", "--json"),
                          cwd=work, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert sorted(payload) == ["bundle", "files", "kind", "parameters"]
    assert payload["files"] == [str(work.resolve() / "bundle" / f) for f in FILES]
    assert payload["parameters"]["ChunkSize"] == 8 and payload["parameters"]["Device"] == "cuda:0"
    assert "deadline:priority" not in payload["parameters"]


_BASE = {"input_pattern": "i/a.####.exr", "output_pattern": "o/a.####.exr", "frames": "1-5"}


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        pytest.param({"frames": "1-x"}, "frames", "frames '1-x' is not a frame range", id="bad-range"),
        pytest.param({"params": {"Colour": "red"}}, "params", "params Colour: the fill job has no such parameter",
                     id="unknown-param"),
        pytest.param({"keyframes": "1-5"}, "keyframes", "keyframes does not apply to a fill job", id="wrong-kind"),
        pytest.param({"params": {"Frames": "1-3"}}, "frames", "frames gives Frames '1-5', but the Frames parameter "
                     "is also given", id="twice"),
        pytest.param({"chunk_size": 0}, "chunk_size", "chunk_size must be a whole number >= 1", id="chunk-zero"),
        pytest.param({"params": {"ChunkSize": "0"}}, "params", "params ChunkSize: 0 is below its minimum, 1",
                     id="chunk-param-zero"),
        pytest.param({"params": {"ChunkSize": "8; rm -rf /"}}, "params", "params ChunkSize: '8; rm -rf /' is not a "
                     "whole number", id="chunk-param-text"),
        pytest.param({"gpu_memory_mib": 0}, "gpu_memory_mib", "gpu_memory_mib must be a whole number", id="gpu-mem"),
        pytest.param({"input_pattern": "i/"}, "input_pattern", "input_pattern 'i/' needs a file name", id="no-name"),
    ],
)
def test_write_bundle_rejects_bad_input(tmp_path, monkeypatch, kwargs, field, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RequestError) as info:
        write_bundle(BundleRequest("fill", tmp_path / "b", **{**_BASE, **kwargs}))
    assert info.value.field == field
    assert message in info.value.msg and "\n" not in info.value.msg
    assert not (tmp_path / "b" / "template.yaml").exists()


# Hostile values: each must fail when the bundle is written, with one line naming the parameter.
SHELL = "$(touch PWNED); `touch PWNED` & echo"


@pytest.mark.parametrize(
    ("kind", "kwargs", "field", "message"),
    [
        pytest.param("fill", {"model": f"rife-4{SHELL}"}, "model", "is not a known interpolate model", id="model"),
        pytest.param("fill", {"params": {"Model": f"rife-4 {SHELL}"}}, "params", "Model: 'rife-4 $(touch",
                     id="model-param"),
        pytest.param("fill", {"params": {"Model": "realesrgan-x4plus"}}, "params",
                     "Model: 'realesrgan-x4plus' is a model for upscale, not interpolate", id="model-param-task"),
        pytest.param("upscale", {"params": {"Model": f"lanczos;{SHELL}"}}, "params", "is not a known upscale model",
                     id="upscale-model-param"),
        pytest.param("fill", {"params": {"Device": f"cpu;{SHELL}"}}, "params", "Device: 'cpu;$(touch PWNED);",
                     id="device"),
        pytest.param("sparse_pipeline", {"params": {"Device": "cuda:0 && rm"}, "keyframes": "1,5"}, "params",
                     "is not a device; use auto, cpu, cuda, cuda:N or all", id="device-sparse"),
        pytest.param("fill", {"params": {"Device": ""}}, "params", "Device: must not be empty", id="device-empty"),
        pytest.param("fill", {"params": {"Mode": f"direct {SHELL}"}}, "params", "Mode: 'direct $(touch",
                     id="mode"),
        pytest.param("sparse_pipeline", {"params": {"Threshold": "30; rm -rf /"}, "keyframes": "1,5"}, "params",
                     "Threshold: '30; rm -rf /' is not a number of dB", id="threshold"),
        pytest.param("upscale", {"params": {"Scale": f"2{SHELL}"}}, "params", "Scale: '2$(touch", id="scale"),
        pytest.param("upscale", {"params": {"Size": f"1920x1080 {SHELL}"}}, "params", "Size: '1920x1080 $(touch",
                     id="size"),
        pytest.param("upscale", {"params": {"TilePx": f"512;{SHELL}"}}, "params", "TilePx: '512;$(touch",
                     id="tile"),
        pytest.param("upscale", {"params": {"Scale": "2", "Size": "64x64"}}, "params", "Scale and Size both",
                     id="scale-and-size"),
        pytest.param("fill", {"params": {"Frames": f"1-5{SHELL}"}, "frames": None}, "params",
                     "Frames: '1-5$(touch PWNED);", id="frames-param"),
        pytest.param("sparse_pipeline", {"params": {"Keyframes": f"1,5{SHELL}"}}, "params", "Keyframes: '1,5$(touch",
                     id="keyframes-param"),
    ],
)
def test_hostile_values_fail_when_the_bundle_is_written(kind, kwargs, field, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RequestError) as info:
        api.make_bundle(BundleRequest(kind, tmp_path / "b", **{**_BASE, **kwargs}))
    assert info.value.field == field
    assert message in info.value.msg and "\n" not in info.value.msg
    assert not (tmp_path / "b").exists() and not list(tmp_path.rglob("PWNED*"))


@pytest.mark.parametrize(
    ("args", "error"),
    [
        pytest.param(["--model", "rife-4$(touch PWNED)"], "--model 'rife-4$(touch PWNED)' is not a known interpolate "
                     "model; use one of rife-4", id="model"),
        pytest.param(["-p", "Device=cpu;touch PWNED"], "-p Device: 'cpu;touch PWNED' is not a device; use auto, cpu, "
                     "cuda, cuda:N or all", id="device"),
        pytest.param(["-p", "Mode=recursive`touch PWNED`"], "-p Mode: 'recursive`touch PWNED`' is not a fill mode",
                     id="mode"),
        pytest.param(["-p", "Model=flow && touch PWNED"], "-p Model: 'flow && touch PWNED' is not a known "
                     "interpolate model", id="model-param"),
        pytest.param(["-p", "ChunkSize=4|touch PWNED"], "-p ChunkSize: '4|touch PWNED' is not a whole number",
                     id="chunk-size-param"),
        pytest.param(["--frames", "1-5;touch PWNED"], "--frames '1-5;touch PWNED' is not a frame range", id="frames"),
        pytest.param(["--keyframes", "1,3"], "--keyframes does not apply to a fill job", id="keyframes"),
        pytest.param(["-p", "Colour=red"], "-p Colour: the fill job has no such parameter", id="unknown"),
    ],
)
def test_cli_errors_name_the_flag(args, error, tmp_path, env):
    proc = subprocess.run(
        framefill_argv("farm", "bundle", "fill", "--input", "r/a.####.exr", "--output", "f/a.####.exr",
                       "--frames", "1-5", *args, "--out", "b"),
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"framefill: error: {error}"), proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "b").exists() and not list(tmp_path.rglob("PWNED*"))


_STEP_OK = {"name": "Render", "script": {"actions": {"onRun": {"command": "blender"}}}}


@pytest.mark.parametrize(
    ("content", "error"),
    [
        pytest.param(None, "no such file", id="missing"),
        pytest.param("step: [1, 2\n", "is not valid YAML: ", id="bad-yaml"),
        pytest.param("- a\n- b\n", "must be a mapping with step:", id="not-a-mapping"),
        pytest.param("parameterDefinitions: []\n", "has no step; give step:", id="no-step"),
        pytest.param("step: 3\n", "step must be an OpenJD step", id="step-not-a-mapping"),
        pytest.param("step: {script: {}}\n", "the step has no name", id="no-name"),
        pytest.param("step: {name: R}\nsteps: []\n", "has steps; a render-step file holds only step and "
                     "parameterDefinitions", id="unknown-key"),
        pytest.param(yaml.safe_dump({"step": _STEP_OK, "parameterDefinitions": {"name": "X"}}),
                     "parameterDefinitions must be a list", id="params-not-a-list"),
        pytest.param(yaml.safe_dump({"step": {**_STEP_OK, "name": "Fill"}}), "is named 'Fill', like a framefill step",
                     id="name-clash"),
        pytest.param(yaml.safe_dump({"step": _STEP_OK, "parameterDefinitions": [{"name": "ChunkSize", "type": "INT"}]}),
                     "'ChunkSize' clashes with framefill's own definition", id="parameter-clash"),
        pytest.param(yaml.safe_dump({"step": {**_STEP_OK, "script": {"actions": {"onRun": {
            "command": "blender", "args": ["{{Param.BlendFile}}"]}}}}}),
                     "the sparse_pipeline job with this render step does not validate: steps[0]", id="undefined-param"),
    ],
)
def test_cli_render_step_errors_name_the_flag(content, error, tmp_path, env):
    step_file = tmp_path / "step.yaml"
    if content is not None:
        step_file.write_text(content, encoding="utf-8")
    proc = subprocess.run(
        framefill_argv("farm", "bundle", "sparse_pipeline", "--input", "r/a.####.exr", "--output", "f/a.####.exr",
                       "--frames", "1-5", "--keyframes", "1,5", "--render-step", "step.yaml", "--out", "b"),
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("framefill: error: --render-step step.yaml: "), proc.stderr
    assert error in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert not (tmp_path / "b").exists()


def test_write_bundle_sparse_rules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = {"input_pattern": "i/a.####.exr", "output_pattern": "o/a.####.exr"}

    def write(kind: str, **kwargs):
        return write_bundle(BundleRequest(kind, tmp_path / "b", **kwargs))

    with pytest.raises(RequestError, match="^keyframes cover every frame of 1-5, so there is nothing to fill"):
        write("sparse_pipeline", frames="1-5", keyframes="1-5", **common)
    with pytest.raises(RequestError, match="^keyframes 7 lie outside Frames 1-5"):
        write("sparse_pipeline", frames="1-5", keyframes="1,3,7", **common)
    with pytest.raises(RequestError, match="^render_step is named 'Fill'"):
        write("sparse_pipeline", frames="1-5", keyframes="1,5", render_step={**RENDER_STEP, "name": "Fill"}, **common)
    with pytest.raises(RequestError, match="^render_step needs a name"):
        write("sparse_pipeline", frames="1-5", keyframes="1,5", render_step={"script": {}}, **common)
    with pytest.raises(RequestError, match=r"^render_step the sparse_pipeline job with this render step does not "
                                           r"validate: .*Variable Param.BlendFile does not exist"):
        write("sparse_pipeline", frames="1-5", keyframes="1,5", render_step=RENDER_STEP, **common)
    with pytest.raises(RequestError, match="^render_parameters were given without a render_step"):
        write("sparse_pipeline", frames="1-5", keyframes="1,5", render_parameters=tuple(RENDER_PARAMS), **common)
    with pytest.raises(RequestError, match="^filled is required for a qc job"):
        write("qc", output_pattern="o/a.####.exr")
    with pytest.raises(RequestError, match="^kind 'render' is not a job template"):
        write("render")
    with pytest.raises(TemplateError, match="bad job parameter values: .*InputDir"):
        write("fill", output_pattern="o/a.####.exr", frames="1-5")  # no input: openjd names what is missing
    assert not (tmp_path / "b").exists()


def test_write_bundle_does_not_import_torch_or_deadline(tmp_path, env):
    code = (
        "import sys\nfrom framefill.api import make_bundle\nfrom framefill.requests import BundleRequest\n"
        f"make_bundle(BundleRequest('fill', {str(tmp_path / 'b')!r}, input_pattern={str(tmp_path / 'a.####.exr')!r},"
        f" output_pattern={str(tmp_path / 'o/a.####.exr')!r}, frames='1-4', params={{'Device': 'cuda:1'}}))\n"
        "print(','.join(m for m in ('torch', 'deadline', 'boto3', 'bpy', 'nuke', 'cv2') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
