"""The thin layer of bpy calls: scene settings in, frames rendered out.

Everything that needs Blender is here (and in the operator, panel and
property modules); the jobs, naming and farm code take plain values.
"""

import os
from typing import Dict, List, Optional, Tuple

import bpy

from .framefill_host import HostError
from .framefill_host.runner import resolve_cli
from .jobs import SparseFillJob, SparseSettings
from .naming import EXR_FORMATS, pattern_from_frame_path, temp_render_path

__all__ = [
    "preferences",
    "cli_command",
    "cli_env",
    "device",
    "scene_frames",
    "output_pattern",
    "BlenderRenderer",
    "sparse_settings",
    "build_sparse_job",
]

# The extension's root package (``bl_ext.<repo>.framefill``): the key of its preferences.
ADDON_ID = __package__


def preferences(context: "bpy.types.Context") -> Optional["bpy.types.AddonPreferences"]:
    """The extension's preferences, or None while it is not enabled (a script imported it)."""
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def cli_command(context: "bpy.types.Context") -> List[str]:
    """The command that starts framefill: the Python preference, $FRAMEFILL_PYTHON, or ``framefill`` on PATH.

    Raises:
        HostError: nothing configured and nothing on PATH, or the preference names a missing file.
    """
    prefs = preferences(context)
    python = bpy.path.abspath(prefs.python) if prefs is not None and prefs.python.strip() else None
    return resolve_cli(python)


def cli_env(context: "bpy.types.Context") -> Dict[str, str]:
    """The CLI's environment: Blender's, plus the model cache from the preferences."""
    env = dict(os.environ)
    # Blender may run with its own PYTHONHOME; the framefill Python needs its own.
    env.pop("PYTHONHOME", None)
    prefs = preferences(context)
    if prefs is not None and prefs.models_dir.strip():
        env["FRAMEFILL_MODELS"] = bpy.path.abspath(prefs.models_dir)
    return env


def device(context: "bpy.types.Context") -> str:
    prefs = preferences(context)
    return prefs.device if prefs is not None else "auto"


def scene_frames(scene: "bpy.types.Scene") -> Tuple[int, ...]:
    """The scene's frame range (Start to End; Step is not used: framefill fills every frame)."""
    return tuple(range(scene.frame_start, scene.frame_end + 1))


def output_pattern(scene: "bpy.types.Scene") -> str:
    """The scene's output as a framefill pattern, with Blender's own naming (``/abs/shot_####.exr``).

    Raises:
        HostError: the output is not EXR, or has no .exr extension.
    """
    settings = scene.render.image_settings
    if settings.file_format not in EXR_FORMATS:
        raise HostError("framefill fills EXR frames (every layer and pass is kept); set Output Properties > "
                        "Output > File Format to OpenEXR MultiLayer (or OpenEXR), not {}".format(
                            settings.file_format))
    pattern = pattern_from_frame_path(lambda frame: scene.render.frame_path(frame=frame))
    if not pattern.lower().endswith(".exr"):
        raise HostError("the output {} has no .exr extension; turn on Output Properties > Output > "
                        "File Extensions or end the path in .exr".format(pattern))
    return pattern


class BlenderRenderer:
    """Render one frame of a scene to a file, atomically, with the scene's own settings.

    Blender writes a still render straight to its path, so it writes to a
    hidden name beside the destination which is then renamed into place: a
    cancelled or crashed render leaves no half-written frame.
    """

    def __init__(self, scene: "bpy.types.Scene") -> None:
        self.scene_name = scene.name

    def __call__(self, frame: int, dest: str, border: Optional[Tuple[float, float, float, float]] = None) -> None:
        """Render ``frame`` to ``dest``; ``border`` (min_x, max_x, min_y, max_y) renders only that part of a
        full-size frame (render border, not cropped: the rest is left empty)."""
        scene = bpy.data.scenes.get(self.scene_name)
        if scene is None:
            raise HostError("scene {!r} is gone (another file was opened?); run it again".format(self.scene_name))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = temp_render_path(dest)
        render = scene.render
        saved = (render.filepath, scene.frame_current, scene.frame_subframe)
        saved_border = (render.use_border, render.use_crop_to_border, render.border_min_x, render.border_max_x,
                        render.border_min_y, render.border_max_y)
        try:
            if border is not None:
                render.use_border, render.use_crop_to_border = True, False
                render.border_min_x, render.border_max_x, render.border_min_y, render.border_max_y = border
            else:
                render.use_border = False
            render.filepath = tmp
            scene.frame_set(frame)
            # A still render writes exactly render.filepath (no #### expansion, extension kept).
            result = bpy.ops.render.render(write_still=True, scene=scene.name)
            if "FINISHED" not in result or not os.path.isfile(tmp):
                raise HostError("Blender rendered no file for frame {} (expected {}); check the scene's "
                                "output settings".format(frame, tmp))
            os.replace(tmp, dest)
        except RuntimeError as err:  # bpy turns render errors into RuntimeError("Error: ...")
            raise HostError("Blender could not render frame {}: {}".format(frame, " ".join(str(err).split())))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
            render.filepath = saved[0]
            (render.use_border, render.use_crop_to_border, render.border_min_x, render.border_max_x,
             render.border_min_y, render.border_max_y) = saved_border
            scene.frame_set(saved[1], subframe=saved[2])


def sparse_settings(context: "bpy.types.Context") -> SparseSettings:
    """The Render sparse + fill settings of the current scene.

    Raises:
        HostError: the output is not an EXR sequence.
    """
    scene = context.scene
    ff = scene.framefill
    return SparseSettings(
        frames=scene_frames(scene),
        every=int(ff.every),
        output_pattern=output_pattern(scene),
        model=ff.model,
        device=device(context),
        threshold_db=float(ff.qc_threshold),
        rerender=bool(ff.rerender),
        regions=bool(getattr(ff, "rerender_regions", True)),
        resolution=(int(scene.render.resolution_x * scene.render.resolution_percentage / 100),
                    int(scene.render.resolution_y * scene.render.resolution_percentage / 100)),
        upscale=bool(ff.upscale),
        upscale_model=ff.upscale_model,
        upscale_scale=float(ff.upscale_scale),
    )


def build_sparse_job(context: "bpy.types.Context") -> SparseFillJob:
    """A Render sparse + fill job for the current scene, not started.

    Raises:
        HostError: bad output settings, or framefill not found.
    """
    settings = sparse_settings(context)
    return SparseFillJob(settings, render=BlenderRenderer(context.scene), cli=cli_command(context),
                         env=cli_env(context))
