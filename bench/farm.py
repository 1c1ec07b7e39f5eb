"""Farm-layer overheads: what OpenJD chunking costs compared with running the CLI directly.

    PYTHONPATH=core .venv/bin/python bench/farm.py [--frames 9] [--chunk-size 3] [--model flow] [--out bench_out]

Measures on this machine, on a synthetic 96x64 EXR shot with every other frame
missing (or --keys PATTERN for a real one):
  - make_bundle: time to render, validate and write a fill bundle;
  - direct: `framefill interpolate` over the whole range, one process;
  - run-local --workers 1 and 2: the fill template through `openjd run`.
All runs must produce byte-identical frames; the script fails otherwise.
Prints one JSON document (seconds, per-task overhead, identical: true/false).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "core"))

from framefill.farm import make_bundle  # noqa: E402
from framefill.farm.templates import parse_frames  # noqa: E402


def synthetic_shot(folder: Path, frames: int) -> str:
    import OpenEXR

    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:64, 0:96].astype(np.float32)
    for f in range(1, frames + 1, 2):
        blob = np.exp(-((x - 20 - 3 * f) ** 2 + (y - 32) ** 2) / 80.0)
        rgb = np.stack([0.2 + blob, 0.3 + 0.5 * y / 64, 0.1 + 0.3 * blob], -1).astype(np.float32)
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, {"RGB": rgb}).write(str(folder / f"shot.{f:04d}.exr"))
    return str(folder / "shot.####.exr")


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=9, help="frames in the synthetic shot (odd: first and last rendered)")
    ap.add_argument("--keys", help="a real sparse sequence instead of the synthetic one")
    ap.add_argument("--range", dest="frame_range", help="with --keys: the output frames")
    ap.add_argument("--chunk-size", type=int, default=3)
    ap.add_argument("--model", default="flow")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", help="keep the outputs here (default: a temporary folder)")
    args = ap.parse_args()

    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="framefill-bench-farm-"))
    work.mkdir(parents=True, exist_ok=True)
    keys = args.keys or synthetic_shot(work / "keys", args.frames)
    frame_range = args.frame_range or f"1-{args.frames}"
    n_frames = len(parse_frames(frame_range))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "core"), os.environ.get("PYTHONPATH", "")])}
    ff = [sys.executable, "-m", "framefill"]

    t0 = time.perf_counter()
    for i in range(20):
        make_bundle("fill", out_dir=work / f"b{i % 2}", input_pattern=keys,
                    output_pattern=str(work / "x" / "shot.####.exr"), frames=frame_range)
    bundle_ms = (time.perf_counter() - t0) / 20 * 1000

    results: dict[str, float] = {}
    outs: dict[str, Path] = {}
    outs["direct"] = work / "direct"
    results["direct"] = timed([*ff, "interpolate", keys, "--out", str(outs["direct"] / "shot.####.exr"), "--frames",
                               frame_range, "--model", args.model, "--device", args.device, "--quiet"], env)
    n_chunks = 0
    for workers in (1, 2):
        name = f"run_local_w{workers}"
        outs[name] = work / name
        bundle = make_bundle("fill", out_dir=work / f"bundle_{name}", input_pattern=keys,
                             output_pattern=str(outs[name] / "shot.####.exr"), frames=frame_range,
                             chunk_size=args.chunk_size, model=args.model, params={"Device": args.device})
        results[name] = timed([*ff, "farm", "run-local", str(bundle), "--workers", str(workers), "--quiet"], env)
        n_chunks = -(-n_frames // args.chunk_size)

    names = sorted(p.name for p in outs["direct"].glob("shot.*.exr"))
    identical = all(
        filecmp.cmp(outs["direct"] / n, outs[k] / n, shallow=False) for k in outs if k != "direct" for n in names
    )
    report = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "frames": n_frames, "chunk_size": args.chunk_size, "chunks": n_chunks, "model": args.model,
        "device": args.device,
        "make_bundle_ms": round(bundle_ms, 1),
        "seconds": {k: round(v, 2) for k, v in results.items()},
        # One openjd session (step environment + chunk tasks) against one direct process.
        "overhead_per_chunk_s": round((results["run_local_w1"] - results["direct"]) / max(n_chunks, 1), 2),
        "identical": identical,
    }
    print(json.dumps(report, indent=2))
    if not args.out:
        shutil.rmtree(work, ignore_errors=True)
    if not identical:
        raise SystemExit("farm outputs differ from the direct CLI run")


if __name__ == "__main__":
    main()
