"""The bytes framefill writes for a fixed set of commands, hashed: the refactoring guard.

``run_cases(work, cases)`` runs each case's ``framefill`` command in ``work`` and
returns ``{case: {relative file: sha256}}`` for every file the command wrote.
Text files are normalised before hashing: the work folder, the sample shot's
folder and framefill's version become placeholders, and lines that carry a
timestamp or the version are dropped, so only what a change could break counts.

Record (once, on a tree whose output is the reference):
    PYTHONPATH=core:tests python tests/golden_outputs.py --record tests/golden/outputs.json
The test ``tests/integration/test_golden_outputs.py`` runs the same cases and
compares against that file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "core" / "framefill" / "data" / "sample_shot"
TEXT_SUFFIXES = {".json", ".md", ".html", ".yaml", ".yml", ".txt", ".nk", ".py"}
# A report's footer line and a manifest's version fields change with the version and the clock.
_VOLATILE = re.compile(r"generated|framefill_version|\"version\": \"\d|<placeholder-version>", re.I)
UPSCALE_FRAMES = "1001-1003"
UPSCALE_CARDS = ("realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3-x4",
                 "realesr-animevideov3-x3", "realesr-animevideov3-x2", "lanczos")
TEMPLATES = ("fill", "upscale", "qc", "sparse_pipeline")


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    writes: str  # the folder (relative to the work folder) whose files are hashed
    needs: str = ""  # a case whose output this one reads


def cases(*, small_upscale: bool) -> list[Case]:
    """Every command of the guard. ``small_upscale`` crops the upscale input to keep CI quick."""
    shot = "{sample}/shot.####.exr"
    up_in = "small/shot.####.exr" if small_upscale else shot
    out: list[Case] = [
        Case("demo", ("demo", "--out", "demo", "--device", "cpu", "-q"), "demo"),
        Case("fill-rife-4", ("interpolate", "demo/rendered/shot.####.exr", "--out", "fill-rife-4/shot.####.exr",
                             "--model", "rife-4", "--device", "cpu", "-q"), "fill-rife-4", needs="demo"),
        Case("fill-flow", ("interpolate", "demo/rendered/shot.####.exr", "--out", "fill-flow/shot.####.exr",
                           "--model", "flow", "--device", "cpu", "-q"), "fill-flow", needs="demo"),
        # The truth is named by a path inside the work folder: heatmap headers record it.
        Case("qc-report", ("qc", "fill-rife-4/shot.####.exr", "--truth", "truth/shot.####.exr", "--report",
                           "qc-report", "-q"), "qc-report", needs="fill-rife-4"),
    ]
    for card in UPSCALE_CARDS:
        out.append(Case(f"upscale-{card}", ("upscale", up_in, "--out", f"up-{card}/shot.####.exr", "--frames",
                                            UPSCALE_FRAMES, "--model", card, "--device", "cpu", "-q"), f"up-{card}"))
    for kind in TEMPLATES:
        args = ["farm", "bundle", kind, "--out", f"bundle-{kind}", "--output", "filled/sh.####.exr", "-q"]
        if kind == "qc":
            args += ["--filled", "1002-1022:2"]
        else:
            args += ["--input", "renders/sh.####.exr", "--frames", "1001-1024"]
        if kind in ("qc", "sparse_pipeline"):
            args += ["--report", "qc_report"]
        if kind == "sparse_pipeline":
            args += ["--keyframes", "1001-1023:2,1024"]
        out.append(Case(f"bundle-{kind}", tuple(args), f"bundle-{kind}"))
    return out


def make_small_input(work: Path) -> None:
    """A 96x64 crop of sample frames 1001-1003 (every part and channel), for a quick upscale case."""
    import numpy as np
    from framefill.frames import read_exr, write_exr
    from framefill.frames.exr import ExrImage, ExrPart

    for frame in (1001, 1002, 1003):
        image = read_exr(SAMPLE / f"shot.{frame}.exr")
        parts = []
        for part in image.parts:
            header = dict(part.header)
            header["dataWindow"] = (np.array([0, 0], np.int32), np.array([95, 63], np.int32))
            header["displayWindow"] = (np.array([0, 0], np.int32), np.array([95, 63], np.int32))
            chans = {n: np.ascontiguousarray(c[100:164, 200:296]) for n, c in part.channels.items()}
            parts.append(ExrPart(name=part.name, channels=chans, header=header, linear=set(part.linear)))
        dest = work / "small" / f"shot.{frame}.exr"
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_exr(dest, ExrImage(parts=parts))


def normalised_sha256(path: Path, work: Path) -> str:
    data = path.read_bytes()
    if path.suffix.lower() in TEXT_SUFFIXES:
        from framefill._version import __version__

        text = data.decode("utf-8", errors="replace")
        for root in (str(work.resolve()), str(work)):
            text = text.replace(root, "<WORK>")
        text = text.replace(str(SAMPLE.resolve()), "<SAMPLE>").replace(str(SAMPLE), "<SAMPLE>")
        text = text.replace(str(REPO.resolve()), "<REPO>").replace(str(REPO), "<REPO>")
        text = text.replace(__version__, "<placeholder-version>")
        text = "\n".join(line for line in text.splitlines() if not _VOLATILE.search(line))
        data = text.encode()
    return hashlib.sha256(data).hexdigest()


def hash_tree(folder: Path, work: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): normalised_sha256(p, work)
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def run_case(case: Case, work: Path, framefill: list[str]) -> dict[str, str]:
    args = [a.replace("{sample}", str(SAMPLE)) for a in case.args]
    env = {**os.environ, "FRAMEFILL_THREADS": "1"}
    proc = subprocess.run([*framefill, *args], cwd=work, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{case.name}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return hash_tree(work / case.writes, work)


def run_cases(work: Path, selected: list[Case], framefill: list[str] | None = None) -> dict[str, dict[str, str]]:
    framefill = framefill or [sys.executable, "-m", "framefill"]
    if any("truth/shot.####.exr" in c.args for c in selected):
        shutil.copytree(SAMPLE, work / "truth")
    if any(c.args[1].startswith("small/") for c in selected if c.args[0] == "upscale"):
        make_small_input(work)
    return {case.name: run_case(case, work, framefill) for case in selected}


def environment() -> dict[str, str]:
    """What the bytes depend on besides framefill: float kernels differ between library builds and CPU kinds.

    The CPU is named by its model and by the instruction sets oneDNN and OpenCV pick kernels by
    (torch's own capability, "AVX512", does not tell two such CPUs apart; their convolutions round
    differently)."""
    import cv2
    import numpy
    import OpenEXR
    import torch

    return {"torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability(), **_cpu_kind(),
            "numpy": numpy.__version__, "opencv": cv2.__version__, "openexr": OpenEXR.__version__}


def _cpu_kind() -> dict[str, str]:
    """The CPU's model name and a short digest of its vector instruction sets (Linux; else the platform's)."""
    import platform

    model, flags = platform.processor() or platform.machine(), ""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        info = ""
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == (platform.processor() or platform.machine()):
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            vector = sorted(f for f in value.split() if f.startswith(("avx", "amx", "fma", "f16c", "sse", "vnni")))
            flags = hashlib.sha256(" ".join(vector).encode()).hexdigest()[:12]
    return {"cpu_model": model, "cpu_isa": flags}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", type=Path, help="write the hashes here")
    parser.add_argument("--work", type=Path, default=Path("/tmp/framefill-golden"))
    parser.add_argument("--full", action="store_true", help="upscale the full-size sample frames too")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    doc: dict[str, object] = {"environment": environment(),
                              "small": run_cases(args.work, cases(small_upscale=True))}
    if args.full:
        full = [c for c in cases(small_upscale=False) if c.name.startswith("upscale-")]
        (args.work / "full").mkdir()
        doc["full"] = run_cases(args.work / "full", full)
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
