"""Scene building blocks for framefill's procedural test scenes (bpy 5.0.1 + numpy + OpenEXR).

Bench tooling, not part of the `framefill` package: it never imports framefill. Runs inside a
Python that can `import bpy` (PyPI `bpy==5.0.1`, Blender as a module).

Pass-output route (verified with bpy 5.0.1): `bpy.ops.render.render(write_still=True)` to an
`OPEN_EXR_MULTILAYER` file DOES write every enabled pass, as a MULTI-PART file with one part per
pass (`ViewLayer.Combined`, `ViewLayer.Depth`, `ViewLayer.Normal`, `ViewLayer.Object Index`,
`ViewLayer.Noisy Image`). `OpenEXR.File(path).channels()` returns part 0 only, which makes the
file look "Combined only"; walk `File.parts`. The compositor File Output node
(`scene.compositing_node_group`, `node.file_output_items.new(socket_type, name)`, render layer
socket "Object Index") also writes one part per input, so it buys nothing here. We render each
frame to a temporary multilayer file and re-pack it into one single-part EXR (exr_io.py).

Reproducibility (bpy 5.0.1): two things made the same frame differ between processes, and are
avoided here: Blender's smooth vertex normals (1-ulp differences; we store exact normals as
"free" custom normals) and Cycles' sampling of emissive meshes as lights (emitters use
emission_sampling NONE; lamps get a point light). Frames are then bit-identical across runs
and thread counts (checked with 1, 2 and 3 threads, denoiser on).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bpy  # first: bmesh and mathutils only exist once bpy is imported  # noqa: I001
import bmesh
import numpy as np
from mathutils import Euler, Quaternion, Vector

from catalog import FrameRange, SceneScriptError
from exr_io import pack_channels, read_blender_layers, write_exr

# Indirect-sample clamp: 16 samples cannot average out rare bright paths (fireflies), and the
# denoiser smears them into blotches that change every frame; direct light stays unclamped so
# emissive objects and sun glints keep their real > 1.0 values.
CLAMP_INDIRECT = 6.0


# ---------------------------------------------------------------------------------------------
# Easing and motion profiles (pure functions of normalised time)
# ---------------------------------------------------------------------------------------------


def smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def bump(t: float, centre: float, width: float) -> float:
    """Raised-cosine bump: 1 at `centre`, 0 beyond `width` either side."""
    d = abs(t - centre) / width
    return 0.0 if d >= 1.0 else 0.5 * (1.0 + math.cos(math.pi * d))


def integrate(speed: Callable[[float], float], frames: FrameRange, *, substeps: int = 8) -> Callable[[float], float]:
    """Position as a function of (sub)frame, from a speed profile given per frame of normalised time.

    `speed(t)` is in units per frame; the result is 0 at the first frame. Sub-frames are
    integrated too so motion blur (which samples sub-frames) sees the same curve.
    """
    n = (frames.last - frames.first) * substeps
    ts = [frames.first + i / substeps for i in range(n + 1)]
    acc = [0.0]
    for a, b in zip(ts, ts[1:]):
        mid = 0.5 * (a + b)
        acc.append(acc[-1] + speed(frames.t(mid)) * (b - a))

    def pos(frame: float) -> float:
        x = (frame - frames.first) * substeps
        i = int(math.floor(min(max(x, 0), n)))
        j = min(i + 1, n)
        return acc[i] + (acc[j] - acc[i]) * (min(max(x, 0), n) - i)

    return pos


# ---------------------------------------------------------------------------------------------
# Scene construction
# ---------------------------------------------------------------------------------------------


@contextmanager
def _quiet(enabled: bool = True):
    """Silence Blender's C-level stdout/stderr chatter (per-tile progress lines) while rendering."""
    if not enabled:
        yield
        return
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "wb") as null:
        try:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


