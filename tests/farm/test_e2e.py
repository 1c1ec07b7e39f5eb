"""End to end: the real templates run by openjd against the real framefill commands.

GIVEN a shot with every other frame missing
WHEN `openjd run` runs the bundle that `framefill farm bundle` wrote
THEN every frame is bit-identical to `framefill interpolate` run directly, a
second run rewrites nothing, and a chunk killed mid-way then retried completes
without duplicates or rewrites.

- fill: a small synthetic EXR shot and the classical `flow` model (no weights).
- sparse_pipeline: the bundled sample shot with RIFE, plus the QC report.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from farm_helpers import CORE, framefill_argv, openjd_argv, write_blob_shot
from framefill.farm.local import write_framefill_launcher
from framefill.farm.task import KILL_AFTER_FRAMES_ENV

pytestmark = pytest.mark.slow

SAMPLE = CORE / "framefill" / "data" / "sample_shot"
PATTERN = "shot.####.exr"
FRAME_FILE = re.compile(r"^shot\.(\d+)\.exr$")
SAMPLE_FRAMES = 5  # three rendered (first, middle, last) and two filled: small for a 2-core CPU


@dataclass(frozen=True)
class Shot:
    keys: Path  # folder with the rendered frames only
    frames: tuple[int, ...]
    model: str

    @property
    def range(self) -> str:
        return f"{self.frames[0]}-{self.frames[-1]}"

    @property
    def keyframes(self) -> str:
        return f"{self.frames[0]}-{self.frames[-1]}:2"

    @property
    def filled(self) -> tuple[int, ...]:
        return self.frames[1::2]


def _synthetic_shot(folder: Path) -> Shot:
    """Five 96x64 frames of a soft blob moving right; frames 2 and 4 are missing."""
    write_blob_shot(folder)
    return Shot(keys=folder, frames=(1, 2, 3, 4, 5), model="flow")


def _sample_shot(folder: Path) -> Shot:
    files = sorted(p for p in SAMPLE.glob("shot.*.exr") if FRAME_FILE.match(p.name))
    assert len(files) >= SAMPLE_FRAMES, f"the sample shot {SAMPLE / PATTERN} is incomplete"
    files = files[:SAMPLE_FRAMES]
    folder.mkdir(parents=True)
    for p in files[::2]:
        shutil.copyfile(p, folder / p.name)
    frames = tuple(int(FRAME_FILE.match(p.name).group(1)) for p in files)
    assert frames == tuple(range(frames[0], frames[0] + SAMPLE_FRAMES)), "sample shot frames are not consecutive"
    return Shot(keys=folder, frames=frames, model="rife-4")


def _frame_files(folder: Path) -> dict[int, Path]:
    if not folder.is_dir():
        return {}
    return {int(m.group(1)): p for p in folder.iterdir() if (m := FRAME_FILE.match(p.name))}


def _snapshot(folder: Path) -> dict[int, tuple[int, int]]:
    return {f: (p.stat().st_ino, p.stat().st_mtime_ns) for f, p in _frame_files(folder).items()}


def _reference(shot: Shot, out: Path, env: dict[str, str]) -> Path:
    """`framefill interpolate` run directly: what the farm must reproduce bit for bit."""
    proc = subprocess.run(
        framefill_argv("interpolate", str(shot.keys / PATTERN), "--out", str(out / PATTERN), "--frames", shot.range,
                       "--model", shot.model, "--device", "cpu", "--quiet"),
        env=env, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def _bundle(kind: str, shot: Shot, out: Path, bundle: Path, env: dict[str, str]) -> Path:
    args = ["farm", "bundle", kind, "--out", str(bundle), "--input", str(shot.keys / PATTERN), "--output",
            str(out / PATTERN), "--frames", shot.range, "--chunk-size", "2", "--model", shot.model, "-p", "Device=cpu"]
    if kind == "sparse_pipeline":
        args += ["--keyframes", shot.keyframes]
    proc = subprocess.run(framefill_argv(*args), env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = yaml.safe_load((bundle / "parameter_values.yaml").read_text())["parameterValues"]
    # openjd run takes a flat map, not Deadline's parameterValues list.
    (bundle / "params.json").write_text(json.dumps({r["name"]: r["value"] for r in rows}))
    return bundle


def _openjd_run(bundle: Path, env: dict[str, str], launcher: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        openjd_argv("run", str(bundle / "template.yaml"), "-p", f"file://{bundle / 'params.json'}"),
        env={**env, "PATH": f"{launcher}:{env['PATH']}", **extra}, capture_output=True, text=True, timeout=1800,
    )


def _manifest_frames(out: Path) -> list[int]:
    doc = json.loads((out / "framefill.manifest.json").read_text())
    return sorted(int(f) for f in doc["sequences"][PATTERN]["frames"])


def _assert_matches_reference(out: Path, ref: Path, shot: Shot) -> None:
    got, want = _frame_files(out), _frame_files(ref)
    assert sorted(got) == list(shot.frames) == sorted(want)
    for f in shot.frames:
        assert got[f].read_bytes() == want[f].read_bytes(), f"frame {f} differs from `framefill interpolate`"
    for f in shot.frames[::2]:  # rendered frames are copied bit-exact
        assert got[f].read_bytes() == (shot.keys / got[f].name).read_bytes()
    assert _manifest_frames(out) == list(shot.frames)


def _run_twice_then_kill_and_retry(kind: str, shot: Shot, tmp_path: Path, env: dict[str, str]) -> Path:
    ref = _reference(shot, tmp_path / "ref", env)
    launcher = write_framefill_launcher(tmp_path / "bin")

    # 1. A clean run matches the CLI bit for bit and reports progress to OpenJD.
    out = tmp_path / "farm"
    bundle = _bundle(kind, shot, out, tmp_path / "bundle", env)
    first = _openjd_run(bundle, env, launcher)
    assert first.returncode == 0, first.stdout[-4000:]
    assert "openjd_progress: 100" in first.stdout
    assert "openjd_env: FRAMEFILL_MODELS=" in first.stdout  # the step environment ran
    _assert_matches_reference(out, ref, shot)

    # 2. A second run finds every frame done: nothing is rewritten.
    before = _snapshot(out)
    second = _openjd_run(bundle, env, launcher)
    assert second.returncode == 0, second.stdout[-4000:]
    assert _snapshot(out) == before
    _assert_matches_reference(out, ref, shot)

    # 3. The first chunk dies (SIGKILL) after its first finished frame; the retry completes.
    out2 = tmp_path / "farm2"
    bundle2 = _bundle(kind, shot, out2, tmp_path / "bundle2", env)
    failed = _openjd_run(bundle2, env, launcher, **{KILL_AFTER_FRAMES_ENV: "1"})
    assert failed.returncode != 0
    assert "openjd_fail: killed after 1 frame(s)" in failed.stdout
    from framefill.pipeline.manifest import Manifest

    recorded = set(Manifest(str(out2 / PATTERN)).entries())
    assert recorded, "the killed chunk recorded no finished frame"
    assert recorded < set(shot.frames)
    kept = {f: s for f, s in _snapshot(out2).items() if f in recorded}
    retry = _openjd_run(bundle2, env, launcher)
    assert retry.returncode == 0, retry.stdout[-4000:]
    _assert_matches_reference(out2, ref, shot)
    after = _snapshot(out2)
    assert {f: after[f] for f in kept} == kept, "the retry rewrote frames the manifest already held"
    # One file per frame and nothing else visible beside them (no duplicates, no leftovers).
    extra = {"framefill.manifest.json"} | ({"qc_report"} if kind == "sparse_pipeline" else set())
    names = {p.name for p in out2.iterdir() if not p.name.startswith(".")}
    assert names == {p.name for p in _frame_files(out2).values()} | extra
    return out


def test_fill_template_e2e(tmp_path, env):
    shot = _synthetic_shot(tmp_path / "keys")
    _run_twice_then_kill_and_retry("fill", shot, tmp_path, env)


@pytest.mark.weights
def test_sparse_pipeline_e2e(tmp_path, env):
    shot = _sample_shot(tmp_path / "keys")
    out = _run_twice_then_kill_and_retry("sparse_pipeline", shot, tmp_path, env)
    report = out / "qc_report"
    assert (report / "report.html").stat().st_size > 0
    qc = json.loads((report / "qc.json").read_text())
    assert sorted(f["frame"] for f in qc["frames"]) == sorted(shot.filled)


def test_run_local_two_workers_matches_the_cli(tmp_path, env):
    shot = _synthetic_shot(tmp_path / "keys")
    ref = _reference(shot, tmp_path / "ref", env)
    out = tmp_path / "farm"
    bundle = _bundle("fill", shot, out, tmp_path / "bundle", env)
    proc = subprocess.run(framefill_argv("farm", "run-local", str(bundle), "--workers", "2", "--json"),
                          env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout)
    # 5 frames in chunks of 2 -> 3 chunks: 2 on worker 0, 1 on worker 1.
    assert [(r["step"], r["worker"], len(r["tasks"])) for r in result["runs"]] == [("Fill", 0, 2), ("Fill", 1, 1)]
    _assert_matches_reference(out, ref, shot)
