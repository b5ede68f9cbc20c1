"""TPC Animate for Blender: make the person in a photo perform a rig's motion, frames into the Sequencer.

The add-on is the light half of TPC Animate: it turns an animated armature (or a BVH, or a pose
file) into 2-D poses through the scene camera, sends them with the photo to a TPC Animate backend,
and files the frames that come back. The heavy work (perception, calibration, diffusion) runs in the
backend, so Blender never loads a model. Scripting contract: ``scene.tpc`` (see :mod:`.properties`)
and ``bpy.ops.tpc.import_motion()`` / ``bpy.ops.tpc.frame_performer()`` / ``bpy.ops.tpc.animate()`` /
``bpy.ops.tpc.reattach()`` / ``bpy.ops.tpc.cancel()``.
"""

import bpy

# Registered in this order (unregistered in reverse): settings first, panels after the operators they show.
register, unregister = bpy.utils.register_submodule_factory(
    __package__,
    (
        "properties",
        "preferences",
        "operators",
        "motion_operators",
        "reference_editor",
        "panels",
        "jobs",
    ),
)
