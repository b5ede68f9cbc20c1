"""Motion capture into the scene as animators bring it: BVH or FBX, upright, human-sized, timed, framed.

Blender's own importers read the files (BVH with the format's Y-up convention; FBX as its header
says). Then, because files rarely say enough:

- **Time**: the scene takes the file's frame rate and the frame range its frames cover, from the
  scene's start frame; or, with ``retime``, the scene keeps its rate and the motion is stretched to it.
- **Up**: the rest pose tells which axis is up when it is a standing pose (torso and legs in line);
  otherwise (e.g. Bandai Namco's, with every bone along X) the motion itself does, over a sample of
  frames. Either way up is the nearest world axis, turned onto Blender's Z.
- **Size**: the skeleton's leg and torso give its height in file units (:mod:`.staging`); the unit
  that makes that a human height is taken (metres, centimetres, millimetres, inches, CMU units), or
  failing all of them the performer is scaled to 1.7 m.
- **Place**: the performer starts above the origin, with their feet on the floor over the whole take.
- **Camera**: when the scene has no camera, or its camera loses the performer in any sampled frame or
  shows them smaller than a quarter of the frame's height, Frame Performer sets up one that keeps
  them in view (see :mod:`.framing`).

The armature keeps the file's path (``MOTION_SOURCE_PROPERTY``), so a pose source that names the file
reuses this import rather than importing again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import addon_utils
import bpy
import numpy as np
from bpy_extras import anim_utils
from mathutils import Matrix

from . import framing, staging
from .bone_mapping import HEAD, LEFT_SHOULDER, BoneMapping
from .pose_checks import unmapped_warning

MOTION_SOURCE_PROPERTY = "tpc_motion_source"  # on an armature imported from a motion file: the file
MOTION_EXTENSIONS = (".bvh", ".fbx")
_HIPS, _KNEES, _ANKLES = (11, 12), (13, 14), (15, 16)
ANKLE_HEIGHT = 0.039  # the ankle joint above the floor, in heights (Drillis & Contini)


class MotionImportError(Exception):
    """A motion file that cannot be imported; the message says what to change."""


@dataclass
class ImportedMotion:
    armature: bpy.types.Object
    path: str
    frames: int
    fps: float
    unit: str  # "centimetres"..., or "" when the skeleton's size matched no known unit
    height: float  # of the performer, in metres, once scaled
    framed: bool  # Frame Performer set up the camera
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        unit = f"in {self.unit}" if self.unit else "in no unit TPC Animate knows, scaled"
        camera = "; Frame Performer set up the camera" if self.framed else ""
        return (
            f"Imported {os.path.basename(self.path)}: {self.frames} frames at {self.fps:g} fps, {unit} to a "
            f"{self.height:.2f} m performer at the origin{camera}"
        )


def imported_armature(scene: bpy.types.Scene, path: str) -> bpy.types.Object | None:
    """The scene's armature already imported from ``path``."""
    return next((o for o in scene.objects if o.type == "ARMATURE" and o.get(MOTION_SOURCE_PROPERTY) == path), None)


def import_motion(context: bpy.types.Context, path: str, mapping_for, *, retime: bool = False, frame_camera: bool = True) -> ImportedMotion:
    """Import a BVH or FBX file into the scene and stage it (see the module docstring).

    ``mapping_for(armature)`` gives the armature's bone mapping (the panel's, with its overrides).
    """
    scene = context.scene
    extension = os.path.splitext(path)[1].lower()
    if extension not in MOTION_EXTENSIONS:
        raise MotionImportError(f"{path} is not a motion file TPC Animate imports: choose a .bvh or .fbx file.")
    if not os.path.isfile(path):
        raise MotionImportError(f"The motion file {path} does not exist: choose it again.")
    before, fps = set(bpy.data.objects), (scene.render.fps, scene.render.fps_base)
    scene_rate = scene.render.fps / scene.render.fps_base
    if extension == ".bvh":
        file_rate = _import_bvh(scene, path, retime)
    else:
        file_rate = _import_fbx(scene, path)
    created = [obj for obj in bpy.data.objects if obj not in before]
    armatures = [obj for obj in created if obj.type == "ARMATURE"]
    if not armatures or _action(max(armatures, key=lambda obj: len(obj.data.bones))) is None:
        for obj in created:  # nothing half-imported stays behind
            bpy.data.objects.remove(obj)
        scene.render.fps, scene.render.fps_base = fps
        what = "no armature" if not armatures else "an armature without motion"
        raise MotionImportError(f"Blender's importer found {what} in {path}: choose a file with an animated skeleton.")
    armature = max(armatures, key=lambda obj: len(obj.data.bones))
    armature[MOTION_SOURCE_PROPERTY] = path

    rate = scene_rate if retime else file_rate
    if retime and extension == ".fbx":
        _retime(armature, scene.frame_start, scene_rate / file_rate)
    scene.render.fps, scene.render.fps_base = staging.blender_fps(rate)
    frames = _set_range(scene, armature)

    mapping = mapping_for(armature)
    warnings = [warning] if (warning := unmapped_warning(armature.name, mapping.unmapped)) else []
    unit, height = _stage(scene, armature, mapping)
    framed = False
    if frame_camera:
        view = framing.check_view(scene, armature, mapping, framing.sampled_frames(scene))
        if view.outside or view.fill < framing.SMALL:
            framing.frame_performer(scene, armature, mapping)
            framed = True
    return ImportedMotion(armature, path, frames, rate, unit.name, height, framed, warnings)