class Builder:
    """Builds one procedural scene: objects with distinct pass indices, materials, lights, keys.

    `shot` is the range the motion is authored over (scenes use `shot.t(frame)`); `extra` is any
    other range that will be rendered: keys are baked over both, so frame N looks the same
    whichever subset of frames is rendered (a single re-render matches the full shot).
    Every object created through the builder gets the next pass_index (1, 2, ...), so IndexOB is
    unique per object; 0 stays for the world.
    """

    def __init__(self, *, name: str, res: tuple[int, int], samples: int, seed: int, shot: FrameRange,
                 extra: FrameRange | None = None) -> None:
        with _quiet():
            bpy.ops.wm.read_factory_settings(use_empty=True)
        self.name = name
        self.shot = shot
        extra = extra or shot
        self.keys = FrameRange(min(shot.first, extra.first), max(shot.last, extra.last))
        self.scene = bpy.context.scene
        self.scene.name = name
        self._next_index = 1
        self._materials: dict[str, bpy.types.Material] = {}
        self._setup_render(res=res, samples=samples, seed=seed)
        self.world(color=(0.05, 0.06, 0.08), strength=1.0)

    # -- render settings -----------------------------------------------------------------------

    def _setup_render(self, *, res: tuple[int, int], samples: int, seed: int) -> None:
        s = self.scene
        r = s.render
        r.engine = "CYCLES"
        r.resolution_x, r.resolution_y = res
        r.resolution_percentage = 100
        r.fps = 24
        r.film_transparent = False
        r.use_motion_blur = False
        r.use_persistent_data = False
        c = s.cycles
        c.device = "CPU"
        c.samples = samples
        # Fixed sample count: adaptive sampling would make the work (and time) depend on noise.
        c.use_adaptive_sampling = False
        c.seed = seed
        c.use_animated_seed = False
        c.use_denoising = True
        c.denoiser = "OPENIMAGEDENOISE"
        c.denoising_input_passes = "RGB_ALBEDO_NORMAL"
        c.denoising_prefilter = "ACCURATE"
        c.denoising_quality = "HIGH"
        c.max_bounces = 4
        c.diffuse_bounces = 2
        c.glossy_bounces = 2
        c.transmission_bounces = 0
        c.volume_bounces = 0
        c.transparent_max_bounces = 4
        c.caustics_reflective = False
        c.caustics_refractive = False
        c.blur_glossy = 1.0
        c.sample_clamp_direct = 0.0
        c.sample_clamp_indirect = CLAMP_INDIRECT
        vl = s.view_layers[0]
        vl.use_pass_combined = True
        vl.use_pass_z = True
        vl.use_pass_normal = True
        vl.use_pass_object_index = True
        im = r.image_settings
        im.media_type = "MULTI_LAYER_IMAGE"
        im.file_format = "OPEN_EXR_MULTILAYER"
        im.color_depth = "32"  # keep full float in the temp file; we quantise to half ourselves
        im.exr_codec = "NONE"  # temp file only: no time spent compressing what we read back at once

    def motion_blur(self, *, shutter: float = 0.5) -> None:
        self.scene.render.use_motion_blur = True
        self.scene.render.motion_blur_shutter = shutter
        self.scene.render.motion_blur_position = "CENTER"

    def transparent_film(self) -> None:
        self.scene.render.film_transparent = True

    # -- world, lights, camera ---------------------------------------------------------------------

    def world(self, *, color: Sequence[float], strength: float) -> None:
        w = self.scene.world or bpy.data.worlds.new("world")
        self.scene.world = w
        bg = w.node_tree.nodes.get("Background") or w.node_tree.nodes.new("ShaderNodeBackground")
        bg.inputs["Color"].default_value = (*color, 1.0)
        bg.inputs["Strength"].default_value = strength
        out = w.node_tree.nodes.get("World Output") or w.node_tree.nodes.new("ShaderNodeOutputWorld")
        w.node_tree.links.new(bg.outputs["Background"], out.inputs["Surface"])

    def sun(self, *, rotation_deg: Sequence[float], strength: float = 3.0, angle_deg: float = 2.0,
            color: Sequence[float] = (1.0, 0.96, 0.9)) -> bpy.types.Object:
        light = bpy.data.lights.new("sun", "SUN")
        light.energy = strength
        light.angle = math.radians(angle_deg)
        light.color = color
        return self._link(bpy.data.objects.new("sun", light), rotation=[math.radians(a) for a in rotation_deg])

    def area(self, *, location: Sequence[float], target: Sequence[float], power_w: float, size: float = 2.0,
             color: Sequence[float] = (1.0, 1.0, 1.0)) -> bpy.types.Object:
        light = bpy.data.lights.new("area", "AREA")
        light.energy = power_w
        light.size = size
        light.color = color
        ob = self._link(bpy.data.objects.new("area", light), location=location)
        ob.rotation_euler = look_rotation(Vector(location), Vector(target))
        return ob

    def point(self, *, location: Sequence[float], power_w: float, radius: float = 0.1,
              color: Sequence[float] = (1.0, 1.0, 1.0)) -> bpy.types.Object:
        light = bpy.data.lights.new("point", "POINT")
        light.energy = power_w
        light.shadow_soft_size = radius
        light.color = color
        return self._link(bpy.data.objects.new("point", light), location=location)

    def lamp(self, location: Sequence[float], *, strength: float = 8.0, diameter: float = 0.36,
             color: Sequence[float] = (1.0, 0.78, 0.5), power_w: float | None = None) -> bpy.types.Object:
        """A visible emissive bulb (pixels at ~strength x colour, > 1.0) that also lights the set.

        The light comes from a point light inside the bulb; the bulb casts no shadow so that
        light gets out. (Sampling the bulb itself as a mesh light is not reproducible.)
        """
        bulb = self.add(self.mesh("sphere", size=diameter, smooth=True, segments=20),
                        self.emissive(color, strength=strength), name="bulb", location=location)
        bulb.visible_shadow = False
        self.point(location=location, power_w=power_w if power_w is not None else 10.0 * strength,
                   radius=diameter * 0.25, color=color)
        return bulb

    def camera(self, *, name: str = "camera", lens_mm: float = 35.0, active: bool = True) -> bpy.types.Object:
        cam = bpy.data.cameras.new(name)
        cam.lens = lens_mm
        cam.clip_start = 0.05
        cam.clip_end = 500.0
        ob = self._link(bpy.data.objects.new(name, cam))
        if active:
            self.scene.camera = ob
        return ob

    # -- materials ---------------------------------------------------------------------------------

    def _material(self, key: str, build: Callable[[bpy.types.Material], None]) -> bpy.types.Material:
        if key not in self._materials:
            mat = bpy.data.materials.new(key)
            nt = mat.node_tree
            nt.nodes.clear()
            build(mat)
            self._materials[key] = mat
        return self._materials[key]

    def checker(self, c1: Sequence[float], c2: Sequence[float], *, scale: float = 1.0, roughness: float = 0.6,
                metallic: float = 0.0, coords: str = "Object") -> bpy.types.Material:
        """Checker in object space, so it sticks to the object as it moves (flow can lock onto it)."""

        def build(mat: bpy.types.Material) -> None:
            nt = mat.node_tree
            tc = nt.nodes.new("ShaderNodeTexCoord")
            ck = nt.nodes.new("ShaderNodeTexChecker")
            ck.inputs["Color1"].default_value = (*c1, 1.0)
            ck.inputs["Color2"].default_value = (*c2, 1.0)
            ck.inputs["Scale"].default_value = scale
            bsdf = self._principled(nt, roughness=roughness, metallic=metallic)
            out = nt.nodes.new("ShaderNodeOutputMaterial")
            nt.links.new(tc.outputs[coords], ck.inputs["Vector"])
            nt.links.new(ck.outputs["Color"], bsdf.inputs["Base Color"])
            nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])

        return self._material(f"checker{tuple(c1)}{tuple(c2)}{scale}{roughness}{metallic}{coords}", build)

    def noise(self, c1: Sequence[float], c2: Sequence[float], *, scale: float = 2.0, detail: float = 1.0,
              roughness: float = 0.7) -> bpy.types.Material:
        """Smooth two-colour noise in object space; low detail keeps it noise-free and compressible."""

        def build(mat: bpy.types.Material) -> None:
            nt = mat.node_tree
            tc = nt.nodes.new("ShaderNodeTexCoord")
            nz = nt.nodes.new("ShaderNodeTexNoise")
            nz.inputs["Scale"].default_value = scale
            nz.inputs["Detail"].default_value = detail
            ramp = nt.nodes.new("ShaderNodeValToRGB")
            ramp.color_ramp.elements[0].position = 0.35
            ramp.color_ramp.elements[0].color = (*c1, 1.0)
            ramp.color_ramp.elements[1].position = 0.65
            ramp.color_ramp.elements[1].color = (*c2, 1.0)
            bsdf = self._principled(nt, roughness=roughness, metallic=0.0)
            out = nt.nodes.new("ShaderNodeOutputMaterial")
            nt.links.new(tc.outputs["Object"], nz.inputs["Vector"])
            nt.links.new(nz.outputs["Fac"], ramp.inputs["Fac"])
            nt.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
            nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])

        return self._material(f"noise{tuple(c1)}{tuple(c2)}{scale}{detail}{roughness}", build)

    def plain(self, color: Sequence[float], *, roughness: float = 0.5, metallic: float = 0.0) -> bpy.types.Material:
        def build(mat: bpy.types.Material) -> None:
            nt = mat.node_tree
            bsdf = self._principled(nt, roughness=roughness, metallic=metallic)
            bsdf.inputs["Base Color"].default_value = (*color, 1.0)
            out = nt.nodes.new("ShaderNodeOutputMaterial")
            nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])

        return self._material(f"plain{tuple(color)}{roughness}{metallic}", build)

    def emissive(self, color: Sequence[float], *, strength: float) -> bpy.types.Material:
        """Pure emitter: its pixels read `color * strength`, i.e. well above 1.0 for strength > 1.

        Not sampled as a light (emission_sampling NONE): Cycles' mesh-light set-up is not
        reproducible from one process to the next (bpy 5.0.1; pixels differed run to run), so a
        lamp that must light its surroundings gets a companion point light (see `Builder.lamp`).
        """

        def build(mat: bpy.types.Material) -> None:
            mat.cycles.emission_sampling = "NONE"
            nt = mat.node_tree
            em = nt.nodes.new("ShaderNodeEmission")
            em.inputs["Color"].default_value = (*color, 1.0)
            em.inputs["Strength"].default_value = strength
            out = nt.nodes.new("ShaderNodeOutputMaterial")
            nt.links.new(em.outputs["Emission"], out.inputs["Surface"])

        return self._material(f"emit{tuple(color)}{strength}", build)

    @staticmethod
    def _principled(nt: bpy.types.NodeTree, *, roughness: float, metallic: float) -> bpy.types.Node:
        bsdf = nt.nodes.new("ShaderNodeBsdfPrincipled")
        bsdf.inputs["Roughness"].default_value = roughness
        bsdf.inputs["Metallic"].default_value = metallic
        return bsdf

    # -- geometry ------------------------------------------------------------------------------------

    def mesh(self, kind: str, *, size: float | Sequence[float] = 1.0, segments: int = 24, smooth: bool = False,
             key: str | None = None) -> bpy.types.Mesh:
        """A primitive mesh datablock, shared by every object that asks for the same `key`.

        kind: cube | sphere | ico | cylinder | plane. `size` is the edge length (cube, plane), the
        diameter (sphere, ico) or (diameter, height) for a cylinder.
        """
        key = key or f"{kind}{size}{segments}{smooth}"
        if key in bpy.data.meshes:
            return bpy.data.meshes[key]
        bm = bmesh.new()
        if kind == "cube":
            bmesh.ops.create_cube(bm, size=1.0)
        elif kind == "sphere":
            bmesh.ops.create_uvsphere(bm, u_segments=segments, v_segments=max(segments // 2, 3), radius=0.5)
        elif kind == "ico":
            bmesh.ops.create_icosphere(bm, subdivisions=max(1, segments), radius=0.5)
        elif kind == "cylinder":
            bmesh.ops.create_cone(bm, cap_ends=True, segments=segments, radius1=0.5, radius2=0.5, depth=1.0)
        elif kind == "plane":
            bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=0.5)
        else:
            bm.free()
            raise SceneScriptError(f"unknown primitive {kind!r}; use cube, sphere, ico, cylinder or plane")
        sx, sy, sz = _size3(kind, size)
        bmesh.ops.scale(bm, vec=Vector((sx, sy, sz)), verts=bm.verts)
        me = bpy.data.meshes.new(key)
        bm.to_mesh(me)
        bm.free()
        if smooth:
            me.shade_smooth()
            _set_exact_normals(me, kind)
        else:
            me.shade_flat()
        return me

    def add(self, mesh: bpy.types.Mesh, material: bpy.types.Material, *, name: str = "obj",
            location: Sequence[float] = (0, 0, 0), rotation_deg: Sequence[float] = (0, 0, 0),
            scale: Sequence[float] = (1, 1, 1)) -> bpy.types.Object:
        """Link a new object (own pass_index) using `mesh`; the material is set per object."""
        ob = bpy.data.objects.new(name, mesh)
        if not mesh.materials:
            mesh.materials.append(None)
        ob.material_slots[0].link = "OBJECT"
        ob.material_slots[0].material = material
        ob.pass_index = self._next_index
        self._next_index += 1
        ob.scale = scale
        return self._link(ob, location=location, rotation=[math.radians(a) for a in rotation_deg])

    def _link(self, ob: bpy.types.Object, *, location: Sequence[float] = (0, 0, 0),
              rotation: Sequence[float] = (0, 0, 0)) -> bpy.types.Object:
        ob.location = location
        ob.rotation_euler = rotation
        self.scene.collection.objects.link(ob)
        return ob

    # -- animation -----------------------------------------------------------------------------------

    def animate(self, ob: bpy.types.Object, pose: Callable[[int], "Pose"], *, frames: Iterable[int] | None = None) -> None:
        """Bake one key per frame from `pose(frame)` (location, Euler rotation in degrees, scale)."""
        prev: Euler | None = None
        for f in frames if frames is not None else self.keys.frames:
            p = pose(f)
            if p.location is not None:
                ob.location = p.location
                ob.keyframe_insert("location", frame=f)
            if p.rotation_deg is not None:
                ob.rotation_euler = [math.radians(a) for a in p.rotation_deg]
                ob.keyframe_insert("rotation_euler", frame=f)
            elif p.look_at is not None and p.location is not None:
                rot = look_rotation(Vector(p.location), Vector(p.look_at), roll_deg=p.roll_deg, compat=prev)
                prev = rot
                ob.rotation_euler = rot
                ob.keyframe_insert("rotation_euler", frame=f)
            if p.scale is not None:
                ob.scale = p.scale
                ob.keyframe_insert("scale", frame=f)
        # Keys are baked one per frame. LINEAR keeps sub-frames (motion blur) on the straight
        # path between two baked poses (new keys are BEZIER whatever the user preference says,
        # bpy 5.0.1), and motion blur past the last key extends the motion instead of holding.
        for fc in _fcurves(ob):
            fc.extrapolation = "LINEAR"
            for kp in fc.keyframe_points:
                kp.interpolation = "LINEAR"


@dataclass(frozen=True)
class Pose:
    """An object's pose at one frame; None leaves that property unkeyed."""

    location: Sequence[float] | None = None
    rotation_deg: Sequence[float] | None = None
    scale: Sequence[float] | None = None
    look_at: Sequence[float] | None = None  # cameras: aim at a point (rotation_deg wins if both)
    roll_deg: float = 0.0


def _set_exact_normals(me: bpy.types.Mesh, kind: str) -> None:
    """Store analytic smooth normals as Blender 5 "free" custom normals (float3 `custom_normal`).

    Blender builds vertex normals with a parallel vertex-to-face map whose order changes from run
    to run, so smooth normals differ by 1 ulp between processes and Cycles' paths (and pixels)
    diverge: renders were not reproducible (bpy 5.0.1). Normals we compute ourselves are.
    """
    n_corners = len(me.loops)
    co = np.zeros(len(me.vertices) * 3, np.float32)
    me.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3).astype(np.float64)
    vidx = np.zeros(n_corners, np.int32)
    me.loops.foreach_get("vertex_index", vidx)
    if kind in ("sphere", "ico"):
        normals = co[vidx]  # centred at the origin: the position is the normal direction
    elif kind == "cylinder":
        face_of = np.zeros(n_corners, np.int32)
        for poly in me.polygons:  # small meshes only; keeps the corner -> face map in order
            face_of[poly.loop_start:poly.loop_start + poly.loop_total] = poly.index
        fn = np.zeros(len(me.polygons) * 3, np.float32)
        me.polygons.foreach_get("normal", fn)  # flat face normals: a cross product, deterministic
        fn = fn.reshape(-1, 3).astype(np.float64)[face_of]
        radial = co[vidx] * np.array([1.0, 1.0, 0.0])
        cap = np.abs(fn[:, 2]) > 0.5
        normals = np.where(cap[:, None], fn, radial)
    else:
        return
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    attr = me.attributes.new("custom_normal", "FLOAT_VECTOR", "CORNER")
    attr.data.foreach_set("vector", normals.astype(np.float32).ravel())


