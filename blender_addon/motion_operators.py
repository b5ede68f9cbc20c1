"""Import Motion and Frame Performer: getting a motion file onto the stage before animating it.

``bpy.ops.tpc.import_motion(filepath=...)`` imports a BVH or FBX file (see :mod:`.motion_import`),
makes the imported armature the scene's pose source, and reports what it found (frames, rate, unit,
height); ``bpy.ops.tpc.frame_performer()`` sets up a camera that keeps the performer in view over the
scene range (see :mod:`.framing`). In the panel, Import Motion opens a file browser.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from . import framing, pose_checks, pose_sources
from .motion_import import MotionImportError, import_motion
from .operators import fail


class TPC_OT_import_motion(bpy.types.Operator, ImportHelper):
    """Import a BVH or FBX motion capture: upright, at human size in metres, at the origin, with the scene's range
    and frame rate from the file, and a camera that keeps the performer in view"""

    bl_idname = "tpc.import_motion"
    bl_label = "Import Motion"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.bvh;*.fbx", options={"HIDDEN"})
    retime: BoolProperty(
        name="Retime to Scene FPS", default=False,
        description="Keep the scene's frame rate and stretch the motion to it (off: the scene takes the file's rate)",
    )  # fmt: skip
    frame_camera: BoolProperty(
        name="Frame Performer", default=True,
        description="When the scene has no camera, or its camera loses the performer, set up one that keeps them in view",
    )  # fmt: skip

    def execute(self, context):
        settings = context.scene.tpc
        if not (self.filepath or settings.pose_file):
            return fail(self, settings, "Choose a BVH or FBX file to import.")
        path = bpy.path.abspath(self.filepath or settings.pose_file)
        try:
            motion = import_motion(
                context, path, lambda rig: pose_sources.mapping_for(settings, rig), retime=self.retime, frame_camera=self.frame_camera
            )
        except MotionImportError as error:
            return fail(self, settings, str(error))
        settings.pose_source, settings.armature = "ARMATURE", motion.armature
        settings.last_error, settings.warnings = "", "\n".join(motion.warnings)
        self.report({"INFO"}, motion.summary())
        for warning in motion.warnings:
            self.report({"WARNING"}, warning)
        return {"FINISHED"}


class TPC_OT_frame_performer(bpy.types.Operator):
    """Set up a camera ("TPC Camera") that keeps the performer in view over the whole scene range; your own
    cameras are left as they are"""

    bl_idname = "tpc.frame_performer"
    bl_label = "Frame Performer"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        scene = context.scene
        settings = scene.tpc
        armature = pose_sources.current_armature(scene)
        if armature is None:
            return fail(self, settings, "There is no performer to frame: choose the armature (or import the motion) first.")
        mapping = pose_sources.mapping_for(settings, armature)
        if len(framing.mapped_body(mapping)) < 2:
            return fail(self, settings, pose_checks.unmapped_warning(armature.name, mapping.unmapped))
        camera = framing.frame_performer(scene, armature, mapping)
        settings.last_error = ""
        self.report({"INFO"}, f"{camera.name} keeps {armature.name} in view over frames {scene.frame_start}-{scene.frame_end}")
        return {"FINISHED"}


CLASSES = (TPC_OT_import_motion, TPC_OT_frame_performer)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
