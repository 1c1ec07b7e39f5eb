"""A heavier version of the Blender extension's test scene, for bench/blender_sparse.py --scene heavy (needs bpy).

Same layout and camera move as tests/host/blender/blender_scene.py (a checkered
cube slides, rises and turns in front of a noise wall while the camera trucks
sideways), with what makes a production frame slow: a glossy floor that
reflects the set, a clear glass ball and a chrome ball (refraction and
reflection of the moving cube), an area key light besides the sun, deeper
light paths, more samples, a larger frame and the OIDN denoiser. With the
defaults below one frame takes ~20-30 s on one core of a 2-core Xeon (see
bench/blender_sparse.py for the measured time).

Motion stays moderate (the cube moves ~0.17 m a frame, the glass ball drifts
slowly, the chrome ball is still, the camera trucks 2 m over the shot) so a
good interpolator can fill every other frame; the refractions and reflections
are the frames QC may flag for a real render.

Built with bench/scenes' ``Builder`` (exact custom normals, fixed seed, no
animated seed, no emissive meshes), so a frame renders to the same pixels in
any process: the full render is the ground truth of the sparse render. The
output is the test scene's: multilayer EXR (half, ZIP) with the combined,
depth, normal and object-index passes, to ``//render/shot_####``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCENES_DIR = REPO / "bench" / "scenes"

HEAVY_RES = (640, 360)
HEAVY_SAMPLES = 40
HEAVY_FRAMES = (1001, 1025)
OUTPUT = "//render/shot_####"  # as tests/host/blender/blender_scene.py


@dataclass(frozen=True)
class HeavySpec:
    res: tuple[int, int] = HEAVY_RES
    samples: int = HEAVY_SAMPLES
    frames: tuple[int, int] = HEAVY_FRAMES
    denoise: bool = True


def _glass(name: str, *, tint: Sequence[float] = (0.95, 0.98, 1.0), roughness: float = 0.0, ior: float = 1.45):
    import bpy

    mat = bpy.data.materials.new(name)
    nt = mat.node_tree
    nt.nodes.clear()
    bsdf = nt.nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.inputs["Base Color"].default_value = (*tint, 1.0)
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["IOR"].default_value = ior
    bsdf.inputs["Transmission Weight"].default_value = 1.0
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat


def build_heavy_scene(blend_path: str | Path, spec: HeavySpec = HeavySpec()) -> Path:
    """Build the heavy scene from factory settings and save it to ``blend_path``; returns the path.

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
    b = Builder(name="ff_blender_heavy", res=spec.res, samples=spec.samples, seed=0, shot=shot)
    b.world(color=(0.18, 0.21, 0.27), strength=0.8)
    b.sun(rotation_deg=(50, 10, 35), strength=3.0, angle_deg=3.0)
    b.area(location=(-3.5, -2.5, 4.0), target=(0, 2, 0.5), power_w=450.0, size=2.5, color=(1.0, 0.9, 0.8))
    b.add(b.mesh("plane", size=40.0), b.checker((0.6, 0.5, 0.4), (0.3, 0.25, 0.2), scale=1.0, roughness=0.18),
          name="floor")
    b.add(b.mesh("plane", size=(40.0, 12.0)), b.noise((0.4, 0.5, 0.6), (0.16, 0.2, 0.27), scale=0.5),
          name="wall", location=(0, 8, 5), rotation_deg=(90, 0, 0))
    cube = b.add(b.mesh("cube", size=1.0), b.checker((0.9, 0.75, 0.2), (0.15, 0.3, 0.6), scale=2.5, roughness=0.35),
                 name="cube")
    # As the test scene: the cube accelerates its turn, easy in-betweens early, harder late.
    b.animate(cube, lambda f: Pose(location=(-2 + 4 * shot.t(f), 2.0, 0.5 + 0.3 * shot.t(f)),
                                   rotation_deg=(0, 0, 90 * shot.t(f) ** 2)))
    glass = b.add(b.mesh("sphere", size=1.1, smooth=True, segments=48), _glass("glass"), name="glass")
    b.animate(glass, lambda f: Pose(location=(1.1 - 0.5 * shot.t(f), 0.4, 0.55)))
    b.add(b.mesh("sphere", size=0.9, smooth=True, segments=48), b.plain((0.92, 0.92, 0.95), roughness=0.08,
                                                                        metallic=1.0),
          name="chrome", location=(-2.2, 3.6, 0.45))
    b.add(b.mesh("cylinder", size=(0.6, 1.6), segments=32, smooth=True),
          b.plain((0.7, 0.15, 0.12), roughness=0.3), name="post", location=(2.6, 3.4, 0.8))
    cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    b.scene.collection.objects.link(cam)
    b.scene.camera = cam
    b.animate(cam, lambda f: Pose(location=(-1 + 2 * shot.t(f), -7, 2.5), look_at=(0, 2, 0.6)))

    scene = b.scene
    c = scene.cycles
    c.use_denoising = spec.denoise
    c.max_bounces = 12
    c.diffuse_bounces = 4
    c.glossy_bounces = 6
    c.transmission_bounces = 12
    c.transparent_max_bounces = 8
    c.blur_glossy = 0.5
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