def _size3(kind: str, size: float | Sequence[float]) -> tuple[float, float, float]:
    if isinstance(size, (int, float)):
        return (float(size),) * 3 if kind != "plane" else (float(size), float(size), 1.0)
    if kind == "cylinder" and len(size) == 2:
        return float(size[0]), float(size[0]), float(size[1])
    if len(size) == 2:
        return float(size[0]), float(size[1]), 1.0
    return float(size[0]), float(size[1]), float(size[2])


def _fcurves(ob: bpy.types.Object):
    """F-curves of an object's action (Blender 5 keeps them in layered-action channel bags)."""
    ad = ob.animation_data
    if ad is None or ad.action is None:
        return []
    out = []
    for layer in ad.action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(ad.action_slot)
            if bag is not None:
                out.extend(bag.fcurves)
    return out


def look_rotation(eye: Vector, target: Vector, *, roll_deg: float = 0.0, compat: Euler | None = None) -> Euler:
    """Euler rotation that points an object's -Z at `target` with +Y up (camera convention)."""
    quat = (target - eye).to_track_quat("-Z", "Y")
    if roll_deg:
        quat = quat @ Quaternion((0.0, 0.0, 1.0), math.radians(roll_deg))
    return quat.to_euler("XYZ", compat) if compat is not None else quat.to_euler("XYZ")


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameTiming:
    """One rendered frame: wall time, CPU time of this process (all threads) and file size."""

    frame: int
    seconds: float
    cpu_seconds: float
    bytes: int


