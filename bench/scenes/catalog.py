"""The scene catalogue and small value types, importable without bpy.

Bench tooling for framefill's procedural test scenes; never imports framefill. `scenes.py`
(which needs bpy) attaches a build function to every name listed here.
"""

from __future__ import annotations

from dataclasses import dataclass


class SceneScriptError(RuntimeError):
    """A scene script was misused (unknown scene, bad range) or Blender's output was not as expected."""


@dataclass(frozen=True)
class FrameRange:
    """An inclusive range of frame numbers."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise SceneScriptError(f"frame range {self.first}-{self.last} is empty; write FIRST-LAST with FIRST <= LAST")

    @classmethod
    def parse(cls, value: "str | tuple[int, int] | FrameRange") -> "FrameRange":
        """Parse "1001-1032", "1001" or a (first, last) tuple."""
        if isinstance(value, FrameRange):
            return value
        if isinstance(value, tuple) and len(value) == 2:
            return cls(int(value[0]), int(value[1]))
        parts = str(value).strip().split("-")
        try:
            if len(parts) == 1:
                return cls(int(parts[0]), int(parts[0]))
            if len(parts) == 2:
                return cls(int(parts[0]), int(parts[1]))
        except ValueError:
            pass
        raise SceneScriptError(f"bad frame range {value!r}; write FIRST-LAST, e.g. 1001-1032")

    @property
    def frames(self) -> range:
        return range(self.first, self.last + 1)

    def t(self, frame: float) -> float:
        """Normalised shot time: 0 at the first frame, 1 at the last (0 for a one-frame range)."""
        return 0.0 if self.last == self.first else (frame - self.first) / (self.last - self.first)

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


def parse_res(value: "str | tuple[int, int]") -> tuple[int, int]:
    """Parse "320x180" or (320, 180) into (width, height)."""
    if isinstance(value, tuple):
        w, h = value
    else:
        try:
            w, h = (int(v) for v in str(value).lower().split("x"))
        except ValueError:
            raise SceneScriptError(f"bad resolution {value!r}; write WIDTHxHEIGHT, e.g. 320x180") from None
    if w < 8 or h < 8:
        raise SceneScriptError(f"resolution {w}x{h} is too small; use at least 8x8")
    return int(w), int(h)


@dataclass(frozen=True)
class SceneDefaults:
    """A scene's name, what it is for, and the settings it renders with unless told otherwise."""

    name: str
    description: str
    res: tuple[int, int] = (320, 180)
    frames: tuple[int, int] = (1001, 1032)
    samples: int = 16
    # QC scenes are ground truth for an error predictor: lossless. The sample shot must fit the
    # repo's 5 MB budget, so its beauty is DWAB (see exr_io.py for what DWA keeps lossless).
    compression: str = "zip"


# The QC family spans easy (slow drift) to hard (fast spin, whip pan, thin structures, cuts);
# speeds follow ease-in/out profiles so each scene has easy and hard in-betweens too.
SCENE_DEFAULTS: dict[str, SceneDefaults] = {
    s.name: s
    for s in (
        SceneDefaults("sample", "the bundled sample shot: slow drift, fast tumble, occlusion, dolly, lamp",
                      res=(480, 270), frames=(1001, 1024), samples=16, compression="dwab"),
        SceneDefaults("fast_spin", "propeller and cube spinning up to ~50 deg/frame over a transparent background"),
        SceneDefaults("trip_fall", "boxes sliding off a ledge, tumbling and bouncing; a tall block tripping over"),
        SceneDefaults("whip_pan", "camera whip pan (up to ~16 deg/frame) across a ring of textured panels"),
        SceneDefaults("thin_structures", "a fence of thin poles and wires sliding sideways; a thin-bladed rotor"),
        SceneDefaults("motion_blur", "thrown ball and spinning emissive bar, Cycles motion blur (shutter 0.5)"),
        SceneDefaults("particles", "300 small spheres swirling in a vortex, some emissive"),
        SceneDefaults("cut", "two unrelated setups with a hard camera cut at the middle frame"),
        SceneDefaults("easy_drift", "static camera, objects drifting slowly"),
        SceneDefaults("easy_pan", "slow steady camera pan and truck over a static set"),
    )
}


def cut_frame(first: int, last: int) -> int:
    """The first frame of the second setup in the `cut` scene (the middle of the range)."""
    return first + (last - first + 1) // 2
