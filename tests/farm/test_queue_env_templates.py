"""Every job template, run by openjd inside the framefill queue environment, writes what the CLI writes.

GIVEN a venv for this framefill version where the queue environment looks for one
WHEN `framefill farm run-local BUNDLE --environment queue_env_framefill_venv.yaml`
runs each template's bundle (Device cpu: the CPU variant) with a bare PATH
(/usr/bin:/bin, no framefill on it) and no PYTHONPATH in the sessions
THEN the queue environment REUSES that venv and puts it on PATH, every framefill
task runs in the venv's python, and the outputs are the bytes the framefill CLI
writes run directly.

The venv is a real ``python -m venv`` whose framefill is this checkout (a .pth
adds core/ and this interpreter's site-packages, a dist-info names the
version; see farm_helpers.reuse_venv): the REUSE path only. Creating a venv
(pip, the index) is test_queue_env.py's. Models without weights (flow,
lanczos) keep it small: the queue environment is under test, not the networks.
The cases are the template files found in openjd_templates/, so a new template
fails here until it has a case.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from farm_helpers import (
    QUEUE_ENV,
    TEMPLATES,
    VENV_LOG_ENV,
    framefill_argv,
    queue_env_task_env,
    reuse_venv,
    write_blob_shot,
)

pytestmark = pytest.mark.slow

PATTERN = "shot.####.exr"
JOB_TEMPLATES = sorted(p.stem for p in TEMPLATES.glob("*.yaml") if not p.stem.startswith("queue_env_"))


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reuse_venv(tmp_path_factory.mktemp("venvs"))


def _cli(env: dict[str, str], *args: str) -> None:
    proc = subprocess.run(framefill_argv(*args), env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"framefill {' '.join(args)}: {proc.stderr[-3000:]}"


def _shot(folder: Path) -> Path:
    return write_blob_shot(folder)


def _clip(path: Path) -> Path:
    """Twelve 64x48 frames of a moving pattern in H.264."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        yy, xx = np.mgrid[0:48, 0:64]
        for i in range(12):
            img = np.stack([(xx * 4 + i * 3) % 256, 60 + (yy * 3 + i) % 128, ((xx + yy) * 2 + i * 5) % 256], -1)
            for packet in video.encode(av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    return path


def _same_files(got: Path, want: Path, names: list[str]) -> None:
    assert sorted(p.name for p in got.iterdir() if p.name in names) == sorted(names)
    for name in names:
        assert (got / name).read_bytes() == (want / name).read_bytes(), f"{name} differs from the CLI's"


def _qc_rows(report: Path) -> list[dict[str, object]]:
    """qc.json's verdict per frame (scores, intervals, flags), without the heatmap paths and the score's
    provenance ("cached" on the farm, where Report reads what the QC step stored; "sidecar" in one CLI run)."""
    doc = json.loads((report / "qc.json").read_text(encoding="utf-8"))
    frames = sorted(doc["frames"], key=lambda f: f["frame"])
    return [{k: v for k, v in f.items() if k not in ("heatmap", "source")} for f in frames]


FRAME_FILES = [f"shot.{f:04d}.exr" for f in range(1, 6)]

# kind -> (tmp_path, env) -> (the `farm bundle` arguments after KIND --out DIR, the check after the run)
Case = Callable[[Path, dict[str, str]], tuple[list[str], Callable[[], None]]]


def _fill(tmp: Path, env: dict[str, str]) -> tuple[list[str], Callable[[], None]]:
    keys = _shot(tmp / "keys")
    _cli(env, "interpolate", str(keys), "--out", str(tmp / "ref" / PATTERN), "--frames", "1-5", "--model", "flow",
         "--device", "cpu", "--quiet")
    args = ["--input", str(keys), "--output", str(tmp / "out" / PATTERN), "--frames", "1-5", "--chunk-size", "2",
            "--model", "flow"]
    return args, lambda: _same_files(tmp / "out", tmp / "ref", FRAME_FILES)


def _sparse_pipeline(tmp: Path, env: dict[str, str]) -> tuple[list[str], Callable[[], None]]:
    args, same_frames = _fill(tmp, env)
    _cli(env, "qc", str(tmp / "ref" / PATTERN), "--filled", "2,4", "--report", str(tmp / "ref_qc"), "--quiet")

    def check() -> None:
        same_frames()
        assert _qc_rows(tmp / "out" / "qc_report") == _qc_rows(tmp / "ref_qc") != []
    return [*args, "--keyframes", "1-5:2"], check


def _qc(tmp: Path, env: dict[str, str]) -> tuple[list[str], Callable[[], None]]:
    _fill(tmp, env)
    shutil.copytree(tmp / "ref", tmp / "scored")
    _cli(env, "qc", str(tmp / "ref" / PATTERN), "--filled", "2,4", "--report", str(tmp / "ref_qc"), "--quiet")

    def check() -> None:
        assert _qc_rows(tmp / "report") == _qc_rows(tmp / "ref_qc") != []
        assert (tmp / "report" / "report.html").stat().st_size > 0
    return ["--output", str(tmp / "scored" / PATTERN), "--filled", "2,4", "--report", str(tmp / "report")], check


def _upscale(tmp: Path, env: dict[str, str]) -> tuple[list[str], Callable[[], None]]:
    keys = _shot(tmp / "keys")
    _cli(env, "upscale", str(keys), "--out", str(tmp / "ref" / PATTERN), "--frames", "1-5:2", "--model", "lanczos",
         "--scale", "2", "--device", "cpu", "--quiet")
    args = ["--input", str(keys), "--output", str(tmp / "out" / PATTERN), "--frames", "1-5:2", "--chunk-size", "2",
            "--model", "lanczos", "-p", "Scale=2"]
    return args, lambda: _same_files(tmp / "out", tmp / "ref", FRAME_FILES[::2])


def _upscale_video(tmp: Path, env: dict[str, str]) -> tuple[list[str], Callable[[], None]]:
    clip = _clip(tmp / "in.mp4")
    _cli(env, "upscale", str(clip), "--out", str(tmp / "ref" / "up.mp4"), "--model", "lanczos", "--scale", "2",
         "--device", "cpu", "--quiet")
    args = ["--input", str(clip), "--output", str(tmp / "out" / "up.mp4"), "--chunk-size", "5", "--model", "lanczos",
            "-p", "Scale=2"]
    return args, lambda: _same_files(tmp / "out", tmp / "ref", ["up.mp4"])


CASES: dict[str, Case] = {
    "fill": _fill, "sparse_pipeline": _sparse_pipeline, "qc": _qc, "upscale": _upscale,
    "upscale_video": _upscale_video,
}


@pytest.mark.parametrize("kind", JOB_TEMPLATES)
def test_every_template_runs_in_the_queue_environment(kind, venv, tmp_path, env):
    if kind not in CASES:
        pytest.fail(f"openjd_templates/{kind}.yaml has no queue-environment case here; add one to CASES")
    args, check = CASES[kind](tmp_path, env)
    # GIVEN the CPU variant of the kind's bundle
    bundle = tmp_path / "bundle"
    device = ["-p", "Device=cpu"] if kind != "qc" else []
    _cli(env, "farm", "bundle", kind, "--out", str(bundle), *args, *device, "--quiet")
    template = (bundle / "template.yaml").read_text(encoding="utf-8")
    assert "amount.worker.gpu" not in template
    # WHEN run-local runs it inside the queue environment, with nothing else that could run framefill
    log = tmp_path / "venv_pythons.log"
    run_env = {**queue_env_task_env(env), VENV_LOG_ENV: str(log)}
    assert shutil.which("framefill", path=run_env["PATH"]) is None
    proc = subprocess.run(
        framefill_argv("farm", "run-local", str(bundle), "--environment", str(QUEUE_ENV),
                       "-p", f"FramefillVenvRoot={venv.parent}", "-p", f"FramefillPython={sys.executable}", "--json"),
        env=run_env, capture_output=True, text=True, timeout=3600)
    # THEN the job succeeds, its framefill ran in the venv, and it wrote the CLI's bytes
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert json.loads(proc.stdout)["ok"] is True
    started = [ast.literal_eval(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert {prefix for prefix, _ in started} == {str(venv)}
    framefill_runs = [argv for _, argv in started if argv[1:3] == ["-m", "framefill"]]
    assert framefill_runs, f"no framefill ran in {venv}: {started}"
    assert (venv / "bin" / "framefill").is_file()  # the queue environment wrote its launcher
    steps = [s["name"] for s in yaml.safe_load(template)["steps"]]
    assert steps
    check()
