"""The motion a job follows, from whichever source the user picked in the panel.

An armature goes through :mod:`.pose_export` (camera projection, bone mapping, silhouettes), and its
poses are checked before anything is sent (:mod:`.pose_checks`): a job whose frames would all be
fallbacks, or whose performer is outside the camera in most frames, is refused with one sentence. A
BVH or FBX file is imported once (:mod:`.motion_import`: upright, human-sized, timed, framed) into an
armature -- which the user can then see, retime and frame with the camera -- and takes the same path.

Pose files are sent as they are, and the backend validates them and names any problem: a PoseSequence
JSON as the job's poses, OpenPose JSON (one file, or a folder with a file per frame) and COCO keypoint
files as :class:`PoseFiles`, which the backend converts (Blender carries no converter). OpenPose
files do not record the picture size, so they travel with the scene's render size and frame rate.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass

import bpy

from . import bone_mapping, pose_checks, pose_export, properties
from .camera_view import render_size
from .framing import mapped_body
from .motion_import import MOTION_EXTENSIONS, MotionImportError, import_motion, imported_armature


class PoseSourceError(Exception):
    """A pose source that cannot be used; the message says what to change."""


@dataclass
class PoseFiles:
    """OpenPose or COCO pose files as they are, for the backend to convert."""

    documents: list[tuple[str, bytes]]  # (file name, bytes)
    canvas: tuple[int, int]  # the scene's render size, for files that do not state theirs
    fps: float  # the scene's frame rate, for files that do not state one
    warnings: tuple[str, ...] = ()


def collect_poses(context: bpy.types.Context, progress: pose_export.CountCallback | None = None) -> pose_export.ExportedPoses | PoseFiles:
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
            raise PoseSourceError(
                "Choose a pose file (PoseSequence, OpenPose or COCO JSON, or BVH or FBX motion) or a folder of "
                "OpenPose files in the TPC Animate panel."
            )
        if not os.path.exists(path):
            raise PoseSourceError(f"The pose file {path} does not exist: choose it again in the TPC Animate panel.")
        if path.lower().endswith(MOTION_EXTENSIONS):
            armature = motion_armature(context, path)
        else:
            return read_pose_file(scene, path)
    mapping = mapping_for(settings, armature)
    exported = pose_export.export_armature(scene, armature, mapping, with_silhouettes=settings.use_mesh_masks, progress=progress)
    verdict = pose_checks.check_armature_poses(exported.document, mapped_body(mapping), scene.frame_start)
    if verdict.refusal:
        raise PoseSourceError(verdict.refusal)
    unmapped = pose_checks.unmapped_warning(armature.name, mapping.unmapped)
    exported.warnings = [warning for warning in (unmapped, *verdict.warnings) if warning]
    return exported


def mapping_for(settings, armature: bpy.types.Object) -> bone_mapping.BoneMapping:
    """The automatic mapping of the armature's bones, with the panel's overrides applied.

    The panel asks on every redraw (several times a second while a job runs), and resolving a
    generated Rigify rig's 700 bones takes milliseconds, so mappings are cached by what they depend
    on: the bone names with their parents (reading them costs a fraction of resolving them) and the
    overrides.
    """
    overrides = tuple(sorted(properties.overrides_by_index(settings).items()))
    bones = tuple((bone.name, bone.parent.name if bone.parent else None) for bone in armature.data.bones)
    return _resolved(bones, overrides)


@functools.lru_cache(maxsize=16)
def _resolved(
    bones: tuple[tuple[str, str | None], ...], overrides: tuple[tuple[int, bone_mapping.BonePoint], ...]
) -> bone_mapping.BoneMapping:
    return bone_mapping.resolve(bones, dict(overrides))


def current_armature(scene: bpy.types.Scene) -> bpy.types.Object | None:
    """The armature the panel's mapping applies to: the chosen one, an imported motion file's, or the only one."""
    settings = scene.tpc
    if settings.pose_source == "FILE":
        return imported_armature(scene, bpy.path.abspath(settings.pose_file))
    if settings.armature is not None:
        return settings.armature
    armatures = [obj for obj in scene.objects if obj.type == "ARMATURE"]
    return armatures[0] if len(armatures) == 1 else None


def read_pose_file(scene: bpy.types.Scene, path: str) -> pose_export.ExportedPoses | PoseFiles:
    """A PoseSequence file as the job's poses; a folder of OpenPose files, or an OpenPose or COCO
    file, as :class:`PoseFiles` (checked only for being JSON: the backend checks the rest)."""
    if os.path.isdir(path):
        names = sorted(name for name in os.listdir(path) if name.lower().endswith(".json") and os.path.isfile(os.path.join(path, name)))
        if not names:
            raise PoseSourceError(
                f"The folder {path} holds no .json pose files: choose a folder of OpenPose JSON files (one per "
                "frame) or a single pose file."
            )
        return _pose_files(scene, [(name, _read_bytes(os.path.join(path, name))) for name in names])
    data = _read_bytes(path)
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise PoseSourceError(f"The pose file {path} cannot be read as JSON ({error}).") from None
    if isinstance(document, dict) and "frames" in document:
        if not isinstance(document["frames"], list) or not document["frames"]:
            raise PoseSourceError(f"The pose file {path} is a PoseSequence without frames: choose one with poses in it.")
        if refusal := pose_checks.check_pose_file(document, path).refusal:
            raise PoseSourceError(refusal)
        return pose_export.ExportedPoses(document=document)
    return _pose_files(scene, [(os.path.basename(path), data)])


def _pose_files(scene: bpy.types.Scene, documents: list[tuple[str, bytes]]) -> PoseFiles:
    return PoseFiles(documents, render_size(scene), scene.render.fps / scene.render.fps_base)


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise PoseSourceError(f"The pose file {path} cannot be read ({error.strerror}).") from None


def motion_armature(context: bpy.types.Context, path: str) -> bpy.types.Object:
    """The scene's armature imported from this motion file, importing it the first time."""
    armature = imported_armature(context.scene, path)
    if armature is not None:
        return armature
    settings = context.scene.tpc
    try:
        return import_motion(context, path, lambda rig: mapping_for(settings, rig)).armature
    except MotionImportError as error:
        raise PoseSourceError(str(error)) from None
