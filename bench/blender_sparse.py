"""Full render vs Render sparse + fill + re-render, in real Blender (bpy), on the extension's test scene.

    python bench/blender_sparse.py [--res 96x54] [--samples 8] [--frames 1001-1013] [--every 2]
                                   [--threshold 30] [--model rife-4] [--device cpu] [--work DIR] [--json]

Builds the Blender extension zip with `blender --command extension build` (via bpy), builds the test scene of
tests/host/blender/blender_scene.py, installs the extension into a throw-away
repository, then measures in one Blender session:

1. full: every frame rendered by Blender (plain still renders, frame by frame);
2. sparse: the extension's Render Sparse + Fill operator with re-render on, from
   an empty output folder: render every Nth frame, fill (framefill CLI), QC,
   re-render the flagged frames, copy them in.

Prints both wall times and their ratio (sparse / full), the operator's stage
times, the counts, and the PSNR of every final frame against the full render.
framefill runs out of process from this Python (as it would from a configured
interpreter in a real Blender). Needs bpy; CPU only unless --device says so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_DIR = REPO / "tests" / "host" / "blender"
PLUGIN_DIR = REPO / "plugins" / "blender"


def _parse_pair(text: str, sep: str) -> tuple[int, int]:
    a, _, b = text.partition(sep)
    return int(a), int(b)


def _psnr_db(a: Path, b: Path) -> float:
    import numpy as np
    from framefill.frames import read_exr
    from framefill.ops.metrics import display_proxy, psnr
    from framefill.pipeline.qc import beauty_rgb

    x, _ = beauty_rgb(read_exr(a))
    y, _ = beauty_rgb(read_exr(b))
    return math.inf if np.array_equal(x, y) else psnr(display_proxy(x), display_proxy(y))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--res", default="96x54", help="WIDTHxHEIGHT (default: the test scene's 96x54)")
    ap.add_argument("--samples", type=int, default=8, help="Cycles samples (default 8, the test scene's)")
    ap.add_argument("--frames", default="1001-1013", help="FIRST-LAST (default 1001-1013)")
    ap.add_argument("--every", type=int, default=2, help="render every Nth frame (default 2)")
    ap.add_argument("--threshold", type=float, default=30.0, help="QC threshold in dB (default 30)")
    ap.add_argument("--model", default="rife-4", help="fill model (default rife-4)")
    ap.add_argument("--device", default="cpu", help="framefill device (default cpu)")
    ap.add_argument("--work", type=Path, help="work folder (default: a temporary one, removed after)")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="ff-blender-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("BLENDER_USER_RESOURCES", str(work / "blender_user"))
    for folder in (TEST_DIR, PLUGIN_DIR):
        sys.path.insert(0, str(folder))
    import bpy
    import build_extension
    from blender_env import EXTENSION_MODULE, REPO_MODULE, configure_preferences
    from blender_scene import SceneSpec, build_scene, render_all

    try:
        zip_path = build_extension.build(out_dir=work / "dist", stage_dir=work / "stage" / "framefill")
        spec = SceneSpec(res=_parse_pair(args.res, "x"), samples=args.samples, frames=_parse_pair(args.frames, "-"))
        blend = build_scene(work / "shot" / "scene.blend", spec)
        repos = bpy.context.preferences.extensions.repos
        (work / "repo").mkdir(exist_ok=True)
        repos.new(name=REPO_MODULE, module=REPO_MODULE, custom_directory=str(work / "repo"), source="USER")
        from bl_pkg import (
            bl_extension_cli,  # `blender --command extension install-file`
        )

        bl_extension_cli.cli_extension_handler(["install-file", "-r", REPO_MODULE, "--enable", "--no-prefs",
                                                str(zip_path)])
        configure_preferences(device=args.device)

        bpy.ops.wm.open_mainfile(filepath=str(blend))
        t0 = time.perf_counter()
        truth = render_all(work / "full")
        full_s = time.perf_counter() - t0

        bpy.ops.wm.open_mainfile(filepath=str(blend))
        configure_preferences(device=args.device)
        ff = bpy.context.scene.framefill
        ff.every, ff.model, ff.qc_threshold, ff.rerender = args.every, args.model, args.threshold, True
        out_dir = blend.parent / "render"
        shutil.rmtree(out_dir, ignore_errors=True)
        t0 = time.perf_counter()
        result = bpy.ops.framefill.render_sparse()
        sparse_s = time.perf_counter() - t0
        if result != {"FINISHED"}:
            print("error: Render Sparse + Fill did not finish", file=sys.stderr)
            return 1
        report = json.loads(bpy.context.scene.framefill.last_report)
        final = {f: _psnr_db(out_dir / f"shot_{f:04d}.exr", path) for f, path in sorted(truth.items())}
        bpy.ops.preferences.addon_disable(module=EXTENSION_MODULE)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    finite = [v for v in final.values() if math.isfinite(v)]
    doc = {
        "scene": {"res": args.res, "samples": args.samples, "frames": args.frames, "every": args.every,
                  "blender": bpy.app.version_string, "device": args.device, "model": args.model,
                  "threshold_db": args.threshold},
        "full_render_s": round(full_s, 2),
        "full_render_s_per_frame": round(full_s / len(truth), 3),
        "sparse_fill_rerender_s": round(sparse_s, 2),
        "ratio_sparse_over_full": round(sparse_s / full_s, 3),
        "stage_seconds": report["stage_seconds"],
        "rendered": report["rendered"], "filled": report["filled"], "rerendered": report["rerendered"],
        "flagged": report["flagged_frames"],
        "final_min_psnr_db": round(min(finite), 2) if finite else None,
        "final_psnr_db": {str(f): (round(v, 2) if math.isfinite(v) else "identical") for f, v in final.items()},
    }
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"scene {args.res} {args.samples} spp frames {args.frames}, every {args.every}, {args.device}, "
              f"Blender {doc['scene']['blender']}")
        print(f"full render:                 {full_s:7.2f} s ({doc['full_render_s_per_frame']:.3f} s/frame)")
        print(f"sparse + fill + re-render:   {sparse_s:7.2f} s  ({report['rendered']} rendered, {report['filled']} "
              f"filled, {report['rerendered']} re-rendered)")
        print(f"ratio (sparse / full):       {sparse_s / full_s:7.3f}")
        print("stages (s):", ", ".join(f"{k} {v:.2f}" for k, v in report["stage_seconds"].items()))
        print(f"final frames vs full render: min {doc['final_min_psnr_db']} dB over filled frames; "
              f"{sum(1 for v in final.values() if not math.isfinite(v))} bit-identical renders")
    return 0


if __name__ == "__main__":
    sys.exit(main())
