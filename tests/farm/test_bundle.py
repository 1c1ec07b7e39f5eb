"""Job bundles: golden files of `framefill farm bundle`, `deadline bundle info`, make_bundle's rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from farm_helpers import GOLDEN, framefill_argv

from framefill.errors import InputError, SequenceError, TemplateError
from framefill.farm import make_bundle
from framefill.farm.templates import validate_template

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
        cwd=work, env=env, capture_output=True, text=True,
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
    bundle = make_bundle(
        "sparse_pipeline", out_dir="bundle", input_pattern="renders/beauty.####.exr",
        output_pattern="filled/beauty.####.exr", frames="1001-1010", keyframes="1001-1009:2,1010",
        params={"BlendFile": "shot010.blend"}, render_step=RENDER_STEP, render_parameters=RENDER_PARAMS,
    )
    _compare("sparse_pipeline_render_step", bundle, tmp_path)
    doc = yaml.safe_load((bundle / "template.yaml").read_text())
    deps = {s["name"]: [d["dependsOn"] for d in s.get("dependencies", [])] for s in doc["steps"]}
    assert deps == {"Render": [], "Fill": ["Render"], "QC": ["Fill"], "Report": ["QC"]}
    flows = {p["name"]: p.get("dataFlow") for p in doc["parameterDefinitions"]}
    assert flows["InputDir"] == "OUT" and flows["BlendFile"] == "IN"
    refs = yaml.safe_load((bundle / "asset_references.yaml").read_text())["assetReferences"]
    assert refs["inputs"]["directories"] == []
    assert str(tmp_path.resolve() / "renders") in refs["outputs"]["directories"]


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
    bundle = make_bundle("sparse_pipeline", out_dir=tmp_path / "b", input_pattern="r/x.####.exr",
                         output_pattern="o/x.####.exr", frames="1-10", keyframes="1-9:4,10")
    values = {r["name"]: r["value"] for r in yaml.safe_load((bundle / "parameter_values.yaml").read_text())["parameterValues"]}
    assert values["InputDir"] == str(tmp_path.resolve() / "r")
    assert values["Filled"] == "2-4,6-8"
    assert values["ReportDir"] == str(tmp_path.resolve() / "o" / "qc_report")
    assert values["ChunkSize"] == 8 and values["Mode"] == "" and values["CondaPackages"] == "framefill"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        pytest.param({"frames": "1-x"}, SequenceError, "bad --frames range '1-x'", id="bad-range"),
        pytest.param({"params": {"Colour": "red"}}, TemplateError, "fill job has no parameter Colour", id="unknown-param"),
        pytest.param({"keyframes": "1-5"}, InputError, "--keyframes does not apply to a fill job", id="wrong-kind"),
        pytest.param({"params": {"Frames": "1-3"}, "frames": "1-5"}, InputError, "Frames given twice", id="twice"),
        pytest.param({"chunk_size": 0}, TemplateError, "ChunkSize must be at least 1", id="chunk-zero"),
        pytest.param({"gpu_memory_mib": 0}, InputError, "gpu_memory_mib must be a whole number", id="gpu-mem"),
    ],
)
def test_make_bundle_rejects_bad_input(tmp_path, kwargs, error, message):
    base = {"input_pattern": str(tmp_path / "i/a.####.exr"), "output_pattern": str(tmp_path / "o/a.####.exr"),
            "frames": "1-5"}
    with pytest.raises(error) as info:
        make_bundle("fill", out_dir=tmp_path / "b", **{**base, **kwargs})
    assert message in info.value.msg and "\n" not in info.value.msg
    assert not (tmp_path / "b" / "template.yaml").exists()


def test_make_bundle_sparse_rules(tmp_path):
    common = {"input_pattern": str(tmp_path / "i/a.####.exr"), "output_pattern": str(tmp_path / "o/a.####.exr")}
    with pytest.raises(InputError, match="nothing to fill"):
        make_bundle("sparse_pipeline", out_dir=tmp_path / "b", frames="1-5", keyframes="1-5", **common)
    with pytest.raises(InputError, match="keyframes 7 lie outside Frames 1-5"):
        make_bundle("sparse_pipeline", out_dir=tmp_path / "b", frames="1-5", keyframes="1,3,7", **common)
    with pytest.raises(TemplateError, match="render step is named 'Fill'"):
        make_bundle("sparse_pipeline", out_dir=tmp_path / "b", frames="1-5", keyframes="1,5",
                    render_step={**RENDER_STEP, "name": "Fill"}, **common)
    with pytest.raises(TemplateError, match=r"Variable Param.BlendFile does not exist"):
        make_bundle("sparse_pipeline", out_dir=tmp_path / "b", frames="1-5", keyframes="1,5",
                    render_step=RENDER_STEP, **common)
    with pytest.raises(InputError, match="qc job needs the filled frames"):
        make_bundle("qc", out_dir=tmp_path / "b", output_pattern=str(tmp_path / "o/a.####.exr"))
    with pytest.raises(InputError, match="unknown job kind 'render'"):
        make_bundle("render", out_dir=tmp_path / "b")


def test_make_bundle_does_not_import_torch_or_deadline(tmp_path, env):
    code = (
        "import sys\nfrom framefill.farm import make_bundle\n"
        f"make_bundle('fill', out_dir={str(tmp_path / 'b')!r}, input_pattern={str(tmp_path / 'a.####.exr')!r},"
        f" output_pattern={str(tmp_path / 'o/a.####.exr')!r}, frames='1-4')\n"
        "print(','.join(m for m in ('torch', 'deadline', 'boto3', 'bpy', 'nuke') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
