"""Full render vs Render sparse + fill + re-render, in real Blender (bpy), on the extension's test scene.

    python bench/blender_sparse.py [--scene test|heavy] [--res WxH] [--samples N] [--frames FIRST-LAST]
                                   [--every 2] [--threads N] [--threshold 30] [--model rife-4] [--device cpu]
                                   [--cache-dir DIR | --no-cache] [--work DIR] [--json]

Scenes (--scene):

* ``test`` (default): tests/host/blender/blender_scene.py's scene, 96x54, 8 spp,
  frames 1001-1013 (~0.5 s a frame): a quick check that the path works.
* ``heavy``: bench/heavy_scene.py, the same layout and motion with a glossy
  floor, a glass and a chrome ball, an area light, deep light paths and the
  denoiser, 640x360, 40 spp, frames 1001-1025: ~25 s a frame on one core of a
  2-core Xeon (27.3 s measured for frame 1013 with --threads 1 on a loaded
  machine). This is the scene where the sparse path is meant to win:

      python bench/blender_sparse.py --scene heavy --threads 1

--res, --samples and --frames override the chosen scene's defaults (e.g.
``--scene heavy --res 160x90 --samples 1`` to try the heavy scene quickly).
--threads sets Blender's render threads for both passes (0, the default:
Blender's automatic count).

Builds the Blender extension zip with `blender --command extension build` (via bpy),
builds the scene, installs the extension into a throw-away repository, then
measures in one Blender session:

1. full: every frame rendered by Blender (plain still renders, frame by frame).
   The frames and their measured wall times are cached under --cache-dir
   (default ~/.cache/framefill/blender_sparse/<key>/, key = sha256 of the scene
   settings, thread count, CPU, Blender version and scene scripts): a later run
   with the same settings reuses the frames and the recorded full-render time
   instead of rendering again, and an interrupted full render resumes. The
   full-render time is the sum of the per-frame wall times. --no-cache renders
   the full pass into the work folder and keeps nothing.
2. sparse: the extension's Render Sparse + Fill operator with re-render on, from
   an empty output folder (always fresh): render every Nth frame, fill
   (framefill CLI), QC, re-render the flagged frames, copy them in.

Prints both wall times and their ratio (sparse / full), whether the full render
came from the cache, the operator's stage times, the counts (rendered, filled,
accepted by QC, re-rendered), and the PSNR of every final frame against the
full render ("identical" for bit-identical real renders), the minimum, and
whether every final frame is at or above --threshold. With --json, stdout
carries only the JSON document (progress and Blender's output go to stderr).
Exit code 0 when both passes ran (whatever the PSNRs), 1 when the operator did
not finish.
framefill runs out of process from this Python (as it would from a configured
interpreter in a real Blender). Needs bpy; CPU only unless --device says so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "bench"
sys.path.insert(0, str(BENCH_DIR))

from machine import cpu_model  # noqa: E402
TEST_DIR = REPO / "tests" / "host" / "blender"
PLUGIN_DIR = REPO / "plugins" / "blender"
SCENE_DEFAULTS = {  # res, samples, frames
    "test": ("96x54", 8, "1001-1013"),
    "heavy": ("640x360", 40, "1001-1025"),
}
# The files whose content decides the full render's pixels; the cache key hashes them.
SCENE_SCRIPTS = {
    "test": (TEST_DIR / "blender_scene.py",),
    "heavy": (BENCH_DIR / "heavy_scene.py",),
}
COMMON_SCRIPTS = (BENCH_DIR / "scenes" / "scene_lib.py", BENCH_DIR / "scenes" / "catalog.py")
CACHE_VERSION = 1
STAGE_ORDER = ("render", "fill", "qc", "re-render", "copy re-renders", "upscale")  # the operator's order


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


def _cache_settings(scene: str, res: str, samples: int, frames: str, threads: int, blender: str) -> dict:
    """Everything the full render's pixels and time depend on (the cache key is their hash)."""
    h = hashlib.sha256()
    for path in (*SCENE_SCRIPTS[scene], *COMMON_SCRIPTS):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return {"version": CACHE_VERSION, "scene": scene, "res": res, "samples": samples, "frames": frames,
            "threads": threads, "blender": blender, "cpu": cpu_model(), "cpu_count": os.cpu_count(),
            "scripts_sha256": h.hexdigest()[:16]}


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)


