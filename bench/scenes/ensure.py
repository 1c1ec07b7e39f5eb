"""Render a procedural scene once and reuse it: a cache of complete renders for tests and benchmarks.

    from ensure import ensure_scene          # with bench/scenes on sys.path
    folder = ensure_scene("fast_spin", res="320x180", frames="1001-1032", samples=16)
    # folder / "fast_spin.1001.exr" ...

    python bench/scenes/ensure.py NAME [--res ..] [--frames ..] [--samples ..]   # prints the folder

The cache root is $FRAMEFILL_SCENES, else ~/.cache/framefill/scenes. Each render lives in
`<name>-<W>x<H>-<first>-<last>-<samples>spp-seed<seed>-<key>/`, where <key> hashes the scene
scripts and the bpy version, so editing a scene (or upgrading Blender) never reuses a stale
render. A `.complete` marker (JSON) is written last; a folder without it is finished on the
next call (frames already there are kept: each was written atomically and renders are
deterministic). The render runs in a child Python (default: this one), so bpy never loads into
the caller. Needs numpy only here; the child needs bpy.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent callers may render the same frames twice
    fcntl = None

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from catalog import SCENE_DEFAULTS, FrameRange, SceneScriptError, parse_res  # noqa: E402

ENV_ROOT = "FRAMEFILL_SCENES"
COMPLETE = ".complete"
# The files whose content decides the pixels; the cache key hashes them (not ensure.py itself,
# nor inspect_frames.py, which only read).
SCRIPT_FILES = ("catalog.py", "exr_io.py", "scene_lib.py", "scenes.py", "render_scene.py")


def cache_root() -> Path:
    """$FRAMEFILL_SCENES, else ~/.cache/framefill/scenes."""
    env = os.environ.get(ENV_ROOT)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "framefill" / "scenes"


def scripts_key() -> str:
    """12 hex digits of sha256 over the scene scripts' bytes and the installed bpy version."""
    h = hashlib.sha256()
    for name in SCRIPT_FILES:
        h.update(name.encode() + b"\0" + (HERE / name).read_bytes() + b"\0")
    try:
        h.update(b"bpy " + importlib.metadata.version("bpy").encode())
    except importlib.metadata.PackageNotFoundError:
        h.update(b"bpy missing")
    return h.hexdigest()[:12]


def scene_dir(name: str, *, res: str | tuple[int, int] | None = None, frames: str | tuple[int, int] | None = None,
              samples: int | None = None, seed: int = 0) -> Path:
    """The cache folder for one scene render (whether or not it exists yet)."""
    spec = _spec(name)
    w, h = parse_res(res if res is not None else spec.res)
    fr = FrameRange.parse(frames if frames is not None else spec.frames)
    spp = int(samples if samples is not None else spec.samples)
    return cache_root() / f"{name}-{w}x{h}-{fr.first}-{fr.last}-{spp}spp-seed{seed}-{scripts_key()}"


def is_complete(folder: Path) -> bool:
    return (folder / COMPLETE).is_file()


def ensure_scene(name: str, *, res: str | tuple[int, int] | None = None, frames: str | tuple[int, int] | None = None,
                 samples: int | None = None, seed: int = 0, python: str | None = None,
                 timeout_s: float | None = None) -> Path:
    """Return the folder holding `<name>.####.exr` for every frame, rendering only what is missing.

    res/frames/samples default to the scene's own (catalog.py). `python` is the interpreter that
    renders (default: sys.executable); it must be able to `import bpy`. Concurrent callers
    wait for each other through a lock file, so a scene is rendered once.
    Raises SceneScriptError for an unknown scene, a failed render or missing frames.
    """
    spec = _spec(name)
    fr = FrameRange.parse(frames if frames is not None else spec.frames)
    folder = scene_dir(name, res=res, frames=fr, samples=samples, seed=seed)
    if is_complete(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if is_complete(folder):
            return folder
        folder.mkdir(exist_ok=True)
        for stale in folder.glob(".*.tmp"):  # temp files of a killed render (we hold the lock)
            stale.unlink()
        w, h = parse_res(res if res is not None else spec.res)
        spp = int(samples if samples is not None else spec.samples)
        cmd = [python or sys.executable, str(HERE / "render_scene.py"), name, "--out", str(folder),
               "--res", f"{w}x{h}", "--frames", str(fr), "--samples", str(spp), "--seed", str(seed),
               "--skip-existing"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise SceneScriptError(f"rendering scene {name!r} into {folder} failed (exit {proc.returncode}): "
                                   + " | ".join(tail))
        missing = [f for f in fr.frames if not (folder / f"{name}.{f:04d}.exr").is_file()]
        if missing:
            raise SceneScriptError(f"scene {name!r} render left frames {missing[:5]}... missing in {folder}")
        marker = {
            "scene": name, "res": [w, h], "frames": [fr.first, fr.last], "samples": spp, "seed": seed,
            "key": scripts_key(), "render_seconds": round(time.perf_counter() - t0, 2),
            "log": proc.stderr.strip().splitlines()[-1:] if proc.stderr else [],
        }
        tmp = folder / f".{COMPLETE}.tmp"
        tmp.write_text(json.dumps(marker, indent=1) + "\n")
        os.replace(tmp, folder / COMPLETE)
    return folder


def _spec(name: str):
    if name not in SCENE_DEFAULTS:
        raise SceneScriptError(f"unknown scene {name!r}; choose one of {', '.join(SCENE_DEFAULTS)}")
    return SCENE_DEFAULTS[name]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name")
    ap.add_argument("--res")
    ap.add_argument("--frames")
    ap.add_argument("--samples", type=int)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        print(ensure_scene(args.name, res=args.res, frames=args.frames, samples=args.samples, seed=args.seed))
    except SceneScriptError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
