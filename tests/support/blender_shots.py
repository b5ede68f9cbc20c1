"""Shots built with Blender's own tools (bpy only): a Rigify human metarig, a camera, keyframed motion.

Shared by the Blender add-on's tests (tests/blender/inside) and its benchmark. The motion is what the
add-on's acceptance tests ask for: both arms rise, the body turns, and the camera dollies in so the
person grows in frame. The body mesh is a box around each main bone, weighted fully to that bone and
deformed by an Armature modifier, so silhouettes follow the pose as a skinned character's would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import bpy
import numpy as np
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Matrix, Vector

BODY_BONES = {  # bone -> half-width of its box (metres)
    "spine": 0.14, "spine.001": 0.14, "spine.002": 0.15, "spine.003": 0.15, "spine.004": 0.05, "spine.005": 0.05,
    "spine.006": 0.1, "upper_arm.L": 0.05, "upper_arm.R": 0.05, "forearm.L": 0.04, "forearm.R": 0.04,
    "hand.L": 0.04, "hand.R": 0.04, "thigh.L": 0.07, "thigh.R": 0.07, "shin.L": 0.05, "shin.R": 0.05,
    "foot.L": 0.04, "foot.R": 0.04,
}  # fmt: skip


@dataclass
class Shot:
    scene: bpy.types.Scene
    rig: bpy.types.Object
    camera: bpy.types.Object


def human_shot(scene: bpy.types.Scene, frames: int = 12, size: tuple[int, int] = (256, 256)) -> Shot:
    """A metarig seen from the front by a camera that dollies in while the arms rise and the body turns."""
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.fps = 24
    scene.frame_start, scene.frame_end = 1, frames
    if "rigify" not in bpy.context.preferences.addons:
        bpy.ops.preferences.addon_enable(module="rigify")
    bpy.ops.object.armature_human_metarig_add()
    rig = bpy.context.object

    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    camera.rotation_euler = (math.radians(90), 0.0, 0.0)  # looks along +Y, at the rig's front
    for frame, distance in ((1, -7.0), (frames, -4.5)):
        camera.location = (0.0, distance, 1.0)
        camera.keyframe_insert("location", frame=frame)

    for frame, raise_angle, turn in ((1, 0.0, 0.0), (frames, 70.0, 40.0)):
        for side, sign in (("L", -1.0), ("R", 1.0)):
            rotate_bone(rig, f"upper_arm.{side}", Matrix.Rotation(math.radians(sign * raise_angle), 3, "Y"), frame)
        rotate_bone(rig, "spine", Matrix.Rotation(math.radians(turn), 3, "Z"), frame)
    scene.frame_set(scene.frame_start)
    return Shot(scene, rig, camera)


def rotate_bone(rig: bpy.types.Object, name: str, rotation: Matrix, frame: int) -> None:
    """Key a pose rotation given in armature space (about the bone's head)."""
    bone = rig.pose.bones[name]
    rest = bone.bone.matrix_local.to_3x3()
    bone.rotation_mode = "QUATERNION"
    bone.rotation_quaternion = (rest.inverted() @ rotation @ rest).to_quaternion()
    bone.keyframe_insert("rotation_quaternion", frame=frame)


def add_body_mesh(rig: bpy.types.Object) -> bpy.types.Object:
    """A box around each main bone, skinned to it, deformed by the rig."""
    vertices, faces, groups = [], [], []
    quads = ((0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3))
    for name, radius in BODY_BONES.items():
        bone = rig.data.bones[name]
        x_axis, z_axis = (bone.matrix_local.to_3x3() @ Vector(axis) for axis in ((1, 0, 0), (0, 0, 1)))
        first = len(vertices)
        for end in (bone.head_local, bone.tail_local):
            for dx in (-radius, radius):
                for dz in (-radius, radius):
                    vertices.append(end + dx * x_axis + dz * z_axis)
        faces += [tuple(first + i for i in quad) for quad in quads]
        groups.append((name, range(first, first + 8)))
    mesh = bpy.data.meshes.new("Body")
    mesh.from_pydata([tuple(v) for v in vertices], [], faces)
    body = bpy.data.objects.new("Body", mesh)
    bpy.context.scene.collection.objects.link(body)
    for name, indices in groups:
        body.vertex_groups.new(name=name).add(list(indices), 1.0, "REPLACE")
    body.modifiers.new("Armature", "ARMATURE").object = rig
    return body


def expected_pixels(scene: bpy.types.Scene, camera: bpy.types.Object, points) -> np.ndarray:
    """(x, y, depth) of world points through bpy_extras' world_to_camera_view (the reference), in render
    pixels of the project's convention: pixel centres at whole numbers, the render spanning -0.5 .. W - 0.5."""
    width = scene.render.resolution_x * scene.render.resolution_percentage // 100  # as Blender sizes renders
    height = scene.render.resolution_y * scene.render.resolution_percentage // 100
    rows = []
    for point in points:
        ndc = world_to_camera_view(scene, camera, Vector(point))  # 0..1 across the render's outer edges
        rows.append((ndc.x * width - 0.5, (1.0 - ndc.y) * height - 0.5, ndc.z))
    return np.array(rows)


def bone_end_world(rig: bpy.types.Object, name: str, end: str = "HEAD") -> Vector:
    """World position of a pose bone's head or tail at the current frame (evaluated rig)."""
    evaluated = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
    bone = evaluated.pose.bones[name]
    return evaluated.matrix_world @ (bone.head if end == "HEAD" else bone.tail)


def read_pixels(path) -> np.ndarray:
    """An image file through Blender's own loader, as (H, W, 4) float32 with row 0 at the top; the
    image datablock is removed again."""
    image = bpy.data.images.load(str(path))
    try:
        width, height = image.size
        pixels = np.empty(width * height * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    return pixels.reshape(height, width, 4)[::-1]  # Blender's rows start at the bottom