def render_frames(builder: Builder, out_dir: Path, *, prefix: str, compression: str,
                  frames: Iterable[int] | None = None, skip_existing: bool = False, quiet: bool = True,
                  on_frame: Callable[[FrameTiming], None] | None = None) -> list[FrameTiming]:
    """Render the built scene's frames to `out_dir/<prefix>.####.exr`, each written atomically.

    skip_existing: leave frames already on disk alone (safe: renders are deterministic and an
    existing frame is always complete, because it was written by os.replace).
    Returns the timings of the frames rendered. Raises SceneScriptError if Blender writes nothing.
    """
    scene = builder.scene
    out_dir.mkdir(parents=True, exist_ok=True)
    c = scene.cycles
    # Shot-level attributes only: the fill step copies a source frame's header into each filled
    # frame, so a per-frame value (frame number, camera) would be wrong there.
    attributes = {
        "framefill/scene": builder.name,
        "framefill/fps": float(scene.render.fps),
        "framefill/render": (f"Blender {bpy.app.version_string} Cycles CPU, {c.samples} spp, seed {c.seed}, "
                             f"denoiser {c.denoiser if c.use_denoising else 'off'}"),
    }
    timings = []
    with tempfile.TemporaryDirectory(prefix="ff_scene_") as tmp:
        # A still render does not expand "####", so name each frame's temp file outright.
        scene.render.use_file_extension = False
        for f in frames if frames is not None else builder.shot.frames:
            dst = out_dir / f"{prefix}.{f:04d}.exr"
            if skip_existing and dst.is_file():
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            src = Path(tmp) / f"blender_{f:04d}.exr"
            scene.render.filepath = str(src)
            scene.frame_set(f)
            with _quiet(quiet):
                bpy.ops.render.render(write_still=True)
            if not src.is_file():
                raise SceneScriptError(f"Blender wrote no file for frame {f} (expected {src}); rerun with --verbose")
            packed = pack_channels(read_blender_layers(src))
            src.unlink()
            write_exr(dst, packed, compression=compression, attributes=attributes)
            timing = FrameTiming(f, time.perf_counter() - t0, time.process_time() - c0, dst.stat().st_size)
            timings.append(timing)
            if on_frame is not None:
                on_frame(timing)
    return timings
