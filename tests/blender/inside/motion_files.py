"""Motion files for the import tests, written from real skeletons: the Bandai Namco hierarchy with motion of
our own (its data set's motion may not be committed), and a Mixamo-named rig exported as FBX by Blender.
"""

from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
from bvh_hierarchy import joints as bvh_joints
from mathutils import Matrix

DATA = Path(__file__).resolve().parents[1] / "data"
CMU_EXCERPT = DATA / "cmu_02_03_excerpt.bvh"
BANDAI_HIERARCHY = DATA / "bandai_namco_hierarchy.bvh.txt"


def _frame_with_x(direction, up_hint=(0.0, 1.0, 0.0)) -> np.ndarray:
    """A rotation whose X axis points along ``direction`` (its Y as close to ``up_hint`` as it can)."""
    x = np.asarray(direction, dtype=float)
    x /= np.linalg.norm(x)
    hint = np.asarray(up_hint, dtype=float)
    if abs(np.dot(hint, x)) > 0.9:
        hint = np.array([0.0, 0.0, 1.0])
    z = np.cross(x, hint)
    z /= np.linalg.norm(z)
    return np.stack([x, np.cross(z, x), z], axis=1)


def bandai_namco_walk(path: Path, frames: int = 40) -> Path:
    """The Bandai Namco skeleton (bones along X in its rest pose, the head ending in a zero End Site) in
    centimetres, Y up, facing +Z, standing up and swinging its arms and legs while it walks forward."""
    hierarchy = BANDAI_HIERARCHY.read_text()
    joints = bvh_joints(hierarchy)
    names = [joint[0] for joint in joints]
    assert names[:2] == ["joint_Root", "Hips"], names
    rows = []
    for frame in range(frames):
        swing = math.radians(25) * math.sin(2 * math.pi * frame / frames)
        world = {  # the world rotation of each joint; X (or -X on the right) runs along its chain
            "joint_Root": np.eye(3),
            "Hips": np.stack([[0, 1, 0], [-1, 0, 0], [0, 0, 1]], axis=1).astype(float),  # X up, legs apart along X
            "Chest": np.stack([[0, 1, 0], [0, 0, 1], [1, 0, 0]], axis=1).astype(float),  # X up, shoulders apart along X
        }
        world["Spine"], world["Neck"], world["Head"] = world["Hips"], world["Chest"], world["Chest"]
        for side, sign in (("L", 1.0), ("R", -1.0)):
            leg = np.array([0.0, -math.cos(swing), sign * math.sin(swing)])
            arm = np.array([sign * 0.5, -math.cos(swing), -sign * math.sin(swing)])
            world[f"Shoulder_{side}"] = _frame_with_x([1.0, 0.0, 0.0])  # along +X, or -X on the right: outwards
            for part, direction in (("UpperArm", arm), ("LowerArm", arm), ("Hand", arm), ("UpperLeg", leg), ("LowerLeg", leg)):
                world[f"{part}_{side}"] = _frame_with_x(sign * direction)
            world[f"Foot_{side}"] = world[f"Toes_{side}"] = _frame_with_x([0.0, 0.0, sign])  # toes forward (+Z)
        values = []
        for name, parent, offset, channels in joints:
            local = world[name] if parent is None else world[parent].T @ world[name]
            euler = Matrix(local.tolist()).to_euler("YXZ")  # BVH "Zrotation Xrotation Yrotation": Rz Rx Ry
            position = np.array(offset) + (np.array([0.0, 0.0, 3.0 * frame]) if name == "Hips" else 0.0)
            rotation = {"Zrotation": euler.z, "Xrotation": euler.x, "Yrotation": euler.y}
            for channel in channels:
                values.append(float(position["XYZ".index(channel[0])]) if channel.endswith("position") else math.degrees(rotation[channel]))
        rows.append(" ".join(f"{value:.5f}" for value in values))
    path.write_text(hierarchy + f"MOTION\nFrames:\t{frames}\nFrame Time:\t0.0333333\n" + "\n".join(rows) + "\n")
    return path


MIXAMO_FINGERS = ("Thumb", "Index", "Middle", "Ring", "Pinky")


def mixamo_fbx(path: Path, frames: int = 20, fps: int = 30) -> Path:
    """A Mixamo-named rig (``mixamorig:`` bones with four-bone fingers) in centimetres, waving its left arm,
    exported by Blender's FBX exporter: what animators download from Mixamo, as far as bones go."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = fps, 1, frames
    data = bpy.data.armatures.new("Armature")
    rig = bpy.data.objects.new("Armature", data)
    scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    m = "mixamorig:"

    def bone(name, head, tail, parent=None):
        edit = data.edit_bones.new(m + name)
        edit.head, edit.tail = [v * 100 for v in head], [v * 100 for v in tail]  # centimetres, as Mixamo's are
        if parent:
            edit.parent = data.edit_bones[m + parent]
            edit.use_connect = False

    bone("Hips", (0, 0, 1.0), (0, 0, 1.1))
    bone("Spine", (0, 0, 1.1), (0, 0, 1.22), "Hips")
    bone("Spine1", (0, 0, 1.22), (0, 0, 1.34), "Spine")
    bone("Spine2", (0, 0, 1.34), (0, 0, 1.46), "Spine1")
    bone("Neck", (0, 0, 1.5), (0, 0, 1.6), "Spine2")
    bone("Head", (0, 0, 1.6), (0, 0, 1.78), "Neck")
    for side, x in (("Left", 1), ("Right", -1)):
        bone(f"{side}Shoulder", (0.05 * x, 0, 1.45), (0.18 * x, 0, 1.45), "Spine2")
        bone(f"{side}Arm", (0.18 * x, 0, 1.45), (0.45 * x, 0, 1.45), f"{side}Shoulder")
        bone(f"{side}ForeArm", (0.45 * x, 0, 1.45), (0.7 * x, 0, 1.45), f"{side}Arm")
        bone(f"{side}Hand", (0.7 * x, 0, 1.45), (0.78 * x, 0, 1.45), f"{side}ForeArm")
        for number, finger in enumerate(MIXAMO_FINGERS):
            y = -0.03 + 0.015 * number
            parent = f"{side}Hand"
            for joint in range(1, 5):
                start = 0.78 + 0.025 * (joint - 1)
                bone(f"{side}Hand{finger}{joint}", (start * x, y, 1.45), ((start + 0.025) * x, y, 1.45), parent)
                parent = f"{side}Hand{finger}{joint}"
        bone(f"{side}UpLeg", (0.1 * x, 0, 1.0), (0.1 * x, 0, 0.55), "Hips")
        bone(f"{side}Leg", (0.1 * x, 0, 0.55), (0.1 * x, 0, 0.1), f"{side}UpLeg")
        bone(f"{side}Foot", (0.1 * x, 0, 0.1), (0.1 * x, -0.12, 0.02), f"{side}Leg")
    bpy.ops.object.mode_set(mode="OBJECT")
    rig.scale = (0.01, 0.01, 0.01)  # Mixamo rigs come as centimetre bones on a 0.01-scaled armature
    arm = rig.pose.bones[m + "LeftArm"]
    arm.rotation_mode = "XYZ"
    for frame, angle in ((1, -60.0), (frames, 40.0)):
        arm.rotation_euler = (0.0, 0.0, math.radians(angle))
        arm.keyframe_insert("rotation_euler", frame=frame)
    bpy.ops.export_scene.fbx(filepath=str(path), object_types={"ARMATURE"}, bake_anim=True, add_leaf_bones=False)
    return path
