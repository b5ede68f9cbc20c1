"""The TPC Animate panel, in the sidebar (N) of the 3D View and of the Video Sequencer.

Both spaces show the same panel: animators set up the shot in the 3D View and watch the result in
the Sequencer. The panel reads only ``scene.tpc`` and the running job, never the network, so
drawing stays instant whatever the backend does.
"""

from __future__ import annotations

import textwrap

import bpy

from . import jobs, pose_sources
from .bone_mapping import COCO17_NAMES
from .job_worker import JobState


def _wrapped(layout: bpy.types.UILayout, text: str, icon: str = "NONE", width: int = 44) -> None:
    lines = textwrap.wrap(text, width) or [""]
    for number, line in enumerate(lines):
        layout.label(text=line, icon=icon if number == 0 else "BLANK1")


def draw_main(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    scene = context.scene
    settings = scene.tpc
    running = jobs.active_job(scene) is not None

    box = layout.box()
    box.prop(settings, "reference_image")
    if settings.reference_thumbnail is not None:
        box.template_icon(icon_value=box.icon(settings.reference_thumbnail), scale=6.0)
    box.prop(settings, "use_reference_points")
    if settings.use_reference_points:
        box.label(text="Place them in the Image Editor, tab TPC", icon="INFO")

    box = layout.box()
    box.row().prop(settings, "pose_source", expand=True)
    if settings.pose_source == "ARMATURE":
        box.prop(settings, "armature")
        box.prop(settings, "use_mesh_masks")
    else:
        box.prop(settings, "pose_file")
    row = box.row(align=True)
    row.operator("tpc.import_motion", icon="IMPORT")
    row.operator("tpc.frame_performer", icon="VIEW_CAMERA")
    row = box.row(align=True)
    row.prop(scene, "frame_start", text="Start")
    row.prop(scene, "frame_end", text="End")
    if scene.camera is None:
        box.label(text="The scene needs an active camera", icon="ERROR")
    else:
        box.label(text=f"Seen through {scene.camera.name}", icon="CAMERA_DATA")

    layout.prop(settings, "backend")
    layout.prop(settings, "output_dir")

    row = layout.row(align=True)
    row.scale_y = 1.4
    if running:
        row.operator("tpc.cancel", icon="CANCEL")
    else:
        row.operator("tpc.animate", icon="PLAY")
        sub = row.row(align=True)
        sub.enabled = bool(settings.job_id)
        sub.operator("tpc.reattach", icon="LINKED")

    if settings.state != JobState.NONE.value:
        text = f"{settings.frames_done}/{settings.job_total} frames"
        if settings.status:
            text += f" - {settings.status}"
        layout.progress(factor=settings.progress, type="BAR", text=text)
        if settings.state == JobState.DETACHED.value and not running:
            layout.label(text="Not connected: Re-attach to collect frames", icon="INFO")
        elif settings.state in {JobState.DONE.value, JobState.CANCELLED.value, JobState.FAILED.value}:
            layout.operator("tpc.delete_on_backend", icon="TRASH")
    if settings.last_error:
        _wrapped(layout.box(), settings.last_error, icon="ERROR")
    if settings.warnings:
        box = layout.box()
        for warning in settings.warnings.splitlines():
            _wrapped(box, warning, icon="INFO")


def draw_engine(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    settings = context.scene.tpc
    layout.use_property_split = True
    layout.prop(settings, "engine")
    layout.prop(settings, "seed")
    layout.prop(settings, "use_tpc")
    row = layout.row()
    row.enabled = settings.use_tpc
    row.prop(settings, "use_independent_frames")
    layout.prop(settings, "groups")
    column = layout.column()
    column.enabled = settings.engine != "preview"
    column.prop(settings, "use_trained_settings")
    chosen = column.column()
    chosen.enabled = not settings.use_trained_settings
    chosen.prop(settings, "steps")
    chosen.prop(settings, "guidance")
    row = column.row()
    row.enabled = settings.use_tpc
    row.prop(settings, "use_person_tokens")
    layout.prop(settings, "timeout")


def draw_mapping(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    scene = context.scene
    settings = scene.tpc
    armature = pose_sources.current_armature(scene)
    if armature is None:
        layout.label(text="Choose an armature (or import the motion) first", icon="INFO")
        return
    mapping = pose_sources.mapping_for(settings, armature)
    if not settings.keypoint_overrides:
        column = layout.column(align=True)
        for index, name in enumerate(COCO17_NAMES):
            row = column.row()
            row.label(text=name.replace("_", " ").capitalize())
            row.label(text=mapping.describe(index))
        layout.operator("tpc.customize_mapping", icon="GREASEPENCIL")
        return
    for item in settings.keypoint_overrides:
        row = layout.row(align=True)
        row.label(text=item.name.replace("_", " ").capitalize())
        row.prop_search(item, "bone", armature.data, "bones", text="")
        row.prop(item, "end", text="")
    layout.operator("tpc.reset_mapping", icon="LOOP_BACK")


def _panels_for(space: str, prefix: str) -> tuple[type, ...]:
    main_id = f"{prefix}_PT_tpc_animate"

    class Main(bpy.types.Panel):
        bl_idname = main_id
        bl_label = "TPC Animate"
        bl_space_type = space
        bl_region_type = "UI"
        bl_category = "TPC"

        def draw(self, context):
            draw_main(self.layout, context)

    class Engine(bpy.types.Panel):
        bl_idname = f"{prefix}_PT_tpc_engine"
        bl_label = "Engine"
        bl_space_type = space
        bl_region_type = "UI"
        bl_category = "TPC"
        bl_parent_id = main_id
        bl_options = {"DEFAULT_CLOSED"}

        def draw(self, context):
            draw_engine(self.layout, context)

    class Mapping(bpy.types.Panel):
        bl_idname = f"{prefix}_PT_tpc_mapping"
        bl_label = "Bone Mapping"
        bl_space_type = space
        bl_region_type = "UI"
        bl_category = "TPC"
        bl_parent_id = main_id
        bl_options = {"DEFAULT_CLOSED"}

        def draw(self, context):
            draw_mapping(self.layout, context)

    return Main, Engine, Mapping


CLASSES = (*_panels_for("VIEW_3D", "VIEW3D"), *_panels_for("SEQUENCE_EDITOR", "SEQUENCER"))


register, unregister = bpy.utils.register_classes_factory(CLASSES)
