"""The motion a job follows, from whichever source the user picked in the panel.

An armature goes through :mod:`.pose_export` (camera projection, bone mapping, silhouettes). A BVH
file is imported once with Blender's own BVH importer into an armature -- which the user can then
see, retime and frame with the camera -- and takes the same path. BVH files are Y-up by convention,
but Blender's own BVH exporter writes Blender's Z-up coordinates unchanged; the skeleton's rest pose
tells which (a standing person is tall, not deep), so both import upright. A PoseSequence JSON is
sent as it is: the backend validates it and names any problem.
"""

from __future__ import annotations

import json
import os
from typing import Callable

import addon_utils
import bpy

from . import bone_mapping, pose_export, properties

BVH_SOURCE_PROPERTY = "tpc_bvh_source"  # on an armature imported from a BVH: the file it came from


class PoseSourceError(Exception):
    """A pose source that cannot be used; the message says what to change."""


def collect_poses(
    context: bpy.types.Context, progress: Callable[[int, int], None] | None = None
) -> pose_export.ExportedPoses:
    """The poses (and silhouettes, when the rig deforms a mesh) of the scene's pose source."""
    scene = context.scene
    settings = scene.tpc
    if settings.pose_source == "ARMATURE":
        armature = current_armature(scene)
        if armature is None:
            count = sum(obj.type == "ARMATURE" for obj in scene.objects)
            raise PoseSourceError(
                f"The scene has {count or 'no'} armature{'' if count == 1 else 's'}: choose the armature to follow "
                "in the TPC Animate panel."
            )
    else:
        path = bpy.path.abspath(settings.pose_file)
        if not settings.pose_file:
            raise PoseSourceError("Choose a pose file (PoseSequence JSON or BVH) in the TPC Animate panel.")
        if not os.path.exists(path):
            raise PoseSourceError(f"The pose file {path} does not exist: choose it again in the TPC Animate panel.")
        if path.lower().endswith(".bvh"):
            armature = import_bvh(context, path)
        else:
            return pose_export.ExportedPoses(document=read_pose_sequence(path))
    mapping = mapping_for(settings, armature)
    return pose_export.export_armature(
        scene, armature, mapping, with_silhouettes=settings.use_mesh_masks, progress=progress
    )


def mapping_for(settings, armature: bpy.types.Object) -> bone_mapping.BoneMapping:
    """The automatic mapping of the armature's bones, with the panel's overrides applied."""
    return bone_mapping.resolve(armature.data.bones.keys(), properties.overrides_by_index(settings))


def current_armature(scene: bpy.types.Scene) -> bpy.types.Object | None:
    """The armature the panel's mapping applies to: the chosen one, an imported BVH's, or the only one."""
    settings = scene.tpc
    if settings.pose_source == "FILE":
        path = bpy.path.abspath(settings.pose_file)
        return next((o for o in scene.objects if o.type == "ARMATURE" and o.get(BVH_SOURCE_PROPERTY) == path), None)
    if settings.armature is not None:
        return settings.armature
    armatures = [obj for obj in scene.objects if obj.type == "ARMATURE"]
    return armatures[0] if len(armatures) == 1 else None


def read_pose_sequence(path: str) -> dict:
    """A PoseSequence JSON document, checked only for being one (the backend checks the rest)."""
    if os.path.isdir(path):
        raise PoseSourceError(
            f"{path} is a folder: folders of OpenPose JSON files cannot be sent yet; convert them into one "
            "PoseSequence file with `tpc pose FOLDER --out poses.json --width W --height H` and choose that."
        )
    try:
        with open(path, encoding="utf-8-sig") as handle:
            document = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PoseSourceError(f"The pose file {path} cannot be read as JSON ({error}).") from None
    if not isinstance(document, dict) or not isinstance(document.get("frames"), list) or not document["frames"]:
        raise PoseSourceError(
            f"The pose file {path} is not a PoseSequence (a JSON object with frames): convert OpenPose or COCO "
            "files with `tpc pose FILE --out poses.json --width W --height H`, or choose a BVH motion capture."
        )
    return document


def import_bvh(context: bpy.types.Context, path: str) -> bpy.types.Object:
    """The scene's armature imported from this BVH file, importing it (at the scene start) the first time."""
    scene = context.scene
    for obj in scene.objects:
        if obj.type == "ARMATURE" and obj.get(BVH_SOURCE_PROPERTY) == path:
            return obj
    if not addon_utils.check("io_anim_bvh")[1]:
        addon_utils.enable("io_anim_bvh", default_set=False)  # bundled with Blender; only switched off
    forward, up = ("Y", "Z") if bvh_up_axis(path) == "Z" else ("-Z", "Y")
    before = set(bpy.data.objects)
    try:
        result = bpy.ops.import_anim.bvh(
            filepath=path, frame_start=scene.frame_start, use_fps_scale=False, update_scene_fps=False,
            update_scene_duration=False, rotate_mode="NATIVE", axis_forward=forward, axis_up=up,
        )  # fmt: skip
    except RuntimeError as error:
        raise PoseSourceError(f"Blender's BVH importer could not read {path}: {error}") from None
    created = [obj for obj in bpy.data.objects if obj not in before and obj.type == "ARMATURE"]
    if "FINISHED" not in result or not created:
        raise PoseSourceError(f"Blender's BVH importer made no armature from {path}; check that it is a BVH file.")
    armature = created[0]
    armature[BVH_SOURCE_PROPERTY] = path
    return armature


def bvh_up_axis(path: str) -> str:
    """'Y' or 'Z': the axis along which the BVH skeleton's rest pose is tallest (Y is the convention)."""
    stack = [(0.0, 0.0, 0.0)]  # position of the joint whose { } block is open
    heights: list[tuple[float, float]] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                words = line.split()
                if not words:
                    continue
                if words[0] == "MOTION":
                    break
                if words[0] == "{":
                    stack.append(stack[-1])
                elif words[0] == "}" and len(stack) > 1:
                    stack.pop()
                elif words[0] == "OFFSET" and len(stack) > 1:
                    offset = [float(value) for value in words[1:4]]
                    parent = stack[-2]
                    stack[-1] = tuple(p + o for p, o in zip(parent, offset))
                    heights.append((stack[-1][1], stack[-1][2]))
    except (OSError, ValueError) as error:
        raise PoseSourceError(f"{path} is not a BVH file TPC Animate can read ({error}).") from None
    if not heights:
        raise PoseSourceError(f"{path} has no skeleton (no HIERARCHY with OFFSET lines); is it a BVH file?")
    ys, zs = zip(*heights)
    return "Z" if max(zs) - min(zs) > max(ys) - min(ys) else "Y"