def _full_render(out_dir: Path, record: Path | None, settings: dict,
                 say: Callable[[str], None]) -> tuple[dict[int, Path], dict]:
    """Render every frame of the open scene into ``out_dir/shot_NNNN.exr`` (the ground truth).

    Plain Blender still renders, frame by frame, exactly as an artist's full
    render would be made (tests/host/blender/blender_scene.py's render_all),
    each frame timed. With ``record`` (the cache's JSON) frames already
    recorded there are reused, and the record is updated after every frame, so
    a complete record means the whole render is cached.
    """
    import bpy

    scene = bpy.context.scene
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {"settings": settings, "per_frame_s": {}, "complete": False}
    if record is not None and record.is_file():
        old = json.loads(record.read_text())
        if old.get("settings") == settings:
            doc = old
    frames = range(scene.frame_start, scene.frame_end + 1)
    files = {f: out_dir / f"shot_{f:04d}.exr" for f in frames}
    per_frame = {int(k): v for k, v in doc["per_frame_s"].items() if files.get(int(k), Path()).is_file()}
    todo = [f for f in frames if f not in per_frame]
    if not todo and doc.get("complete"):
        return files, doc
    if per_frame:
        say(f"full render: resuming, {len(per_frame)} of {len(files)} frames already cached")
    saved = scene.render.filepath
    try:
        for i, frame in enumerate(todo):
            partial = out_dir / f"shot_{frame:04d}.partial.exr"
            scene.render.filepath = str(partial)
            t0 = time.perf_counter()
            scene.frame_set(frame)
            bpy.ops.render.render(write_still=True)
            os.replace(partial, files[frame])
            per_frame[frame] = time.perf_counter() - t0
            say(f"full render: frame {frame} in {per_frame[frame]:.2f} s ({i + 1} of {len(todo)})")
            doc["per_frame_s"] = {str(f): round(per_frame[f], 4) for f in sorted(per_frame)}
            if record is not None:
                _write_json(record, doc)
    finally:
        scene.render.filepath = saved
        scene.frame_set(scene.frame_start)
    doc["total_s"] = round(sum(per_frame.values()), 4)
    doc["complete"] = True
    doc["rendered_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if record is not None:
        _write_json(record, doc)
    return files, doc


def _set_threads(threads: int) -> None:
    import bpy

    r = bpy.context.scene.render
    r.threads_mode = "FIXED" if threads > 0 else "AUTO"
    if threads > 0:
        r.threads = threads


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scene", choices=sorted(SCENE_DEFAULTS), default="test",
                    help="test: the extension tests' scene (default); heavy: bench/heavy_scene.py (~25 s a frame)")
    ap.add_argument("--res", help="WIDTHxHEIGHT (default: the scene's, test 96x54, heavy 640x360)")
    ap.add_argument("--samples", type=int, help="Cycles samples (default: the scene's, test 8, heavy 40)")
    ap.add_argument("--frames", help="FIRST-LAST (default: the scene's, test 1001-1013, heavy 1001-1025)")
    ap.add_argument("--every", type=int, default=2, help="render every Nth frame (default 2)")
    ap.add_argument("--threads", type=int, default=0,
                    help="Blender render threads for both passes (default 0: Blender's automatic count)")
    ap.add_argument("--threshold", type=float, default=30.0, help="QC threshold in dB (default 30)")
    ap.add_argument("--model", default="rife-4", help="fill model (default rife-4)")
    ap.add_argument("--device", default="cpu", help="framefill device (default cpu)")
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "framefill" / "blender_sparse",
                    help="where the full render is cached (default ~/.cache/framefill/blender_sparse)")
    ap.add_argument("--no-cache", action="store_true", help="render the full pass every time and cache nothing")
    ap.add_argument("--work", type=Path, help="work folder (default: a temporary one, removed after)")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args(argv)
    res_default, samples_default, frames_default = SCENE_DEFAULTS[args.scene]
    res, samples, frame_text = args.res or res_default, args.samples or samples_default, args.frames or frames_default
    if args.every < 1 or args.threads < 0:
        ap.error("--every must be >= 1 and --threads >= 0")

    def say(text: str) -> None:
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)

    if args.json:  # keep stdout for the JSON document: Blender's and framefill's chatter goes to stderr
        sys.stdout.flush()
        stdout_fd = os.dup(1)
        os.dup2(2, 1)

    work = args.work or Path(tempfile.mkdtemp(prefix="ff-blender-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("BLENDER_USER_RESOURCES", str(work / "blender_user"))
    for folder in (TEST_DIR, PLUGIN_DIR, BENCH_DIR):
        sys.path.insert(0, str(folder))
    import bpy
    import build_extension
    from blender_env import EXTENSION_MODULE, REPO_MODULE, configure_preferences

    settings = _cache_settings(args.scene, res, samples, frame_text, args.threads, bpy.app.version_string)
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    cache = None if args.no_cache else args.cache_dir.expanduser() / key
    try:
        zip_path = build_extension.build(out_dir=work / "dist", stage_dir=work / "stage" / "framefill")
        if args.scene == "heavy":
            from heavy_scene import HeavySpec, build_heavy_scene

            blend = build_heavy_scene(work / "shot" / "scene.blend",
                                      HeavySpec(res=_parse_pair(res, "x"), samples=samples,
                                                frames=_parse_pair(frame_text, "-")))
        else:
            from blender_scene import SceneSpec, build_scene

            blend = build_scene(work / "shot" / "scene.blend",
                                SceneSpec(res=_parse_pair(res, "x"), samples=samples,
                                          frames=_parse_pair(frame_text, "-")))
        bpy.ops.wm.open_mainfile(filepath=str(blend))
        _set_threads(args.threads)
        bpy.ops.wm.save_mainfile(filepath=str(blend))
        repos = bpy.context.preferences.extensions.repos
        (work / "repo").mkdir(exist_ok=True)
        repos.new(name=REPO_MODULE, module=REPO_MODULE, custom_directory=str(work / "repo"), source="USER")
        from bl_pkg import (
            bl_extension_cli,  # `blender --command extension install-file`
        )

        bl_extension_cli.cli_extension_handler(["install-file", "-r", REPO_MODULE, "--enable", "--no-prefs",
                                                str(zip_path)])
        configure_preferences(device=args.device)

        record = None if cache is None else cache / "full.json"
        cached = False
        if record is not None and record.is_file():
            doc = json.loads(record.read_text())
            frames_dir = cache / "frames"
            first, last = _parse_pair(frame_text, "-")
            truth = {f: frames_dir / f"shot_{f:04d}.exr" for f in range(first, last + 1)}
            cached = (doc.get("settings") == settings and doc.get("complete")
                      and all(p.is_file() for p in truth.values()))
        if cached:
            full = doc
            say(f"full render: reusing the cached render in {cache} (rendered {full.get('rendered_at')}, "
                f"{full['total_s']:.2f} s recorded); not rendering again")
        else:
            say(f"full render: rendering {frame_text} ({'cache ' + str(cache) if cache else 'not cached'})")
            if cache is not None:
                cache.mkdir(parents=True, exist_ok=True)
                _write_json(cache / "settings.json", settings)
            bpy.ops.wm.open_mainfile(filepath=str(blend))
            truth, full = _full_render(cache / "frames" if cache else work / "full", record, settings, say)
        full_s = float(full["total_s"])

        bpy.ops.wm.open_mainfile(filepath=str(blend))
        configure_preferences(device=args.device)
        ff = bpy.context.scene.framefill
        ff.every, ff.model, ff.qc_threshold, ff.rerender = args.every, args.model, args.threshold, True
        out_dir = blend.parent / "render"
        shutil.rmtree(out_dir, ignore_errors=True)
        say(f"sparse: Render Sparse + Fill, every {args.every}, {args.model} on {args.device}")
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
        if args.json:
            sys.stdout.flush()
            os.dup2(stdout_fd, 1)
            os.close(stdout_fd)

    order = {name: i for i, name in enumerate(STAGE_ORDER)}
    stages = dict(sorted(report["stage_seconds"].items(), key=lambda kv: order.get(kv[0], len(order))))
    keys = set(report["keyframes"])
    rerendered = set(report["rerendered_frames"])
    kind = {f: "rendered" if f in keys else "re-rendered" if f in rerendered else "filled" for f in final}
    filled_first = len(final) - len(keys)  # frames the fill stage made, before QC
    flagged = report["flagged_frames"]
    finite = [v for v in final.values() if math.isfinite(v)]
    min_db = min(final.values()) if final else math.inf
    all_ok = all(v >= args.threshold for v in final.values())
    doc = {
        "scene": {"scene": args.scene, "res": res, "samples": samples, "frames": frame_text, "every": args.every,
                  "threads": args.threads, "blender": bpy.app.version_string, "cpu": settings["cpu"],
                  "device": args.device, "model": args.model, "threshold_db": args.threshold},
        "full_render_s": round(full_s, 2),
        "full_render_s_per_frame": round(full_s / len(truth), 3),
        "full_render_cached": bool(cached),
        "full_render_cache": None if cache is None else str(cache),
        "full_render_frame_s": full["per_frame_s"],
        "sparse_fill_rerender_s": round(sparse_s, 2),
        "ratio_sparse_over_full": round(sparse_s / full_s, 3),
        "stage_seconds": stages,
        "frames_total": len(final),
        "rendered": report["rendered"],
        "filled": filled_first,
        "flagged": len(flagged),
        "accepted_by_qc": filled_first - len(flagged),
        "rerendered": report["rerendered"],
        "final_filled": report["filled"],
        "flagged_frames": flagged,
        "final_min_psnr_db": None if not finite else round(min(finite), 2),
        "all_at_or_above_threshold": all_ok,
        "final_psnr_db": {str(f): (round(v, 2) if math.isfinite(v) else "identical") for f, v in final.items()},
        "final_kind": {str(f): k for f, k in kind.items()},
    }
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print()
    print(f"scene {args.scene} {res} {samples} spp frames {frame_text}, every {args.every}, "
          f"threads {args.threads or 'auto'}, {args.device}, Blender {doc['scene']['blender']}, {settings['cpu']}")
    print(f"full render:                 {full_s:7.2f} s ({doc['full_render_s_per_frame']:.3f} s/frame)"
          f"{'  [cached: recorded time, not rendered now]' if cached else ''}")
    print(f"sparse + fill + re-render:   {sparse_s:7.2f} s")
    print("  stages (s):               ", ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
    print(f"ratio (sparse / full):       {sparse_s / full_s:7.3f}")
    print(f"frames:                      {len(final)} total: {report['rendered']} rendered, {filled_first} filled, "
          f"{filled_first - len(flagged)} accepted by QC, {len(flagged)} flagged, "
          f"{report['rerendered']} re-rendered")
    print("final frames vs full render (PSNR dB):")
    for f, v in final.items():
        mark = "" if v >= args.threshold else f"  < {args.threshold:g}"
        print(f"  {f}  {kind[f]:<11}  {'identical' if not math.isfinite(v) else f'{v:6.2f}'}{mark}")
    min_text = "identical" if not math.isfinite(min_db) else f"{min_db:.2f} dB"
    print(f"minimum: {min_text}; every final frame >= {args.threshold:g} dB: {'yes' if all_ok else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
