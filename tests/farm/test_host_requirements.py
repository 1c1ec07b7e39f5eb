"""Host requirements by device, and the software a bundle asks for (CondaPackages / CondaChannels).

The template files are the GPU variant. `framefill farm bundle` writes the
variant of the job's Device: ``cpu`` drops every ``amount.worker.gpu*`` so a
CPU-only fleet can take the job; ``auto`` and ``cuda[:N]`` keep them. Every
step, a host's render step too, runs on Linux or Windows workers.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from farm_helpers import GPU_STEPS, KINDS, TEMPLATES, framefill_argv
from framefill.api import make_bundle
from framefill.errors import RequestError
from framefill.farm.bundle import fit_host_requirements
from framefill.farm.templates import validate_template
from framefill.requests import BundleRequest

OS_FAMILY = {"name": "attr.worker.os.family", "anyOf": ["linux", "windows"]}
JOB_TEMPLATES = sorted(p.stem for p in TEMPLATES.glob("*.yaml") if not p.stem.startswith("queue_env_"))
# The memory amounts of each step, GPU or CPU variant alike.
MEMORY_MIB = {"Fill": 8192, "Upscale": 8192, "QC": 4096, "Segments": 8192, "Join": 8192}
GPU_MEMORY_MIB = {"Fill": 8192, "Upscale": 4096, "Segments": 4096, "Join": 4096}


def _request(kind: str, tmp_path: Path, **extra: Any) -> BundleRequest:
    shot = {"input_pattern": str(tmp_path / "in" / "a.####.exr"),
            "output_pattern": str(tmp_path / "out" / "a.####.exr"),
            "frames": "1-10"}
    fields: dict[str, Any] = {
        "fill": shot, "upscale": shot, "sparse_pipeline": {**shot, "keyframes": "1-10:3"},
        "qc": {"output_pattern": shot["output_pattern"], "filled": "2-9"},
        # Frames given, so the (absent) video is not opened to count them.
        "upscale_video": {"input_pattern": str(tmp_path / "in" / "a.mov"), "output_pattern": str(tmp_path / "up.mov"),
                          "frames": "0-9", "model": "lanczos"},
    }[kind]
    return BundleRequest(kind=kind, out_dir=tmp_path / "job", **{**fields, **extra})  # type: ignore[arg-type]


def _requirements(bundle: Path) -> dict[str, Any]:
    template = yaml.safe_load((bundle / "template.yaml").read_text(encoding="utf-8"))
    return {s["name"]: s.get("hostRequirements") for s in template["steps"]}


def _expected(kind: str, step: str, *, gpu: bool) -> dict[str, Any]:
    amounts: list[dict[str, Any]] = []
    if gpu and step in GPU_STEPS[kind]:
        amounts += [{"name": "amount.worker.gpu", "min": 1},
                    {"name": "amount.worker.gpu.memory", "min": GPU_MEMORY_MIB[step]}]
    if step in MEMORY_MIB:
        amounts.append({"name": "amount.worker.memory", "min": MEMORY_MIB[step]})
    return {**({"amounts": amounts} if amounts else {}), "attributes": [OS_FAMILY]}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("device", ["cpu", "CPU", "auto", "cuda", "cuda:1"])
def test_bundle_host_requirements_follow_the_device(kind, device, tmp_path):
    params = {} if kind == "qc" else {"Device": device}
    result = make_bundle(_request(kind, tmp_path, params=params))
    gpu = device.lower() != "cpu"
    got = _requirements(result.folder)
    assert got == {step: _expected(kind, step, gpu=gpu) for step in got}
    text = (result.folder / "template.yaml").read_text(encoding="utf-8")
    assert ("amount.worker.gpu" in text) == (gpu and bool(GPU_STEPS[kind]))
    validate_template(yaml.safe_load(text))


@pytest.mark.parametrize("kind", ["fill", "upscale", "sparse_pipeline"])
def test_the_template_default_device_auto_is_the_gpu_variant(kind, tmp_path):
    result = make_bundle(_request(kind, tmp_path))
    assert result.parameters["Device"] == "auto"
    assert _requirements(result.folder) == {s: _expected(kind, s, gpu=True) for s in _requirements(result.folder)}


@pytest.mark.parametrize("name", JOB_TEMPLATES)
def test_every_template_file_has_a_cpu_variant_without_gpu(name):
    # Generic over the files found (a new template too): the CPU variant keeps no GPU amount
    # anywhere and still validates; the GPU variant is the file's own requirements plus the OS.
    template = yaml.safe_load((TEMPLATES / f"{name}.yaml").read_text(encoding="utf-8"))
    cpu, gpu = copy.deepcopy(template), copy.deepcopy(template)
    fit_host_requirements(cpu, uses_gpu=False)
    fit_host_requirements(gpu, uses_gpu=True)
    assert "amount.worker.gpu" not in yaml.safe_dump(cpu)
    for before, step in zip(template["steps"], gpu["steps"], strict=True):
        assert step["hostRequirements"].get("amounts") == (before.get("hostRequirements") or {}).get("amounts")
    for step in cpu["steps"] + gpu["steps"]:
        families = [a for a in step["hostRequirements"]["attributes"] if a["name"] == "attr.worker.os.family"]
        assert len(families) == 1 and sorted(families[0]["anyOf"]) == ["linux", "windows"]
    validate_template(cpu)
    validate_template(gpu)


def test_gpu_memory_on_a_cpu_job_is_one_line(tmp_path, env):
    proc = subprocess.run(framefill_argv(
        "farm", "bundle", "fill", "--out", str(tmp_path / "job"), "--input", str(tmp_path / "a.####.exr"),
        "--output", str(tmp_path / "o" / "a.####.exr"), "--frames", "1-4", "-p", "Device=cpu",
        "--gpu-memory-mib", "4096"), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    assert proc.stderr == ("framefill: error: --gpu-memory-mib applies to GPU jobs, and this one runs on the CPU "
                           "(Device cpu); leave it out or choose a GPU device\n")
    assert not (tmp_path / "job").exists()
    result = make_bundle(_request("fill", tmp_path, params={"Device": "cuda:0"}, gpu_memory_mib=12000))
    fill = _requirements(result.folder)["Fill"]
    assert {"name": "amount.worker.gpu.memory", "min": 12000} in fill["amounts"]


def test_a_render_step_gets_the_os_unless_it_names_its_own(tmp_path):
    step = {"name": "Render", "script": {"actions": {"onRun": {"command": "blender", "args": ["-b"]}}}}
    result = make_bundle(_request("sparse_pipeline", tmp_path, params={"Device": "cpu"}, render_step=step))
    assert _requirements(result.folder)["Render"] == {"attributes": [OS_FAMILY]}
    linux = {**step, "hostRequirements": {"attributes": [{"name": "attr.worker.os.family", "anyOf": ["linux"]}]}}
    result = make_bundle(_request("sparse_pipeline", tmp_path, params={"Device": "cpu"}, render_step=linux))
    assert _requirements(result.folder)["Render"] == linux["hostRequirements"]


@pytest.mark.parametrize("kind", KINDS)
def test_conda_defaults_install_nothing_but_what_hosts_add(kind, tmp_path):
    result = make_bundle(_request(kind, tmp_path))
    assert (result.parameters["CondaPackages"], result.parameters["CondaChannels"]) == ("", "deadline-cloud")
    result = make_bundle(_request(kind, tmp_path, conda_packages=("blender=4.2",)))
    assert result.parameters["CondaPackages"] == "blender=4.2"


def test_conda_packages_append_to_the_parameter_once_each(tmp_path, env):
    proc = subprocess.run(framefill_argv(
        "farm", "bundle", "fill", "--out", str(tmp_path / "job"), "--input", str(tmp_path / "a.####.exr"),
        "--output", str(tmp_path / "o" / "a.####.exr"), "--frames", "1-4", "-p", "CondaPackages=framefill",
        "-p", "CondaChannels=s3://studio-conda/channel deadline-cloud", "--conda-package", "nuke=15.*",
        "--conda-package", "framefill", "--conda-package", "nuke=15.*", "--json"),
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = yaml.safe_load((tmp_path / "job" / "parameter_values.yaml").read_text(encoding="utf-8"))
    conda = {r["name"]: r["value"] for r in rows["parameterValues"] if r["name"].startswith("Conda")}
    assert conda == {"CondaPackages": "framefill nuke=15.*",
                     "CondaChannels": "s3://studio-conda/channel deadline-cloud"}


@pytest.mark.parametrize(("args", "message"), [
    (["--conda-package", "blender 4.2"], "--conda-package 'blender 4.2' is not one conda package spec; give e.g. "
                                         "blender=4.2 (one spec per entry, no spaces or quotes)"),
    (["--conda-package", "blender=$(id)"], "--conda-package 'blender=$(id)' is not a conda package spec (e.g. "
                                           "blender=4.2, nuke=15.*); separate specs with spaces"),
    (["-p", "CondaPackages=a 'b"], "-p CondaPackages: \"'b\" is not a conda package spec (e.g. blender=4.2, "
                                   "nuke=15.*); separate specs with spaces"),
    (["-p", "CondaChannels=conda-forge `x`"], "-p CondaChannels: '`x`' is not a conda channel (a name such as "
                                              "deadline-cloud or conda-forge, or a URL such as s3://bucket/channel); "
                                              "separate channels with spaces"),
])
def test_bad_conda_values_are_one_line(args, message, tmp_path, env):
    # Deadline's conda queue environment puts these inside single quotes in bash: nothing may break out.
    proc = subprocess.run(framefill_argv(
        "farm", "bundle", "fill", "--out", str(tmp_path / "job"), "--input", str(tmp_path / "a.####.exr"),
        "--output", str(tmp_path / "o" / "a.####.exr"), "--frames", "1-4", *args),
        env=env, capture_output=True, text=True, timeout=600)
    assert (proc.returncode, proc.stderr) == (2, f"framefill: error: {message}\n")
    assert not (tmp_path / "job").exists()


def test_bundle_request_takes_a_list_of_specs(tmp_path):
    with pytest.raises(RequestError, match=r"^conda_packages must be a list of conda package specs, got 'blender'$"):
        BundleRequest(kind="fill", out_dir=tmp_path, conda_packages="blender")  # type: ignore[arg-type]
    assert BundleRequest(kind="fill", out_dir=tmp_path, conda_packages=["a=1"]).conda_packages == ("a=1",)


def test_host_bundle_argv_passes_conda_packages_before_events():
    from framefill_host.bundles import write_bundle_argv

    request = {"kind": "qc", "out_dir": "/jobs/j", "output_pattern": "/o/a.####.exr", "filled": "2-9",
               "conda_packages": ["blender=4.2"]}
    argv = write_bundle_argv(request, cli=["framefill"], render_step_file="/tmp/step.json")
    assert argv[-3:] == ["--conda-package", "blender=4.2", "--events"]
    assert write_bundle_argv({**request, "conda_packages": []}, cli=["framefill"], render_step_file="x")[-2:] == [
        "2-9", "--events"]


def test_run_local_environment_must_be_an_environment_template(tmp_path, env):
    template = TEMPLATES / "qc.yaml"
    missing = subprocess.run(framefill_argv("farm", "run-local", str(template), "--environment",
                                            str(tmp_path / "nope.yaml")),
                             env=env, capture_output=True, text=True, timeout=600)
    assert (missing.returncode, missing.stderr) == (
        2, f"framefill: error: --environment {tmp_path / 'nope.yaml'}: no such file; give an OpenJD environment "
           "template such as openjd_templates/queue_env_framefill_venv.yaml\n")
    wrong = subprocess.run(framefill_argv("farm", "run-local", str(template), "--environment", str(template)),
                           env=env, capture_output=True, text=True, timeout=600)
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1, wrong.stderr
    assert wrong.stderr.startswith(f"framefill: error: --environment {template} is not an OpenJD environment "
                                   "template: ")