def _import_bvh(scene: bpy.types.Scene, path: str, retime: bool) -> float:
    try:
        timing = staging.bvh_timing(path)
    except (OSError, ValueError) as error:
        raise MotionImportError(f"{path} is not a BVH file TPC Animate can read ({error}).") from None
    _enable("io_anim_bvh")
    try:
        bpy.ops.import_anim.bvh(
            filepath=path, frame_start=scene.frame_start, use_fps_scale=retime, update_scene_fps=False,
            update_scene_duration=False, rotate_mode="NATIVE", axis_forward="-Z", axis_up="Y",
        )  # fmt: skip
    except RuntimeError as error:
        raise MotionImportError(f"Blender's BVH importer could not read {path}: {error}") from None
    return timing.fps


def _import_fbx(scene: bpy.types.Scene, path: str) -> float:
    """Import with the file's own frame rate (Blender's FBX importer sets the scene's); returns it."""
    _enable("io_scene_fbx")
    try:
        bpy.ops.import_scene.fbx(filepath=path, use_anim=True, anim_offset=scene.frame_start)
    except RuntimeError as error:
        raise MotionImportError(f"Blender's FBX importer could not read {path}: {error}") from None
    return staging.frame_rate(scene.render.fps / scene.render.fps_base)


def _enable(module: str) -> None:
    if not addon_utils.check(module)[1]:
        addon_utils.enable(module, default_set=False)  # bundled with Blender; only switched off


def _action(armature: bpy.types.Object):
    data = armature.animation_data
    return data.action if data is not None else None


def _retime(armature: bpy.types.Object, start: int, factor: float) -> None:
    """Stretch the armature's keys in time about ``start`` (file frames -> scene frames)."""
    data = armature.animation_data
    channelbag = anim_utils.action_get_channelbag_for_slot(data.action, data.action_slot) if data and data.action else None
    for curve in channelbag.fcurves if channelbag is not None else ():
        for key in curve.keyframe_points:
            for point in (key.co, key.handle_left, key.handle_right):
                point.x = start + (point.x - start) * factor
        curve.update()


def _set_range(scene: bpy.types.Scene, armature: bpy.types.Object) -> int:
    """The scene range becomes the motion's (from the scene's start frame); returns its frame count."""
    first, last = _action(armature).frame_range
    scene.frame_start = round(first)
    scene.frame_end = max(scene.frame_start, round(last))
    return scene.frame_end - scene.frame_start + 1


def _rest_point(armature: bpy.types.Object, point) -> np.ndarray | None:
    if point is None:
        return None
    bone = armature.data.bones[point[0]]
    local = bone.head_local if point[1] == HEAD else bone.tail_local
    return np.array(armature.matrix_world @ local)


def _mid(points: list[np.ndarray | None]) -> np.ndarray | None:
    return None if any(p is None for p in points) else np.mean(points, axis=0)


def _up(torso: np.ndarray | None, leg: np.ndarray | None) -> np.ndarray | None:
    """Torso (hips to shoulders) and legs (ankles to hips) directions added, when they are in line."""
    if torso is None or leg is None or min(np.linalg.norm(torso), np.linalg.norm(leg)) < 1e-9:
        return None
    torso, leg = torso / np.linalg.norm(torso), leg / np.linalg.norm(leg)
    return torso + leg if np.dot(torso, leg) > 0.7 else None


def _stage(scene: bpy.types.Scene, armature: bpy.types.Object, mapping: BoneMapping) -> tuple[staging.Unit, float]:
    """Turn the armature upright, scale it to a human height in metres, put it at the origin."""
    rest = [_rest_point(armature, point) for point in mapping.points]
    legs = [np.linalg.norm(rest[h] - rest[k]) + np.linalg.norm(rest[k] - rest[a])
            for h, k, a in zip(_HIPS, _KNEES, _ANKLES) if all(rest[i] is not None for i in (h, k, a))]  # fmt: skip
    hips, shoulders, ankles = (_mid([rest[i] for i in pair]) for pair in (_HIPS, (LEFT_SHOULDER, LEFT_SHOULDER + 1), _ANKLES))
    torso = float(np.linalg.norm(shoulders - hips)) if hips is not None and shoulders is not None else None
    height = staging.estimated_height(float(np.mean(legs)) if legs else None, torso)
    if not height:
        return staging.Unit("", 1.0), 0.0  # nothing to measure: left as imported (the unmapped warning says why)
    unit = staging.detect_unit(height)

    samples = [points.body for points, _ in framing.rig_points_at(scene, armature, mapping, framing.sampled_frames(scene))]
    up = _up(None if hips is None or shoulders is None else shoulders - hips, None if ankles is None or hips is None else hips - ankles)
    if up is None:  # not a standing rest pose: ask the motion
        ups = [_up(_mid([b[i] for i in (5, 6)]) - _mid([b[i] for i in _HIPS]), _mid([b[i] for i in _HIPS]) - _mid([b[i] for i in _ANKLES]))
               for b in samples if np.isfinite(b[[5, 6, *_HIPS, *_ANKLES]]).all()]  # fmt: skip
        ups = [vector for vector in ups if vector is not None]
        up = np.sum(ups, axis=0) if ups else np.array([0.0, 0.0, 1.0])
    turn = staging.rotation_onto(staging.nearest_axis(up), np.array([0.0, 0.0, 1.0])) * unit.metres_per_unit

    moved = [body @ turn.T for body in samples]
    start_hips = _mid([moved[0][i] for i in _HIPS])
    ground = min(float(np.nanmin(body[:, 2])) for body in moved) - ANKLE_HEIGHT * height * unit.metres_per_unit
    offset = np.array([-start_hips[0], -start_hips[1], -ground]) if start_hips is not None else np.array([0.0, 0.0, -ground])
    transform = Matrix(turn.tolist()).to_4x4()
    transform.translation = offset.tolist()
    armature.matrix_world = transform @ armature.matrix_world
    return unit, height * unit.metres_per_unit
