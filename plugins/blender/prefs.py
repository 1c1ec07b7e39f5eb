"""Edit > Preferences > Add-ons > framefill: where framefill runs, its model cache and device."""

import bpy
from bpy.props import EnumProperty, StringProperty

__all__ = ["FramefillPreferences"]

DEVICES = (
    ("auto", "Auto", "The GPU when framefill's Python sees one, else the CPU"),
    ("cpu", "CPU", "Always the CPU (slow, but bit-identical everywhere)"),
    ("cuda", "CUDA GPU", "The first NVIDIA GPU"),
)


class FramefillPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    python: StringProperty(
        name="framefill Python", subtype="FILE_PATH",
        description="A Python with framefill installed (or the framefill program). Empty: $FRAMEFILL_PYTHON, "
                    "then framefill on PATH")
    models_dir: StringProperty(
        name="Model Cache", subtype="DIR_PATH",
        description="Folder of framefill's model weights (empty: framefill's default, "
                    "$FRAMEFILL_MODELS or ~/.cache/framefill/models)")
    device: EnumProperty(name="Device", items=DEVICES, default="auto")

    def draw(self, context: "bpy.types.Context") -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "python")
        layout.prop(self, "models_dir")
        layout.prop(self, "device")
        row = layout.row()
        row.operator("framefill.check_setup", icon="CHECKMARK")
