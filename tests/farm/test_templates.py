"""The templates in openjd_templates/: valid OpenJD, chunked, with the right host requirements."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from farm_helpers import GPU_STEPS, KINDS, TEMPLATES, openjd_argv
from framefill.errors import TemplateError
from framefill.farm.templates import (
    flatten_openjd_error,
    frames_to_str,
    parse_frames,
    plan_job,
    resolve_parameter_values,
    template_path,
    validate_template,
)
from openjd.model import DecodeValidationError, decode_job_template

# Values that instantiate every template: 20 frames, 7 of them rendered.
VALUES = {
    "fill": {"InputDir": "/s/in", "InputPattern": "a.####.exr", "OutputDir": "/s/out", "OutputPattern": "a.####.exr",
             "Frames": "1001-1020"},
    "upscale": {"InputDir": "/s/in", "InputPattern": "a.####.exr", "OutputDir": "/s/out",
                "OutputPattern": "a.####.exr", "Frames": "1001-1020"},
    "qc": {"OutputDir": "/s/out", "OutputPattern": "a.####.exr", "Filled": "1001-1020", "ReportDir": "/s/qc"},
    "sparse_pipeline": {"InputDir": "/s/in", "InputPattern": "a.####.exr", "OutputDir": "/s/out",
                        "OutputPattern": "a.####.exr", "Frames": "1001-1020", "Keyframes": "1001-1019:3",
                        "Filled": "1002-1003,1005-1006,1008-1009,1011-1012,1014-1015,1017-1018,1020",
                        "ReportDir": "/s/qc"},
    "upscale_video": {"InputFile": "/s/in.mov", "OutputFile": "/s/out/up.mov", "Frames": "0-19"},
}


def _load(kind: str) -> dict:
    return yaml.safe_load((TEMPLATES / f"{kind}.yaml").read_text())


def _params(kind: str) -> list[str]:
    out: list[str] = []
    for name, value in VALUES[kind].items():
        out += ["-p", f"{name}={value}"]
    return out


def test_every_template_file_is_a_known_kind():
    # queue_env_*.yaml are OpenJD environment templates (tests/farm/test_queue_env.py), not job kinds.
    job_files = [p.stem for p in TEMPLATES.glob("*.yaml") if not p.stem.startswith("queue_env_")]
    assert sorted(job_files) == sorted(KINDS)
    assert {k: template_path(k) for k in KINDS} == {k: TEMPLATES / f"{k}.yaml" for k in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_openjd_check_passes(kind):
    proc = subprocess.run(openjd_argv("check", str(TEMPLATES / f"{kind}.yaml")), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passes validation checks" in proc.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_decodes_with_openjd_model_only_with_task_chunking(kind):
    doc = _load(kind)
    assert doc["specificationVersion"] == "jobtemplate-2023-09"
    assert doc["extensions"] == ["TASK_CHUNKING"]
    decoded = decode_job_template(template=doc, supported_extensions=["TASK_CHUNKING"])
    assert [s.name for s in decoded.steps] == [s["name"] for s in doc["steps"]]
    # GIVEN no extension support WHEN decoding THEN CHUNK[INT] is refused: the chunking is real.
    with pytest.raises(DecodeValidationError):
        decode_job_template(template=doc, supported_extensions=[])


@pytest.mark.parametrize("kind", KINDS)
def test_openjd_summary_shows_chunked_steps(kind):
    proc = subprocess.run(
        openjd_argv("summary", str(TEMPLATES / f"{kind}.yaml"), *_params(kind), "--output", "json"),
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "success"
    steps = {s["name"]: s for s in summary["steps"]}
    assert list(steps) == [s["name"] for s in _load(kind)["steps"]]
    chunked = {name for name, s in steps.items() if s.get("parameter_definitions")}
    assert chunked == {name for name in steps if name not in ("Report", "Join")}
    for name in chunked:
        assert steps[name]["parameter_definitions"] == [{"name": "Frame", "type": "CHUNK[INT]"}]
    # openjd summary counts tasks one frame each: 20 frames, 13 of them filled.
    expected_tasks = {"Fill": 20, "Upscale": 20, "QC": 20 if kind == "qc" else 13, "Report": 1, "Segments": 20,
                      "Join": 1}
    assert {n: s["total_tasks"] for n, s in steps.items()} == {n: expected_tasks[n] for n in steps}
    envs = {n: [e["name"] for e in s.get("environments", [])] for n, s in steps.items()}
    # One framefill worker per session wherever tasks run a model (QC reruns the manifest's model);
    # the video join is one task and only fetches its model.
    workers = {"Fill", "Upscale", "QC", "Segments"}
    assert envs == {n: (["FramefillWorker"] if n in workers else ["FramefillModel"] if n == "Join" else [])
                    for n in steps}


@pytest.mark.parametrize("kind", KINDS)
def test_host_requirements_gpu_steps_only(kind):
    # openjd summary (openjd-cli 0.8) does not print host requirements, so read the
    # instantiated job: the values Deadline schedules on.
    decoded = validate_template(_load(kind))
    values = resolve_parameter_values(decoded, VALUES[kind], template_dir=Path("/"))
    from openjd.model import ParameterValue, ParameterValueType, create_job

    types = {p.name: p.type.value for p in decoded.parameterDefinitions}
    job = create_job(
        job_template=decoded,
        job_parameter_values={k: ParameterValue(type=ParameterValueType(types[k]), value=v) for k, v in values.items()},
    )
    for step in job.steps:
        amounts = {a.name: a.min for a in ((step.hostRequirements.amounts or []) if step.hostRequirements else [])}
        # every step, GPU or not, runs on Linux or Windows (test_host_requirements.py: the CPU variant)
        families = {a.name: a.anyOf for a in step.hostRequirements.attributes or []}
        assert families == {"attr.worker.os.family": ["linux", "windows"]}, step.name
        if step.name in GPU_STEPS[kind]:
            assert amounts["amount.worker.gpu"] == Decimal(1)
            assert amounts["amount.worker.gpu.memory"] >= Decimal(4096)
        else:
            assert "amount.worker.gpu" not in amounts and "amount.worker.gpu.memory" not in amounts


@pytest.mark.parametrize("kind", KINDS)
def test_chunk_size_is_a_job_parameter(kind):
    doc = _load(kind)
    for step in doc["steps"]:
        for tp in step.get("parameterSpace", {}).get("taskParameterDefinitions", []):
            assert tp["type"] == "CHUNK[INT]"
            assert tp["range"] in ("{{Param.Frames}}", "{{Param.Filled}}")
            assert tp["chunks"]["defaultTaskCount"] in ("{{Param.ChunkSize}}", "{{Param.QcChunkSize}}")
    decoded = validate_template(doc)
    job = plan_job(decoded, resolve_parameter_values(decoded, {**VALUES[kind], "ChunkSize": 8}, template_dir=Path("/")))
    assert job.name == {"fill": "framefill fill 1001-1020", "upscale": "framefill upscale 1001-1020",
                        "qc": "framefill qc 1001-1020", "sparse_pipeline": "framefill sparse render 1001-1020",
                        "upscale_video": "framefill upscale video 0-19"}[kind]
    plans = {p.name: p for p in job.steps}
    chunked = next(n for n in ("Fill", "Upscale", "Segments", "QC") if n in plans)
    # 20 frames in chunks of at most 8: openjd balances them 7, 7, 6.
    first = 0 if kind == "upscale_video" else 1001
    assert [t["Frame"] for t in plans[chunked].tasks] == [f"{first}-{first + 6}", f"{first + 7}-{first + 13}",
                                                           f"{first + 14}-{first + 19}"]
    assert plans[chunked].chunk_parameter == "Frame"


@pytest.mark.parametrize("kind", KINDS)
def test_parameter_rules(kind):
    doc = _load(kind)
    params = {p["name"]: p for p in doc["parameterDefinitions"]}
    # framefill comes from the framefill queue environment; conda installs only what hosts add.
    conda, channels = params["CondaPackages"], params["CondaChannels"]
    assert (conda["type"], conda["default"], conda["userInterface"]["control"]) == ("STRING", "", "LINE_EDIT")
    assert (channels["type"], channels["default"]) == ("STRING", "deadline-cloud")
    for p in params.values():
        if p["type"] == "PATH":
            assert p["objectType"] in ("FILE", "DIRECTORY")
            assert p["dataFlow"] in ("IN", "OUT", "INOUT")
            assert not Path(p.get("default", "")).is_absolute()
    if "InputDir" in params:
        assert params["InputDir"]["dataFlow"] == "IN"
    assert params["OutputFile" if kind == "upscale_video" else "OutputDir"]["dataFlow"] in ("OUT", "INOUT")
    if "ReportDir" in params:
        assert params["ReportDir"]["dataFlow"] == "OUT"


@pytest.mark.parametrize("kind", KINDS)
def test_actions_are_argument_lists_through_the_task_wrapper(kind):
    doc = _load(kind)
    for step in doc["steps"]:
        run = step["script"]["actions"]["onRun"]
        assert run["command"] == "framefill"
        assert run["args"][:3] == ["farm", "task", "--"]
        # Every value is a whole argument: a parameter never shares an argument with a flag.
        for arg in run["args"]:
            assert not (arg.startswith("-") and "{{" in arg), arg
        assert not step.get("script", {}).get("embeddedFiles")
        session = "{{Session.WorkingDirectory}}"
        for env in step.get("stepEnvironments", []):
            actions = env["script"]["actions"]
            if env["name"] == "FramefillModel":
                assert actions == {"onEnter": {"command": "framefill",
                                               "args": ["farm", "prepare", "--model", "{{Param.Model}}"]}}
                continue
            # The session worker: started with the step's model (QC: none, it reruns the manifest's) and
            # device, stopped when the session leaves the step.
            model, device = ("", "auto") if step["name"] == "QC" else ("{{Param.Model}}", "{{Param.Device}}")
            assert actions == {
                "onEnter": {"command": "framefill", "args": ["farm", "worker", "start", "--model", model,
                                                             "--device", device, "--session-dir", session]},
                "onExit": {"command": "framefill", "args": ["farm", "worker", "stop", "--session-dir", session]},
            }


def test_sparse_pipeline_dependencies():
    doc = _load("sparse_pipeline")
    deps = {s["name"]: [d["dependsOn"] for d in s.get("dependencies", [])] for s in doc["steps"]}
    assert deps == {"Fill": [], "QC": ["Fill"], "Report": ["Fill", "QC"]}


def test_broken_template_gives_one_line_with_field_paths():
    doc = _load("fill")
    doc["steps"][0]["hostRequirements"]["amounts"][0]["min"] = -1
    args = doc["steps"][0]["script"]["actions"]["onRun"]["args"]
    args.append("{{Param.Nope}}")
    with pytest.raises(TemplateError) as info:
        validate_template(doc, where="fill.yaml")
    msg = info.value.msg
    assert "\n" not in msg
    assert msg.startswith("fill.yaml does not validate: ")
    assert "steps[0] -> hostRequirements -> amounts[0] -> min: Value -1 must be zero or greater" in msg
    bad = len(args) - 1
    assert f"steps[0] -> script -> actions -> onRun -> args[{bad}]: Variable Param.Nope does not exist" in msg


def test_flatten_openjd_error_pairs_fields_with_messages():
    err = ValueError("2 validation errors for JobTemplate\nsteps[0] -> name:\n\tbad name\n"
                     "parameterDefinitions:\n\ttoo many")
    assert flatten_openjd_error(err) == "steps[0] -> name: bad name; parameterDefinitions: too many"


def test_bad_parameter_values_are_one_line():
    decoded = validate_template(_load("fill"))
    with pytest.raises(TemplateError) as info:
        resolve_parameter_values(decoded, {**VALUES["fill"], "ChunkSize": 0, "Mode": "sideways"},
                                 template_dir=Path("/"))
    assert info.value.msg == (
        "job template: bad job parameter values: Value (0) for parameter ChunkSize must be at least 1.; "
        "Parameter Mode value (sideways) not in allowedValues."
    )
    with pytest.raises(TemplateError, match=r"range: Unexpected 'x' in '1-x'"):
        resolve_parameter_values(decoded, {**VALUES["fill"], "Frames": "1-x"}, template_dir=Path("/"))


@pytest.mark.parametrize(
    ("text", "frames"),
    [
        pytest.param("1001-1005", [1001, 1002, 1003, 1004, 1005], id="range"),
        pytest.param("1001-1009:4", [1001, 1005, 1009], id="openjd-step"),
        pytest.param("1001-1009x4", [1001, 1005, 1009], id="nuke-step"),
        pytest.param("22-28:3,40", [22, 25, 28, 40], id="openjd-chunk"),
        pytest.param("5, 1, 3", [1, 3, 5], id="list"),
    ],
)
def test_parse_frames(text, frames):
    assert parse_frames(text) == frames


def test_frames_to_str_round_trips():
    assert frames_to_str([1, 3, 5, 7, 8]) == "1-7:2,8"
    assert parse_frames(frames_to_str([1, 3, 5, 7, 8])) == [1, 3, 5, 7, 8]
