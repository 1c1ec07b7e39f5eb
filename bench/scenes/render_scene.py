"""Render one of framefill's procedural scenes to half-float multi-pass EXRs (bpy 5.0.1, Cycles CPU).

    python bench/scenes/render_scene.py NAME --out DIR [--res 320x180] [--frames 1001-1032]
                                        [--samples 16] [--seed 0] [--compression zip]
                                        [--prefix NAME] [--skip-existing] [--verbose]
    python bench/scenes/render_scene.py --list

Writes DIR/PREFIX.####.exr (PREFIX defaults to NAME): one single-part scanline EXR per frame
with channels R G B A (beauty), depth.Z, N.X N.Y N.Z, IndexOB.X, all HALF (see exr_io.py).
Each frame is written atomically. Deterministic: fixed Cycles seed and sample count, no animated
seed, and the two sources of run-to-run noise in bpy 5.0.1 avoided (see scene_lib.py); the
scene is built from scratch each time (no .blend files, no downloads).
Bench tooling: needs a Python that can `import bpy`; does not import framefill.
Exit codes: 0 done, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # catalog, scene_lib, ... live beside this file

from catalog import SCENE_DEFAULTS, FrameRange, SceneScriptError, parse_res  # noqa: E402
from exr_io import COMPRESSIONS  # noqa: E402
from scene_lib import Builder, FrameTiming, render_frames  # noqa: E402
from scenes import BUILDERS  # noqa: E402


def render(name: str, out_dir: str | Path, *, res: str | tuple[int, int] | None = None,
           frames: str | tuple[int, int] | None = None, samples: int | None = None, seed: int = 0,
           compression: str | None = None, prefix: str | None = None, skip_existing: bool = False,
           quiet: bool = True, on_frame: Callable[[FrameTiming], None] | None = None) -> list[FrameTiming]:
    """Build scene `name` from scratch and render its frames to `out_dir/<prefix>.####.exr`.

    The motion always spans the scene's own shot range (catalog.py); `frames` picks which frames
    to render (default: the whole shot), so frame N is the same in any subset. res, samples and
    compression default to the scene's own (QC scenes: 320x180, 16 spp, zip; shot 1001-1032).
    Returns the timings of the frames rendered.
    Raises SceneScriptError for an unknown scene or bad settings.
    """
    if name not in SCENE_DEFAULTS:
        raise SceneScriptError(f"unknown scene {name!r}; choose one of {', '.join(SCENE_DEFAULTS)}")
    spec = SCENE_DEFAULTS[name]
    shot = FrameRange.parse(spec.frames)
    fr = FrameRange.parse(frames if frames is not None else shot)
    wh = parse_res(res if res is not None else spec.res)
    spp = int(samples if samples is not None else spec.samples)
    if spp < 1:
        raise SceneScriptError(f"samples must be >= 1, got {spp}")
    comp = compression or spec.compression
    if comp not in COMPRESSIONS:
        raise SceneScriptError(f"unknown compression {comp!r}; use one of {', '.join(COMPRESSIONS)}")
    b = Builder(name=name, res=wh, samples=spp, seed=seed, shot=shot, extra=fr)
    BUILDERS[name](b)
    return render_frames(b, Path(out_dir), prefix=prefix or name, compression=comp, frames=fr.frames,
                         skip_existing=skip_existing, quiet=quiet, on_frame=on_frame)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", nargs="?", help="scene name (see --list)")
    ap.add_argument("--out", type=Path, help="output folder")
    ap.add_argument("--res", help="WIDTHxHEIGHT (default: the scene's)")
    ap.add_argument("--frames", help="FIRST-LAST frames to render (default: the scene's shot; the motion "
                                     "always spans the shot, so any subset matches the full render)")
    ap.add_argument("--samples", type=int, help="Cycles samples per pixel (default: the scene's)")
    ap.add_argument("--seed", type=int, default=0, help="Cycles seed (default 0)")
    ap.add_argument("--compression", help=f"{'|'.join(COMPRESSIONS)} (default: the scene's)")
    ap.add_argument("--prefix", help="file name prefix (default: the scene name)")
    ap.add_argument("--skip-existing", action="store_true", help="keep frames already in --out")
    ap.add_argument("--verbose", action="store_true", help="keep Blender's own render log")
    ap.add_argument("--list", action="store_true", help="list the scenes and exit")
    args = ap.parse_args(argv)
    if args.list:
        for s in SCENE_DEFAULTS.values():
            print(f"{s.name:16s} {s.res[0]}x{s.res[1]} {s.frames[0]}-{s.frames[1]} {s.samples:3d} spp "
                  f"{s.compression:5s} {s.description}")
        return 0
    if not args.name or args.out is None:
        ap.error("NAME and --out are required (or --list)")

    def report(t: FrameTiming) -> None:
        print(f"frame {t.frame}: {t.seconds:.2f} s wall, {t.cpu_seconds:.2f} s CPU, {t.bytes / 1024:.0f} KiB",
              file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    try:
        timings = render(args.name, args.out, res=args.res, frames=args.frames, samples=args.samples,
                         seed=args.seed, compression=args.compression, prefix=args.prefix,
                         skip_existing=args.skip_existing, quiet=not args.verbose, on_frame=report)
    except SceneScriptError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if timings:
        n = len(timings)
        print(f"{args.name}: {n} frames in {time.perf_counter() - t0:.1f} s "
              f"({sum(t.seconds for t in timings) / n:.2f} s wall, {sum(t.cpu_seconds for t in timings) / n:.2f} s CPU "
              f"per frame, render+write), {sum(t.bytes for t in timings) / 1e6:.2f} MB -> {args.out}", file=sys.stderr)
    else:
        print(f"{args.name}: nothing to render, every frame already in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
