"""The extension's settings: per scene (saved in the .blend) and per session (progress)."""

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

__all__ = ["FramefillSceneSettings", "FramefillRuntime", "CLASSES", "register", "unregister"]

FILL_MODELS = (
    ("rife-4", "RIFE 4.25", "Practical-RIFE 4.25: the default, best on most shots"),
    ("rife-hdv3", "RIFE HD v3.6", "RIFE HD v3.6 (ECCV 2022); other times than the middle by bisection"),
    ("rife-4+hdv3", "RIFE 4.25 + HD v3.6", "Both networks, their fills averaged: ~2.5x the time"),
    ("flow", "Optical Flow", "OpenCV DIS flow with occlusion-aware blending; no weights needed"),
    ("blend", "Cross-Dissolve", "A plain cross-dissolve: a baseline, not for final frames"),
)
UPSCALE_MODELS = (
    ("realesrgan-x4plus", "Real-ESRGAN x4plus", "Photographic and live-action detail"),
    ("realesrgan-x4plus-anime", "Real-ESRGAN x4plus Anime", "Illustration and animation stills"),
    ("realesr-animevideov3", "Real-ESRGAN AnimeVideo v3", "Animation, fast (x2, x3, x4)"),
    ("lanczos", "Lanczos", "Classical Lanczos-4 resampling; no weights needed"),
)
# framefill qc's default: a filled frame below 30 dB PSNR against the real render is visibly off.
DEFAULT_THRESHOLD_DB = 30.0


class FramefillSceneSettings(bpy.types.PropertyGroup):
    """Output Properties > framefill (saved with the scene)."""

    every: IntProperty(
        name="Render Every", default=2, min=1, soft_max=8, max=1000,
        description="Render every Nth frame of the frame range (and always the last); framefill fills the rest")
    model: EnumProperty(name="Fill Model", items=FILL_MODELS, default="rife-4",
                        description="The model that makes the frames in between")
    qc_threshold: FloatProperty(
        name="QC Threshold", default=DEFAULT_THRESHOLD_DB, min=10.0, max=60.0, precision=1,
        description="Predicted PSNR in dB below which QC sends a filled frame back for a real render")
    rerender: BoolProperty(
        name="Re-render Flagged Frames", default=True,
        description="Render the frames QC flags for real and put them in the sequence")
    rerender_regions: BoolProperty(
        name="Only the Regions", default=True,
        description="Re-render only the regions QC marks (render border) and patch them into the filled frames; "
                    "the whole frame when QC says so")
    upscale: BoolProperty(name="Upscale Output", default=False,
                          description="Upscale the finished sequence into upscaled/ beside it")
    upscale_model: EnumProperty(name="Upscale Model", items=UPSCALE_MODELS, default="realesrgan-x4plus")
    upscale_scale: FloatProperty(name="Scale", default=2.0, min=1.0, max=8.0, precision=2,
                                 description="Output size as a multiple of the render size")

    interp_input: StringProperty(
        name="Input", subtype="FILE_PATH",
        description="A rendered EXR sequence with gaps: pick one frame, or type a pattern such as //r/shot_####.exr")
    interp_output: StringProperty(
        name="Output", subtype="FILE_PATH",
        description="Where the complete sequence goes (a pattern with ####); the input's own pattern fills in place")
    interp_frames: StringProperty(
        name="Frames", description="Frames to write, e.g. 1-100 (empty: first to last frame on disk)")
    upscale_input: StringProperty(
        name="Input", subtype="FILE_PATH",
        description="An image sequence: pick one frame, or type a pattern such as //r/shot_####.exr")
    upscale_output: StringProperty(name="Output", subtype="FILE_PATH",
                                   description="Where the upscaled frames go (a pattern with ####)")
    upscale_frames: StringProperty(name="Frames", description="Frames to upscale (empty: all on disk)")

    farm_folder: StringProperty(
        name="Job Bundle Folder", subtype="DIR_PATH", default="//framefill_job",
        description="Where the Deadline Cloud job bundle is saved (the re-render job's in <folder>_rerender)")
    farm_chunk_size: IntProperty(name="Frames per Task", default=8, min=1, max=1000,
                                 description="Frames per fill task on the farm")

    last_report: StringProperty(name="Last Report", options={"HIDDEN"},
                                description="JSON of the last Render sparse + fill")


class FramefillRuntime(bpy.types.PropertyGroup):
    """Progress of the running job (window manager: not saved)."""

    running: BoolProperty(default=False)
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    status: StringProperty(default="")


CLASSES = (FramefillSceneSettings, FramefillRuntime)


def register() -> None:
    bpy.types.Scene.framefill = PointerProperty(type=FramefillSceneSettings)
    bpy.types.WindowManager.framefill = PointerProperty(type=FramefillRuntime)


def unregister() -> None:
    del bpy.types.WindowManager.framefill
    del bpy.types.Scene.framefill
