"""Region re-render vs full-frame re-render of the frames QC lists, in real Blender (bpy).

    python bench/region_rerender.py [--scenes local,whip] [--res 192x108] [--samples 8] [--frames 1001-1013]
                                    [--every 2] [--threshold 30] [--work DIR] [--json]

Scenes (built here with bench/scenes' Builder, Cycles CPU):

* ``local``: a static camera on a checker floor and noise wall; a small checkered cube crosses the
  frame fast and spins (the error is where the cube is);
* ``whip``: the same set with the cube still and the camera panning 70 degrees in 12 frames (the whole
  frame moves).

Per scene, in one Blender session: the full render of every frame (plain Blender, timed per frame: the
ground truth and the price of a full-frame re-render), then the extension's Render Sparse + Fill with
re-render on and "Only the Regions" on (render every Nth, fill, qc, render QC's regions with a render
border, patch). Prints, per scene: the listed frames, how many went as regions or whole frames, the
pixels and Blender seconds of the region renders against full-frame re-renders of the same frames (the
full-render seconds of those frames, measured in the same run), and the PSNR of every final frame
against the full render (minimum, and whether all are >= --threshold).
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
SCENES_DIR = REPO / "bench" / "scenes"


def build(kind: str, blend: Path, res: tuple[int, int], samples: int, frames: tuple[int, int]) -> Path:
    import bpy
    from catalog import FrameRange
    from scene_lib import Builder, Pose

    first, last = frames
    shot = FrameRange(first, last)
    b = Builder(name=f"ff_region_{kind}", res=res, samples=samples, seed=0, shot=shot)
    b.sun(rotation_deg=(50, 10, 35), strength=3.5)
    b.add(b.mesh("plane", size=40.0), b.checker((0.6, 0.5, 0.4), (0.3, 0.25, 0.2), scale=1.0), name="floor")
    b.add(b.mesh("plane", size=(40.0, 12.0)), b.noise((0.4, 0.5, 0.6), (0.16, 0.2, 0.27), scale=0.5),
          name="wall", location=(0, 8, 5), rotation_deg=(90, 0, 0))
    cube = b.add(b.mesh("cube", size=0.8), b.checker((0.9, 0.75, 0.2), (0.15, 0.3, 0.6), scale=2.5), name="cube")
    cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    b.scene.collection.objects.link(cam)
    b.scene.camera = cam
    if kind == "local":  # fast, spinning object over a still set
        b.animate(cube, lambda f: Pose(location=(-2.5 + 5 * shot.t(f), 1.5, 0.6),
                                       rotation_deg=(0, 0, 200 * shot.t(f))))
        b.animate(cam, lambda f: Pose(location=(0, -7, 2.5), look_at=(0, 2, 0.8)))
    else:  # whip pan: the camera turns, everything moves
        b.animate(cube, lambda f: Pose(location=(0, 1.5, 0.6)))
        b.animate(cam, lambda f: Pose(location=(0, -7, 2.5), rotation_deg=(75, 0, -35 + 70 * shot.t(f))))
    scene = b.scene
    scene.frame_start, scene.frame_end = first, last
    scene.frame_set(first)
    image = scene.render.image_settings
    if hasattr(image, "media_type"):
        image.media_type = "MULTI_LAYER_IMAGE"
    image.file_format = "OPEN_EXR_MULTILAYER"
    image.color_depth = "16"
    image.exr_codec = "ZIP"
    scene.render.filepath = "//render/shot_####"
    scene.render.use_file_extension = True
    blend.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    return blend


def full_render(out: Path) -> dict[int, tuple[Path, float]]:
    """Every frame, plain Blender, timed: frame -> (file, seconds)."""
    import bpy

    scene = bpy.context.scene
    out.mkdir(parents=True, exist_ok=True)
    done = {}
    for f in range(scene.frame_start, scene.frame_end + 1):
        path = out / f"shot_{f:04d}.exr"
        scene.render.filepath = str(path)
        scene.frame_set(f)
        t0 = time.perf_counter()
        bpy.ops.render.render(write_still=True)
        done[f] = (path, time.perf_counter() - t0)
    return done


def psnr_db(a: Path, b: Path) -> float:
    from framefill.frames import read_exr
    from framefill.ops.metrics import display_proxy, psnr
    from framefill.pipeline.qc import beauty_rgb

    x, y = (display_proxy(beauty_rgb(read_exr(p))[0]) for p in (a, b))
    return math.inf if (x == y).all() else float(psnr(x, y))


def run_scene(kind: str, blend: Path, args: argparse.Namespace, work: Path, say) -> dict:
    import bpy
    from blender_env import configure_preferences

    res = tuple(int(v) for v in args.res.split("x"))
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    say(f"{kind}: full render {args.frames} at {args.res}, {args.samples} spp")
    truth = full_render(work / kind / "truth")
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    configure_preferences(device="cpu")
    ff = bpy.context.scene.framefill
    ff.every, ff.qc_threshold, ff.rerender, ff.rerender_regions = args.every, args.threshold, True, True
    say(f"{kind}: Render Sparse + Fill, regions on")
    if bpy.ops.framefill.render_sparse() != {"FINISHED"}:
        raise SystemExit(f"{kind}: Render Sparse + Fill did not finish")
    report = json.loads(bpy.context.scene.framefill.last_report)
    out = blend.parent / "render"
    final = {f: psnr_db(out / f"shot_{f:04d}.exr", p) for f, (p, _) in sorted(truth.items())}
    listed = report["flagged_frames"]
    patched = report["patched_frames"]
    whole = [f for f in listed if f not in patched]
    frame_px = res[0] * res[1]
    region_px = report["region_pixels"] + len(whole) * frame_px
    full_px = len(listed) * frame_px
    full_s = sum(truth[f][1] for f in listed)
    whole_s = sum(truth[f][1] for f in whole)  # a whole-frame re-render costs what its full render did
    region_s = report["region_seconds"] + whole_s
    return {
        "scene": kind, "res": args.res, "samples": args.samples, "frames": args.frames, "every": args.every,
        "listed": listed, "as_regions": patched, "as_whole_frames": whole,
        "region_renders": report["region_renders"],
        "rerender_pixels_regions": region_px, "rerender_pixels_full_frames": full_px,
        "pixel_ratio": round(region_px / full_px, 3) if full_px else None,
        "rerender_seconds_regions": round(region_s, 2), "rerender_seconds_full_frames": round(full_s, 2),
        "seconds_ratio": round(region_s / full_s, 3) if full_s else None,
        "full_render_seconds_per_frame": round(sum(s for _, s in truth.values()) / len(truth), 3),
        "final_psnr_db": {str(f): (None if math.isinf(v) else round(v, 2)) for f, v in final.items()},
        # None: every final frame is bit-identical to the full render (JSON has no Infinity)
        "min_final_psnr_db": None if math.isinf(min(final.values())) else round(min(final.values()), 2),
        "all_at_or_above_threshold": all(v >= args.threshold for v in final.values()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", default="local,whip", help="comma list of local, whip (default: both)")
    ap.add_argument("--res", default="192x108", help="render resolution WxH (default: 192x108)")
    ap.add_argument("--samples", type=int, default=8, help="Cycles samples per pixel (default: 8)")
    ap.add_argument("--frames", default="1001-1013", help="the shot's frames FIRST-LAST (default: 1001-1013)")
    ap.add_argument("--every", type=int, default=2, help="render every Nth frame first (default: 2)")
    ap.add_argument("--threshold", type=float, default=30.0, help="QC threshold in dB (default: 30)")
    ap.add_argument("--work", type=Path, help="keep the scenes and renders here (default: a temporary folder)")
    ap.add_argument("--json", action="store_true", help="print one JSON document on stdout (progress on stderr)")
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="ff-region-bench-"))
    os.environ.setdefault("BLENDER_USER_RESOURCES", str(work / "blender_user"))
    for folder in (TEST_DIR, PLUGIN_DIR, SCENES_DIR):
        sys.path.insert(0, str(folder))

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    json_out = None
    if args.json:
        # stdout is kept for the JSON document alone: fd 1 points at stderr for the rest of the process, so
        # Blender's C-level output (buffered, flushed as late as exit) can never land in it.
        sys.stdout.flush()
        json_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)
    import bpy
    import build_extension
    from blender_env import REPO_MODULE

    zip_path = build_extension.build(out_dir=work / "dist", stage_dir=work / "stage" / "framefill")
    results = []
    res = tuple(int(v) for v in args.res.split("x"))
    frames = tuple(int(v) for v in args.frames.split("-"))
    try:
        # building a scene resets Blender (add-ons off): build them all, then install, as the tests do
        blends = {kind: build(kind, work / kind / "scene.blend", res, args.samples, frames)  # type: ignore[arg-type]
                  for kind in args.scenes.split(",")}
        (work / "repo").mkdir(exist_ok=True)
        bpy.context.preferences.extensions.repos.new(name=REPO_MODULE, module=REPO_MODULE,
                                                     custom_directory=str(work / "repo"), source="USER")
        from bl_pkg import bl_extension_cli

        bl_extension_cli.cli_extension_handler(["install-file", "-r", REPO_MODULE, "--enable", "--no-prefs",
                                                str(zip_path)])
        for kind, blend in blends.items():
            results.append(run_scene(kind, blend, args, work, say))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if json_out is not None:
        json_out.write(json.dumps(results, indent=1) + "\n")
        json_out.close()
    else:
        for r in results:
            print(f"{r['scene']}: listed {r['listed']} ({len(r['as_regions'])} as regions, "
                  f"{len(r['as_whole_frames'])} whole); pixels {r['rerender_pixels_regions']} vs "
                  f"{r['rerender_pixels_full_frames']} full-frame ({r['pixel_ratio']}); Blender seconds "
                  f"{r['rerender_seconds_regions']} vs {r['rerender_seconds_full_frames']} ({r['seconds_ratio']}); "
                  f"min final PSNR {r['min_final_psnr_db']} dB, all >= threshold: {r['all_at_or_above_threshold']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
