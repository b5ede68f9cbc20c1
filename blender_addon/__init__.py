"""TPC Animate for Blender: make the person in a photo perform a rig's motion, frames into the Sequencer.

The add-on is the light half of TPC Animate: it turns an animated armature (or a BVH, or a pose
file) into 2-D poses through the scene camera, sends them with the photo to a TPC Animate backend,
and files the frames that come back. The heavy work (perception, calibration, diffusion) runs in the
backend, so Blender never loads a model. Scripting contract: ``scene.tpc`` (see :mod:`.properties`)
and ``bpy.ops.tpc.animate()`` / ``bpy.ops.tpc.reattach()`` / ``bpy.ops.tpc.cancel()``.
"""

from . import jobs, operators, panels, preferences, properties

_MODULES = (properties, preferences, operators, panels, jobs)


def register() -> None:
    for module in _MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(_MODULES):
        module.unregister()
