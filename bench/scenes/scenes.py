"""The procedural scenes: the bundled sample shot and the QC test family.

Each scene is a function `build(b)` that fills a fresh `Builder`. Motion is written in
normalised shot time `t = b.shot.t(frame)` (0 at the shot's first frame, 1 at its last), so a
scene's length can change in catalog.py without rewriting it. Frames outside the shot hold or
continue the motion (speed profiles are 0 outside their bumps). Speeds follow ease-in/out
profiles so that, with every other frame dropped, some in-betweens are easy and others hard.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from catalog import SCENE_DEFAULTS, cut_frame
from scene_lib import Builder, Pose, bump, integrate, smoothstep

Colour = tuple[float, float, float]
WARM_A: Colour = (0.62, 0.52, 0.42)
WARM_B: Colour = (0.30, 0.25, 0.21)
COOL_A: Colour = (0.40, 0.50, 0.62)
COOL_B: Colour = (0.16, 0.20, 0.27)
LAMP: Colour = (1.0, 0.78, 0.5)


def _set(b: Builder, *, floor: bool = True, wall_y: float | None = 10.0, floor_mat=None, wall_mat=None) -> None:
    """A checker floor and a noise backdrop wall: the flow always has texture to lock onto."""
    if floor:
        b.add(b.mesh("plane", size=80.0), floor_mat or b.checker(WARM_A, WARM_B, scale=1.0), name="floor")
    if wall_y is not None:
        b.add(b.mesh("plane", size=(80.0, 24.0)), wall_mat or b.noise(COOL_A, COOL_B, scale=0.35),
              name="wall", location=(0, wall_y, 6.0), rotation_deg=(90, 0, 0))


def _lamp(b: Builder, location, *, strength: float = 8.0, post: bool = True) -> None:
    """An emissive bulb (pixels at ~strength x colour, well above 1.0) on a thin post."""
    x, y, z = location
    b.lamp(location, strength=strength, color=LAMP)
    if post:
        b.add(b.mesh("cylinder", size=(0.06, z), segments=8), b.plain((0.05, 0.05, 0.05), roughness=0.4),
              name="post", location=(x, y, z / 2 - 0.18))


# ---------------------------------------------------------------------------------------------
# sample: the bundled sample shot
# ---------------------------------------------------------------------------------------------


def build_sample(b: Builder) -> None:
    """Slow drift, a fast tumble that passes in front of the drifting ball, a slow dolly, a lamp."""
    fr = b.shot
    b.world(color=(0.30, 0.36, 0.45), strength=0.6)
    b.sun(rotation_deg=(50, 10, 35), strength=3.5, angle_deg=5.0)  # 5 deg disc: glints ~10-30, not 100+
    _set(b, wall_y=9.0)
    _lamp(b, (2.6, 4.2, 2.1), strength=9.0)
    # Slow: a checkered ball drifting right and rolling with it (~0.03 m per frame).
    drift = b.add(b.mesh("sphere", size=1.5, smooth=True, segments=32), b.checker((0.85, 0.85, 0.8), (0.7, 0.12, 0.1), scale=2.0),
                  name="drifter")
    b.animate(drift, lambda f: Pose(location=(-1.6 + 0.9 * fr.t(f), 2.6, 0.75),
                                     rotation_deg=(0, 0.9 * fr.t(f) / 0.75 * 180 / math.pi, 0)))
    # Fast: a cube that trips over and tumbles right to left in front of the ball (y < 2.6).
    roll = integrate(lambda t: 0.05 + 0.55 * bump(t, 0.45, 0.45), fr)
    total = roll(fr.last) or 1.0

    def tumble(f: int) -> Pose:
        d = roll(f) / total  # 0..1 along the path
        x = 3.8 - 7.6 * d
        angle = 7.6 * d / 0.45 * 180 / math.pi  # rolls without slipping (rough)
        hop = 0.25 * abs(math.sin(math.radians(angle) * 2))
        return Pose(location=(x, 1.2, 0.45 + hop), rotation_deg=(0, -angle, 15 * d))

    cube = b.add(b.mesh("cube", size=0.9), b.checker((0.9, 0.75, 0.2), (0.15, 0.3, 0.6), scale=2.2), name="tumbler")
    b.animate(cube, tumble)
    # A metal ball for moving sun glints, and static props for parallax.
    b.add(b.mesh("sphere", size=0.8, smooth=True, segments=32), b.plain((0.9, 0.9, 0.9), roughness=0.25, metallic=1.0),
          name="chrome", location=(-0.2, 4.8, 0.4))
    b.add(b.mesh("cube", size=(0.5, 0.5, 3.0)), b.noise((0.5, 0.45, 0.4), (0.25, 0.2, 0.18), scale=1.2),
          name="pillar", location=(-1.5, -2.2, 1.5))
    b.add(b.mesh("cube", size=(1.2, 1.2, 1.2)), b.checker(COOL_A, (0.9, 0.9, 0.85), scale=1.5),
          name="crate", location=(1.2, 5.5, 0.6), rotation_deg=(0, 0, 25))
    # Camera: a slow dolly in with a gentle pan (eased), so the foreground pillar slides past.
    cam = b.camera(lens_mm=38.0)
    b.animate(cam, lambda f: Pose(location=(1.6 - 2.0 * smoothstep(fr.t(f)), -7.6 + 1.5 * smoothstep(fr.t(f)), 1.6),
                                  look_at=(0.3 - 0.8 * smoothstep(fr.t(f)), 3.0, 0.8)))


# ---------------------------------------------------------------------------------------------
# QC scenes
# ---------------------------------------------------------------------------------------------


def build_fast_spin(b: Builder) -> None:
    """A propeller and a cube spinning, ramping to ~50 and ~35 deg per frame; transparent film."""
    fr = b.shot
    b.transparent_film()
    b.world(color=(0.5, 0.55, 0.6), strength=0.8)
    b.sun(rotation_deg=(40, 0, 30), strength=3.0)
    spin = integrate(lambda t: 2.0 + 48.0 * bump(t, 0.5, 0.4), fr)
    hub = b.add(b.mesh("cylinder", size=(1.0, 0.3), segments=32), b.checker(WARM_A, (0.1, 0.1, 0.12), scale=3.0),
                name="hub", location=(-0.9, 0, 0))
    blades = b.add(b.mesh("cube", size=(3.2, 0.32, 0.08)), b.checker((0.85, 0.2, 0.15), (0.9, 0.9, 0.85), scale=3.0),
                   name="blades", location=(-0.9, 0, 0))
    tips = [b.add(b.mesh("sphere", size=0.22, smooth=True, segments=16), b.emissive((0.6, 0.9, 1.0), strength=6.0),
                  name=f"tip{i}") for i in range(2)]
    for ob in (hub, blades):
        b.animate(ob, lambda f: Pose(rotation_deg=(90, spin(f), 0)))  # about the view axis (world Y)
    for i, tip in enumerate(tips):
        b.animate(tip, lambda f, i=i: Pose(location=(-0.9 + 1.6 * math.cos(math.radians(spin(f) + 180 * i)), 0,
                                                     -1.6 * math.sin(math.radians(spin(f) + 180 * i)))))
    spin2 = integrate(lambda t: 1.0 + 34.0 * bump(t, 0.75, 0.25), fr)
    cube = b.add(b.mesh("cube", size=1.1), b.checker(COOL_A, (0.9, 0.85, 0.3), scale=2.5), name="cube")
    b.animate(cube, lambda f: Pose(location=(1.8, 0.5, 0), rotation_deg=(20, spin2(f) * 0.3, spin2(f))))
    cam = b.camera(lens_mm=40.0)
    b.animate(cam, lambda f: Pose(location=(0.3, -8.0, 0.6), look_at=(0.3, 0, 0)), frames=[fr.first])


def _bounce(t0: float, x0: float, z0: float, vx: float, *, g: float = 0.018, restitution: float = 0.45,
            radius: float = 0.4, friction: float = 0.9) -> Callable[[float], tuple[float, float, int]]:
    """Ballistic fall with bounces, per frame: returns (x, z, bounces so far) at frame offset `u`."""

    def at(u: float) -> tuple[float, float, int]:
        if u <= t0:  # sliding along the ledge top towards its edge
            return x0 - vx * (t0 - u), z0, 0
        u -= t0
        x, z, vz, v, n = x0, z0, 0.0, vx, 0
        step = 0.125
        while u > 0:
            dt = min(step, u)
            vz -= g * dt
            z += vz * dt
            x += v * dt
            if z < radius:
                z = radius + (radius - z) * restitution
                vz = -vz * restitution
                v *= friction
                n += 1
                if abs(vz) < 0.01:
                    vz = 0.0
            u -= dt
        return x, z, n

    return at


def build_trip_fall(b: Builder) -> None:
    """Boxes tumbling off a ledge and bouncing, plus a tall block that trips over."""
    fr = b.shot
    n = fr.last - fr.first
    scale = 31.0 / max(n, 1)  # motion is authored for 32 frames; other ranges resample it
    b.sun(rotation_deg=(45, 0, -30), strength=3.5)
    b.world(color=(0.35, 0.4, 0.5), strength=0.5)
    _set(b, wall_y=8.0)
    _lamp(b, (-3.0, 4.0, 1.8), strength=7.0)
    b.add(b.mesh("cube", size=(3.0, 2.6, 2.0)), b.noise((0.4, 0.38, 0.35), (0.2, 0.19, 0.18), scale=1.5),
          name="ledge", location=(-2.8, 2.0, 1.0))  # top at z=2, edge at x=-1.3
    colours = [((0.9, 0.7, 0.2), (0.2, 0.2, 0.25)), ((0.2, 0.6, 0.8), (0.9, 0.9, 0.85)), ((0.8, 0.25, 0.2), (0.95, 0.9, 0.8))]
    for i, (c1, c2) in enumerate(colours):
        start = 3 + 8 * i
        path = _bounce(start, -1.1, 2.4, 0.12 + 0.05 * i, restitution=0.5, g=0.02)
        box = b.add(b.mesh("cube", size=0.8), b.checker(c1, c2, scale=2.5), name=f"box{i}")

        def pose(f: int, path=path, start=start, i=i) -> Pose:
            u = (f - fr.first) * scale
            x, z, hits = path(u)
            spin = 0.0 if u <= start else (u - start) * (22.0 - 5 * i) * (0.5 ** hits)
            return Pose(location=(x, 2.9 - 0.9 * i, z), rotation_deg=(spin * 0.3, spin, 10 * i))

        b.animate(box, pose)
    # The tall block trips: it falls about its front-bottom edge with accelerating angle.
    h, w = 2.2, 0.5
    block = b.add(b.mesh("cube", size=(w, w, h)), b.checker((0.85, 0.85, 0.8), (0.35, 0.1, 0.4), scale=2.0), name="block")

    def topple(f: int) -> Pose:
        u = (f - fr.first) * scale
        k = min(max((u - 12) / 9.0, 0.0), 1.0)
        ang = 90.0 * k * k  # angular acceleration, then it lands flat
        if k >= 1.0:
            ang = 90.0 - 6.0 * math.exp(-(u - 21)) * abs(math.sin((u - 21) * 1.5))
        a = math.radians(ang)
        px, pz = 2.0 + w / 2, 0.0  # pivot: the edge it falls over
        cx = px - (w / 2) * math.cos(a) + (h / 2) * math.sin(a)
        cz = pz + (w / 2) * math.sin(a) + (h / 2) * math.cos(a)
        return Pose(location=(cx, 3.0, cz), rotation_deg=(0, ang, 0))

    b.animate(block, topple)
    cam = b.camera(lens_mm=34.0)
    b.animate(cam, lambda f: Pose(location=(0.0, -7.0, 2.2), look_at=(0.0, 2.5, 1.0)), frames=[fr.first])


def build_whip_pan(b: Builder) -> None:
    """The camera pans slowly, whips ~100 degrees in a few frames, then settles (ease in/out)."""
    fr = b.shot
    b.world(color=(0.35, 0.38, 0.45), strength=0.7)
    b.sun(rotation_deg=(35, 0, 60), strength=3.0)
    _set(b, wall_y=None)
    rnd = random.Random(7)
    palette = [(WARM_A, WARM_B), (COOL_A, COOL_B), ((0.7, 0.7, 0.3), (0.2, 0.25, 0.1)), ((0.8, 0.4, 0.45), (0.25, 0.1, 0.15))]
    for i in range(16):  # a ring of textured panels and props around the camera
        a = math.radians(i * 22.5)
        r = 9.0
        c1, c2 = palette[i % 4]
        b.add(b.mesh("cube", size=(3.2, 0.3, 4.0)), b.checker(c1, c2, scale=1.3 + 0.2 * (i % 3)), name=f"panel{i}",
              location=(r * math.sin(a), r * math.cos(a), 2.0), rotation_deg=(0, 0, -math.degrees(a)))
        if i % 2 == 0:
            rr = 5.0 + rnd.random() * 2
            b.add(b.mesh("cube", size=0.8), b.noise(c1, c2, scale=3.0), name=f"prop{i}",
                  location=(rr * math.sin(a + 0.2), rr * math.cos(a + 0.2), 0.4), rotation_deg=(0, 0, rnd.random() * 90))
        if i % 4 == 1:
            _lamp(b, (7.0 * math.sin(a), 7.0 * math.cos(a), 2.4), strength=8.0)
    yaw = integrate(lambda t: 0.4 + 16.0 * bump(t, 0.5, 0.22), fr)
    cam = b.camera(lens_mm=28.0)

    def pose(f: int) -> Pose:
        a = math.radians(-40.0 + yaw(f))
        return Pose(location=(0, 0, 1.6), look_at=(math.sin(a), math.cos(a), 1.55))

    b.animate(cam, pose)


def build_thin_structures(b: Builder) -> None:
    """A fence of thin poles and wires sliding sideways (eased) and a spinning thin-bladed rotor."""
    fr = b.shot
    b.world(color=(0.4, 0.45, 0.5), strength=0.7)
    b.sun(rotation_deg=(50, 0, 20), strength=3.0)
    _set(b, wall_y=9.0, wall_mat=b.checker((0.7, 0.68, 0.62), (0.35, 0.4, 0.45), scale=0.8))
    slide = integrate(lambda t: 0.005 + 0.14 * bump(t, 0.4, 0.35), fr)
    pole = b.mesh("cylinder", size=(0.035, 3.0), segments=6)
    wire = b.mesh("cylinder", size=(0.018, 7.2), segments=6)
    dark = b.plain((0.06, 0.06, 0.07), roughness=0.35)
    bright = b.plain((0.9, 0.85, 0.7), roughness=0.4)
    for i in range(22):
        x0 = -3.6 + 0.33 * i
        ob = b.add(pole, dark if i % 3 else bright, name=f"pole{i}")
        b.animate(ob, lambda f, x0=x0: Pose(location=(x0 + slide(f), 1.0, 1.5)))
    for j in range(6):
        ob = b.add(wire, dark, name=f"wire{j}", rotation_deg=(0, 90, 0))
        b.animate(ob, lambda f, j=j: Pose(location=(slide(f), 0.95, 0.4 + 0.45 * j)))
    rotor_spin = integrate(lambda t: 1.0 + 30.0 * bump(t, 0.8, 0.2), fr)
    _lamp(b, (2.2, 3.0, 2.6), strength=6.0)
    for k in range(4):
        blade = b.add(b.mesh("cube", size=(1.6, 0.03, 0.03)), bright, name=f"blade{k}", location=(2.2, 2.9, 2.6))
        b.animate(blade, lambda f, k=k: Pose(rotation_deg=(0, rotor_spin(f) + 45 * k, 0)))
    cam = b.camera(lens_mm=35.0)
    b.animate(cam, lambda f: Pose(location=(0.3 * fr.t(f), -5.0, 1.5), look_at=(0.2, 3.0, 1.4)))


def build_motion_blur(b: Builder) -> None:
    """A ball thrown across frame and a bright spinning bar, with Cycles motion blur (shutter 0.5)."""
    fr = b.shot
    b.motion_blur(shutter=0.5)
    b.world(color=(0.35, 0.4, 0.48), strength=0.6)
    b.sun(rotation_deg=(45, 0, 30), strength=3.2)
    _set(b, wall_y=7.0)
    travel = integrate(lambda t: 0.02 + 0.5 * bump(t, 0.35, 0.3), fr)
    total = travel(fr.last) or 1.0
    ball = b.add(b.mesh("sphere", size=1.0, smooth=True, segments=24), b.checker((0.95, 0.9, 0.8), (0.1, 0.35, 0.7), scale=2.5),
                 name="ball")

    def arc(f: int) -> Pose:
        d = travel(f) / total
        return Pose(location=(-3.2 + 6.4 * d, 1.5, 0.5 + 2.2 * 4 * d * (1 - d)), rotation_deg=(0, 720 * d, 0))

    b.animate(ball, arc)
    bar_spin = integrate(lambda t: 0.5 + 40.0 * bump(t, 0.7, 0.25), fr)
    bar = b.add(b.mesh("cube", size=(1.8, 0.12, 0.12)), b.emissive((1.0, 0.5, 0.2), strength=5.0), name="bar",
                location=(1.5, 3.5, 2.0))
    b.animate(bar, lambda f: Pose(rotation_deg=(0, bar_spin(f), 0)))
    b.add(b.mesh("cube", size=1.0), b.checker(WARM_A, COOL_B, scale=2.0), name="crate", location=(-1.5, 3.5, 0.5))
    cam = b.camera(lens_mm=32.0)
    b.animate(cam, lambda f: Pose(location=(0.0, -5.5, 1.6), look_at=(0.0, 2.5, 1.1)), frames=[fr.first])


def build_particles(b: Builder) -> None:
    """Hundreds of small spheres in a vortex whose swirl speeds up and slows down; some are sparks."""
    fr = b.shot
    b.world(color=(0.3, 0.33, 0.4), strength=0.6)
    b.sun(rotation_deg=(40, 0, 15), strength=3.0)
    _set(b, wall_y=6.0)
    rnd = random.Random(11)
    swirl = integrate(lambda t: 0.4 + 9.0 * bump(t, 0.55, 0.35), fr)
    rise = integrate(lambda t: 0.004 + 0.03 * bump(t, 0.55, 0.35), fr)
    mats = [b.plain((0.85, 0.3, 0.2)), b.plain((0.2, 0.6, 0.85)), b.plain((0.9, 0.85, 0.7)), b.emissive((1.0, 0.8, 0.4), strength=5.0)]
    ball = b.mesh("ico", size=0.12, segments=1, smooth=True)
    for i in range(300):
        r = 0.3 + 1.7 * rnd.random()
        a0 = rnd.random() * 360
        z0 = 0.1 + 2.6 * rnd.random()
        w = 0.6 + 0.8 * rnd.random()  # own angular speed factor (inner particles faster)
        mat = mats[3] if i % 15 == 0 else mats[i % 3]
        s = 0.6 + 0.8 * rnd.random()
        ob = b.add(ball, mat, name=f"p{i}", scale=(s, s, s))

        def pose(f: int, r=r, a0=a0, z0=z0, w=w) -> Pose:
            a = math.radians(a0 + swirl(f) * w * (1.5 / (0.5 + r)))
            z = (z0 + rise(f) * w) % 2.8 + 0.1
            return Pose(location=(r * math.cos(a), 2.0 + r * math.sin(a), z))

        b.animate(ob, pose)
    cam = b.camera(lens_mm=32.0)
    b.animate(cam, lambda f: Pose(location=(0.0, -4.5, 1.7), look_at=(0.0, 2.0, 1.3)), frames=[fr.first])


def build_cut(b: Builder) -> None:
    """Two unrelated setups, 200 m apart, and a hard camera cut (timeline marker) mid-shot."""
    fr = b.shot
    b.world(color=(0.2, 0.22, 0.25), strength=0.5)
    # Setup A: warm, a ball rolling slowly.
    b.add(b.mesh("plane", size=30.0), b.checker(WARM_A, WARM_B, scale=1.0), name="floorA")
    b.add(b.mesh("plane", size=(30.0, 12.0)), b.noise((0.7, 0.5, 0.35), (0.35, 0.2, 0.12), scale=0.5),
          name="wallA", location=(0, 7, 6), rotation_deg=(90, 0, 0))
    b.area(location=(3, -3, 5), target=(0, 2, 0), power_w=1500.0, size=4.0, color=(1.0, 0.85, 0.7))
    _lamp(b, (2.0, 3.5, 1.6), strength=8.0)
    ball = b.add(b.mesh("sphere", size=1.2, smooth=True, segments=32), b.checker((0.9, 0.85, 0.75), (0.6, 0.15, 0.1), scale=2.0),
                 name="ballA")
    b.animate(ball, lambda f: Pose(location=(-1.0 + 1.2 * fr.t(f), 2.0, 0.6), rotation_deg=(0, 1.2 * fr.t(f) / 0.6 * 57.3, 0)))
    cam_a = b.camera(name="camA", lens_mm=35.0)
    b.animate(cam_a, lambda f: Pose(location=(0.5 * fr.t(f), -6.0, 1.6), look_at=(0.0, 2.0, 0.8)))
    # Setup B: cool, tall columns and a camera looking down from the side.
    ox = 200.0
    b.add(b.mesh("plane", size=30.0), b.checker(COOL_A, COOL_B, scale=0.7), name="floorB", location=(ox, 0, 0))
    b.area(location=(ox - 4, -2, 6), target=(ox, 2, 0), power_w=1500.0, size=4.0, color=(0.7, 0.85, 1.0))
    for i in range(5):
        col = b.add(b.mesh("cylinder", size=(0.6, 3.0), segments=24, smooth=True),
                    b.noise((0.85, 0.85, 0.8), (0.3, 0.35, 0.45), scale=2.5), name=f"columnB{i}",
                    location=(ox - 3 + 1.5 * i, 2.0 + (i % 2), 1.5))
        col.rotation_euler[2] = i * 0.6
    cube = b.add(b.mesh("cube", size=0.8), b.emissive((0.4, 0.8, 1.0), strength=4.0), name="glowB")
    b.animate(cube, lambda f: Pose(location=(ox + 1.5 - 2.0 * fr.t(f), 0.5, 0.4), rotation_deg=(0, 0, 90 * fr.t(f))))
    cam_b = b.camera(name="camB", lens_mm=24.0, active=False)
    b.animate(cam_b, lambda f: Pose(location=(ox + 5.0, -5.0, 4.0 - 0.5 * fr.t(f)), look_at=(ox, 1.5, 0.8)))
    b.scene.camera = cam_a
    b.scene.timeline_markers.new("A", frame=fr.first).camera = cam_a
    b.scene.timeline_markers.new("B", frame=cut_frame(fr.first, fr.last)).camera = cam_b


def build_easy_drift(b: Builder) -> None:
    """Static camera, objects drifting slowly (~1 px per frame at 320x180): the easy end."""
    fr = b.shot
    b.world(color=(0.35, 0.4, 0.48), strength=0.6)
    b.sun(rotation_deg=(45, 0, 40), strength=3.2)
    _set(b, wall_y=8.0)
    _lamp(b, (2.5, 4.0, 2.0), strength=8.0)
    ball = b.add(b.mesh("sphere", size=1.2, smooth=True, segments=32), b.checker((0.9, 0.9, 0.85), (0.2, 0.45, 0.3), scale=2.0),
                 name="ball")
    b.animate(ball, lambda f: Pose(location=(-1.5 + 0.6 * smoothstep(fr.t(f)), 2.5, 0.6), rotation_deg=(0, 40 * fr.t(f), 0)))
    box = b.add(b.mesh("cube", size=0.9), b.checker(WARM_A, COOL_B, scale=2.0), name="box")
    b.animate(box, lambda f: Pose(location=(1.2 - 0.4 * fr.t(f), 1.5, 0.45), rotation_deg=(0, 0, 20 + 15 * fr.t(f))))
    cam = b.camera(lens_mm=35.0)
    b.animate(cam, lambda f: Pose(location=(0.0, -7.0, 1.8), look_at=(0.0, 2.5, 0.8)), frames=[fr.first])


def build_easy_pan(b: Builder) -> None:
    """A slow, steady camera pan and truck over a static textured set (~2 px per frame)."""
    fr = b.shot
    b.world(color=(0.35, 0.4, 0.48), strength=0.6)
    b.sun(rotation_deg=(40, 0, -30), strength=3.2)
    _set(b, wall_y=8.0)
    _lamp(b, (-2.0, 4.0, 2.0), strength=8.0)
    for i in range(5):
        b.add(b.mesh("cube", size=0.9), b.checker(WARM_A if i % 2 else COOL_A, (0.9, 0.9, 0.85), scale=2.0), name=f"box{i}",
              location=(-4 + 2 * i, 2 + (i % 2), 0.45), rotation_deg=(0, 0, 17 * i))
    cam = b.camera(lens_mm=35.0)
    b.animate(cam, lambda f: Pose(location=(-1.0 + 1.0 * fr.t(f), -7.0, 1.8), look_at=(-0.5 + 1.5 * fr.t(f), 2.5, 0.8)))


# Scene name -> build function; names, descriptions and default settings live in catalog.py.
BUILDERS: dict[str, Callable[[Builder], None]] = {
    "sample": build_sample,
    "fast_spin": build_fast_spin,
    "trip_fall": build_trip_fall,
    "whip_pan": build_whip_pan,
    "thin_structures": build_thin_structures,
    "motion_blur": build_motion_blur,
    "particles": build_particles,
    "cut": build_cut,
    "easy_drift": build_easy_drift,
    "easy_pan": build_easy_pan,
}
assert BUILDERS.keys() == SCENE_DEFAULTS.keys(), "catalog.py and scenes.py list different scenes"
