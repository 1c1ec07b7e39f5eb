"""The small generated scene of the Blender extension's tests and benchmark (needs bpy).

A checkered cube slides, rises and turns in front of a noise-textured wall on
a checker floor while the camera trucks sideways, lit by a sun; Cycles on the
CPU. Built with bench/scenes' ``Builder`` (exact custom normals, fixed seed,
no animated seed), so a frame renders to the same pixels in any process: the
test's full render is the ground truth of the extension's sparse render.

The output is what an artist would set: multilayer EXR (half, ZIP) with the
combined, depth, normal and object-index passes, to ``//render/shot_####``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCENES_DIR = REPO / "bench" / "scenes"

# Small enough for a 2-core CPU: ~0.5 s a frame at these settings.
DEFAULT_RES = (96, 54)
DEFAULT_SAMPLES = 8
DEFAULT_FRAMES = (1001, 1013)
OUTPUT = "//render/shot_####"


@dataclass(frozen=True)
class SceneSpec:
    res: tuple[int, int] = DEFAULT_RES
    samples: int = DEFAULT_SAMPLES
    frames: tuple[int, int] = DEFAULT_FRAMES


def build_scene(blend_path: str | Path, spec: SceneSpec = SceneSpec()) -> Path:
    """Build the scene from factory settings and save it to ``blend_path``; returns the path.

    Resets Blender to factory settings first (which also disables add-ons):
    build the scene before enabling the extension.
    """
    if str(SCENES_DIR) not in sys.path:
        sys.path.insert(0, str(SCENES_DIR))
    import bpy
    from catalog import FrameRange
    from scene_lib import Builder, Pose

    first, last = spec.frames
    shot = FrameRange(first, last)
    b = Builder(name="ff_blender_test", res=spec.res, samples=spec.samples, seed=0, shot=shot)
    b.sun(rotation_deg=(50, 10, 35), strength=3.5)
    b.add(b.mesh("plane", size=40.0), b.checker((0.6, 0.5, 0.4), (0.3, 0.25, 0.2), scale=1.0), name="floor")
    b.add(b.mesh("plane", size=(40.0, 12.0)), b.noise((0.4, 0.5, 0.6), (0.16, 0.2, 0.27), scale=0.5),
          name="wall", location=(0, 8, 5), rotation_deg=(90, 0, 0))
    cube = b.add(b.mesh("cube", size=1.0), b.checker((0.9, 0.75, 0.2), (0.15, 0.3, 0.6), scale=2.5), name="cube")
    # Accelerating: easy in-betweens early in the shot, harder ones late.
    b.animate(cube, lambda f: Pose(location=(-2 + 4 * shot.t(f), 2.0, 0.5 + 0.3 * shot.t(f)),
                                   rotation_deg=(0, 0, 90 * shot.t(f) ** 2)))
    cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    b.scene.collection.objects.link(cam)
    b.scene.camera = cam
    b.animate(cam, lambda f: Pose(location=(-1 + 2 * shot.t(f), -7, 2.5), look_at=(0, 2, 0.6)))

    scene = b.scene
    scene.frame_start, scene.frame_end = first, last
    scene.frame_set(first)
    image = scene.render.image_settings
    if hasattr(image, "media_type"):  # Blender 5: the multilayer format sits under "multi-layer image"
        image.media_type = "MULTI_LAYER_IMAGE"
    image.file_format = "OPEN_EXR_MULTILAYER"
    image.color_depth = "16"
    image.exr_codec = "ZIP"
    scene.render.filepath = OUTPUT
    scene.render.use_file_extension = True
    path = Path(blend_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def render_all(out_dir: str | Path) -> dict[int, Path]:
    """Render every frame of the open scene into ``out_dir/shot_NNNN.exr`` (the ground truth).

    Plain Blender still renders, nothing of the extension: frame by frame,
    exactly as an artist's full render would be made.
    """
    import bpy

    scene = bpy.context.scene
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    saved = scene.render.filepath
    files = {}
    try:
        for frame in range(scene.frame_start, scene.frame_end + 1):
            files[frame] = out / f"shot_{frame:04d}.exr"
            scene.render.filepath = str(files[frame])
            scene.frame_set(frame)
            bpy.ops.render.render(write_still=True)
    finally:
        scene.render.filepath = saved
        scene.frame_set(scene.frame_start)
    return files
