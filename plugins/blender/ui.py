"""Output Properties > framefill: the panel and its sub-panels."""

import json

import bpy

__all__ = ["CLASSES"]


def _last_report(scene: "bpy.types.Scene") -> dict:
    try:
        doc = json.loads(scene.framefill.last_report or "{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


class FRAMEFILL_PT_output(bpy.types.Panel):
    """Render fewer frames: Blender renders every Nth, framefill fills and checks the rest"""

    bl_label = "framefill"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "output"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: "bpy.types.Context") -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        ff = context.scene.framefill
        runtime = context.window_manager.framefill

        col = layout.column()
        col.prop(ff, "every")
        col.prop(ff, "model")
        col.prop(ff, "qc_threshold", text="QC Threshold (dB)")
        col.prop(ff, "rerender")
        sub = col.column()
        sub.active = ff.rerender
        sub.prop(ff, "rerender_regions")
        col.prop(ff, "upscale")
        sub = col.column()
        sub.active = ff.upscale
        sub.prop(ff, "upscale_model")
        sub.prop(ff, "upscale_scale")

        row = layout.row()
        row.scale_y = 1.4
        row.operator("framefill.render_sparse", icon="RENDER_ANIMATION")
        if runtime.running:
            layout.progress(factor=runtime.progress, type="BAR", text=runtime.status or "working")
            layout.label(text="Esc cancels after the current frame; run again to resume", icon="INFO")
            return
        doc = _last_report(context.scene)
        if doc:
            box = layout.box()
            box.label(text="Last run: {} frames: {} rendered, {} filled, {} re-rendered".format(
                doc.get("frames_total"), doc.get("rendered"), doc.get("filled"), doc.get("rerendered")))
            wall, full = doc.get("wall_seconds"), doc.get("estimated_full_render_seconds")
            if full:
                box.label(text="{:.1f} s; full render ~{:.1f} s ({:.2f}x)".format(wall, full, wall / full))
            if doc.get("region_pixels"):
                box.label(text="Re-rendered {:.0%} of the listed frames' pixels as regions".format(
                    doc["region_pixels"] / max(doc.get("region_full_frame_pixels") or 1, 1)))
            if doc.get("unresolved_frames"):
                box.label(text="QC flags {} frame(s) for a real render".format(len(doc["unresolved_frames"])),
                          icon="ERROR")
            if doc.get("qc_report"):
                box.operator("framefill.open_qc_report", icon="URL").path = doc["qc_report"]


class _ClosedSubPanel:
    """Shared settings of the collapsed sub-panels under Output Properties > framefill."""

    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "output"
    bl_parent_id = "FRAMEFILL_PT_output"
    bl_options = {"DEFAULT_CLOSED"}


class FRAMEFILL_PT_sequences(_ClosedSubPanel, bpy.types.Panel):
    bl_label = "Image Sequences"

    def draw(self, context: "bpy.types.Context") -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        ff = context.scene.framefill
        box = layout.box()
        box.label(text="Interpolate (fill missing frames)", icon="SEQUENCE")
        box.prop(ff, "interp_input")
        box.prop(ff, "interp_output")
        box.prop(ff, "interp_frames")
        box.operator("framefill.interpolate_sequence", icon="PLAY")
        box = layout.box()
        box.label(text="Upscale (model and scale above)", icon="FULLSCREEN_ENTER")
        box.prop(ff, "upscale_input")
        box.prop(ff, "upscale_output")
        box.prop(ff, "upscale_frames")
        box.operator("framefill.upscale_sequence", icon="PLAY")


class FRAMEFILL_PT_farm(_ClosedSubPanel, bpy.types.Panel):
    bl_label = "Deadline Cloud"

    def draw(self, context: "bpy.types.Context") -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        ff = context.scene.framefill
        layout.prop(ff, "farm_folder")
        layout.prop(ff, "farm_chunk_size")
        layout.operator("framefill.submit_deadline", icon="EXPORT")
        layout.operator("framefill.submit_rerender", icon="EXPORT")


CLASSES = (FRAMEFILL_PT_output, FRAMEFILL_PT_sequences, FRAMEFILL_PT_farm)
