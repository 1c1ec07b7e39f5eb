"""Every command against a corpus of bad inputs and options, the way a hostile or careless user types them.

For each case: the documented exit code (0 done, 1 done but frames still need a
real render, 2 bad input: one line naming what and the fix), no traceback,
within a time bound, no input file touched, and nothing partial or non-finite
recorded as good (every manifest entry's file exists, hashes to what the entry
says, and a filled or upscaled EXR holds only finite pixels).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from framefill.frames import FramePattern, count_nonfinite, read_exr, write_exr
from synthetic_shot import frame_image, write_shot

TIME_BOUND_S = 120.0
ENV = {**os.environ, "FRAMEFILL_THREADS": "1"}


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    exit_code: int
    env: dict[str, str] = field(default_factory=dict)
    needle: str = ""  # in the one error line (exit 2)


def _poisoned(folder: Path, value: float) -> str:
    pattern = write_shot(folder, (1, 3))
    path = Path(FramePattern.parse(pattern).path(3))
    image = read_exr(path)
    channel = image.parts[0].channels["R"].copy()
    channel[10, 10] = value
    image.parts[0].channels["R"] = channel
    write_exr(path, image)
    return pattern


def _damaged(folder: Path, how: str) -> str:
    pattern = write_shot(folder, (1, 3, 5))
    path = Path(FramePattern.parse(pattern).path(3))
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "truncated": data[: len(data) // 3], "garbage": b"\x00" * 4000}[how])
    return pattern


def _mixed(folder: Path) -> str:
    pattern = write_shot(folder, (1, 5))
    small = frame_image(3)
    for part in small.parts:
        for name, channel in list(part.channels.items()):
            part.channels[name] = np.ascontiguousarray(channel[:40, :64])
        box = (np.array([0, 0], np.int32), np.array([63, 39], np.int32))
        part.header["dataWindow"] = part.header["displayWindow"] = box
    write_exr(Path(FramePattern.parse(pattern).path(3)), small)
    return pattern


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    inputs = root / "inputs"
    shots = {
        "good": write_shot(inputs / "good", (1, 3, 5)),
        "nan": _poisoned(inputs / "nan", np.nan),
        "inf": _poisoned(inputs / "inf", np.inf),
        "empty": _damaged(inputs / "empty", "empty"),
        "truncated": _damaged(inputs / "truncated", "truncated"),
        "garbage": _damaged(inputs / "garbage", "garbage"),
        "mixed": _mixed(inputs / "mixed"),
        "unicode": write_shot(inputs / "日本 shot", (1, 3)),
    }
    (inputs / "weights.pth").write_bytes(b"")
    (inputs / "weights_dir").mkdir()
    (inputs / "fake.mp4").write_text("not a video")
    (inputs / "damaged").write_bytes(b"\x76\x2f\x31\x01" + b"\x00" * 64)
    shutil.copy(FramePattern.parse(shots["good"]).path(1), inputs / "Rec709.exr")
    cal = json.loads((Path(__file__).resolve().parents[2] / "core/framefill/data/qc_calibration.json").read_text())
    (inputs / "cal_nan.json").write_text(json.dumps({**cal, "margin_db": float("nan")}))
    wrong = json.loads(json.dumps(cal))
    wrong["frame_model"]["coef"] = wrong["frame_model"]["coef"][:-1]
    (inputs / "cal_coef.json").write_text(json.dumps(wrong))
    filled = root / "filled" / "shot.####.exr"
    done = subprocess.run([sys.executable, "-m", "framefill", "interpolate", shots["good"], "--out", str(filled),
                           "--model", "flow", "-q"], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return root, shots


def _cases(root: Path, shots: dict[str, str]) -> list[Case]:
    i = root / "inputs"
    good, filled = shots["good"], str(root / "filled" / "shot.####.exr")
    out = "{out}/shot.####.exr"

    def fill(shot: str, *extra: str, code: int, env: dict[str, str] | None = None, needle: str = "") -> tuple:
        return ("interpolate", shot, "--out", out, "--model", "flow", "-q", *extra), code, env or {}, needle

    table = {
        "fill-nan-pixel": fill(shots["nan"], code=0),
        "fill-inf-pixel": fill(shots["inf"], code=0),
        "fill-empty-render": fill(shots["empty"], code=1),
        "fill-truncated-render": fill(shots["truncated"], code=1),
        "fill-garbage-render": fill(shots["garbage"], code=1),
        "fill-mixed-sizes": fill(shots["mixed"], code=2, needle="same size"),
        "fill-unicode-names": fill(shots["unicode"], code=0),
        "fill-absurd-range": fill(good, "--frames", "1-9000000", code=2, needle="--frames"),
        "fill-bad-range": fill(good, "--frames", "a-b", code=2, needle="--frames"),
        "fill-scale-nan": fill(good, "--scale", "nan", code=2, needle="--scale"),
        "fill-scale-negative": fill(good, "--scale", "-1", code=2, needle="--scale"),
        "fill-budget-zero": fill(good, "--memory-budget", "0", code=2, needle="--memory-budget"),
        "fill-budget-words": fill(good, "--memory-budget", "lots", code=2, needle="--memory-budget"),
        "fill-env-budget-zero": fill(good, code=2, env={"FRAMEFILL_MEMORY_BUDGET": "0"},
                                     needle="FRAMEFILL_MEMORY_BUDGET"),
        "fill-weights-empty": (("interpolate", good, "--out", out, "--weights", str(i / "weights.pth"), "-q"), 2, {},
                               "weights.pth"),
        "fill-weights-folder": (("interpolate", good, "--out", out, "--weights", str(i / "weights_dir"), "-q"), 2,
                                {}, ""),
        "fill-into-renders": (("interpolate", good, "--out", good, "--model", "flow"), 2, {}, "--in-place"),
        "fill-model-shell": fill(good, "--model", "rife-4$(touch PWNED)", code=2, needle="--model"),
        "fill-device-shell": fill(good, "--device", "cpu;touch PWNED", code=2, needle="device"),
        "fill-device-absent": fill(good, "--device", "cuda:7", code=2, needle="cuda:7"),
        "fill-threads-huge": fill(good, code=2, env={"FRAMEFILL_THREADS": "99999"}, needle="FRAMEFILL_THREADS"),
        "fill-threads-negative": fill(good, code=2, env={"FRAMEFILL_THREADS": "-1"}, needle="FRAMEFILL_THREADS"),
        "fill-threads-words": fill(good, code=2, env={"FRAMEFILL_THREADS": "abc"}, needle="FRAMEFILL_THREADS"),
        "fill-threads-fraction": fill(good, code=2, env={"FRAMEFILL_THREADS": "1.5"}, needle="FRAMEFILL_THREADS"),
        "fill-no-frames": fill(str(i / "none.####.exr"), code=2, needle="no rendered frames"),
        "fill-still": fill(str(i / "Rec709.exr"), code=0),  # one image: a one-frame sequence, copied
        "up-tile-1": (("upscale", good, "--out", out, "--tile", "1"), 2, {}, "--tile"),
        "up-scale-huge": (("upscale", good, "--out", out, "--scale", "1e6"), 2, {}, "--scale"),
        "up-size-huge": (("upscale", good, "--out", out, "--size", "96000x54000"), 2, {}, "--size"),
        "up-size-zero": (("upscale", good, "--out", out, "--size", "0x10"), 2, {}, "--size"),
        "up-crf": (("upscale", str(i / "fake.mp4"), "--out", "{out}/o.mp4", "--crf", "99"), 2, {}, "--crf"),
        "up-fake-video": (("upscale", str(i / "fake.mp4"), "--out", "{out}/o.mp4", "--model", "lanczos"), 2, {}, ""),
        "up-video-to-frames": (("upscale", str(i / "fake.mp4"), "--out", out, "--model", "lanczos"), 2, {}, ""),
        "up-nan-input": (("upscale", shots["nan"], "--out", out, "--model", "lanczos", "-q"), 0, {}, ""),
        "up-damaged-input": (("upscale", shots["empty"], "--out", out, "--model", "lanczos"), 2, {}, "shot.0003"),
        "up-output-too-big": (("upscale", good, "--out", out, "--model", "lanczos", "--scale", "16"), 2,
                              {"FRAMEFILL_MEMORY_BUDGET": "16M"}, "memory budget"),
        "up-aspect-words": (("upscale", good, "--out", out, "--aspect", "sideways"), 2, {}, ""),
        "qc-no-manifest": (("qc", good), 2, {}, "manifest"),
        "qc-calibration-nan": (("qc", filled, "--calibration", str(i / "cal_nan.json")), 2, {}, "cal_nan.json"),
        "qc-calibration-coef": (("qc", filled, "--calibration", str(i / "cal_coef.json")), 2, {}, "cal_coef.json"),
        "qc-threshold-words": (("qc", filled, "--threshold", "abc"), 2, {}, "--threshold"),
        "qc-threshold-nan": (("qc", filled, "--threshold", "nan"), 2, {}, "--threshold"),
        "info-still": (("info", str(i / "Rec709.exr")), 0, {}, ""),
        "info-damaged-no-ext": (("info", str(i / "damaged")), 2, {}, "damaged"),
        "info-all-unreadable": (("info", str(Path(shots["empty"]).parent / "shot.0003.exr")), 2, {}, ""),
        "info-missing": (("info", str(i / "missing.####.exr")), 2, {}, ""),
        "plan-every-zero": (("plan", good, "--every", "0"), 2, {}, "--every"),
        "plan-every-negative": (("plan", good, "--every", "-1"), 2, {}, "--every"),
        "bundle-model-shell": (("farm", "bundle", "fill", "--out", "{out}/b", "--input", good, "--output", out,
                                "--frames", "1-5", "--model", "rife-4$(touch PWNED)"), 2, {}, "--model"),
        "bundle-device-shell": (("farm", "bundle", "fill", "--out", "{out}/b", "--input", good, "--output", out,
                                 "--frames", "1-5", "-p", "Device=cpu;touch PWNED"), 2, {}, "Device"),
        "models-fetch-unknown": (("models", "fetch", "no-such-model"), 2, {}, "no-such-model"),
        "export-size-words": (("export", "onnx", "--model", "rife-4", "--size", "wide", "--out", "{out}"), 2, {},
                              "--size"),
    }
    return [Case(name, args, code, env, needle) for name, (args, code, env, needle) in table.items()]


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _recorded_as_good(out: Path) -> list[str]:
    """Problems with what the manifests under ``out`` call done: missing, other bytes, or non-finite pixels."""
    problems = []
    for manifest in out.rglob("framefill.manifest.json"):
        doc = json.loads(manifest.read_text())
        for pattern, seq in doc.get("sequences", {}).items():
            frames = FramePattern.parse(str(manifest.parent / pattern))
            for frame, entry in seq.get("frames", {}).items():
                path = Path(frames.path(int(frame)))
                if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != entry["file_sha256"]:
                    problems.append(f"{path} does not hold the bytes its entry records")
                elif entry["status"] in ("filled", "upscaled") and path.suffix == ".exr" and \
                        count_nonfinite(read_exr(path)):
                    problems.append(f"{path} is recorded as {entry['status']} but holds NaN/Inf pixels")
    return problems


def test_every_command_survives_the_corpus(corpus, tmp_path):
    root, shots = corpus
    before = _tree_digest(root / "inputs")
    failures = []
    for case in _cases(root, shots):
        out = tmp_path / case.id
        out.mkdir()
        args = [a.replace("{out}", str(out)) for a in case.args]
        t0 = time.monotonic()
        try:
            proc = subprocess.run([sys.executable, "-m", "framefill", *args], capture_output=True, text=True,
                                  env={**ENV, **case.env}, cwd=out, timeout=TIME_BOUND_S)
        except subprocess.TimeoutExpired:
            failures.append(f"{case.id}: still running after {TIME_BOUND_S:.0f} s")
            continue
        seconds = time.monotonic() - t0
        text = proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        if "Traceback" in text or "Error:" in text.replace("framefill: error:", ""):
            failures.append(f"{case.id}: a traceback or raw exception: {proc.stderr[-300:]!r}")
        elif proc.returncode != case.exit_code:
            failures.append(f"{case.id}: exit {proc.returncode}, documented {case.exit_code}: {proc.stderr[-300:]!r}")
        elif case.exit_code == 2 and not (lines and lines[-1].startswith("framefill: error:")
                                          and case.needle in lines[-1]):
            failures.append(f"{case.id}: the error line does not name {case.needle!r}: {proc.stderr[-300:]!r}")
        failures += [f"{case.id}: {p}" for p in _recorded_as_good(out)]
        if (out / "PWNED").exists() or Path("PWNED").exists():
            failures.append(f"{case.id}: a value reached a shell")
        assert seconds < TIME_BOUND_S
    assert _tree_digest(root / "inputs") == before, "an input file was modified"
    assert not failures, "\n".join(failures)
