"""Keeping the performer in the camera's view: measuring it over a shot, and Frame Performer.

Frame Performer never moves a camera the user made: it sets up a camera of its own ("TPC Camera",
made once and reused), level with the floor, in front of the performer, far enough back that every
joint stays in the frame over the whole scene range (:func:`.staging.frame_points`), and makes it the
scene camera. The performer's front is read from the rig: the person's left (shoulders, else hips)
crossed with up.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np
from mathutils import Matrix

from .bone_mapping import BODY_KEYPOINTS, LEFT_SHOULDER, BoneMapping
from .camera_view import CameraView
from .pose_checks import SEEN_FRACTION
from .rig_points import RigPoints, RigReader
from .staging import frame_points

FRAMING_CAMERA = "TPC Camera"
FRAMING_PROPERTY = "tpc_framing_camera"  # on the camera Frame Performer made
SAMPLES = 60  # frames looked at to frame a shot or to tell whether the performer stays in view
SMALL = 0.25  # a performer spanning less of the frame's height than this is too small to animate well


def sampled_frames(scene: bpy.types.Scene, count: int = SAMPLES) -> list[int]:
    """Up to ``count`` frames spread evenly over the scene range, first and last included."""
    first, last = scene.frame_start, scene.frame_end
    if last - first + 1 <= count:
        return list(range(first, last + 1))
    return sorted({round(first + (last - first) * i / (count - 1)) for i in range(count)})


def rig_points_at(scene: bpy.types.Scene, armature: bpy.types.Object, mapping: BoneMapping, frames: list[int], camera=None):
    """(RigPoints, CameraView or None) at each frame; the scene's current frame is restored."""
    reader = RigReader(mapping)
    current = scene.frame_current, scene.frame_subframe
    found = []
    try:
        for frame in frames:
            scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            view = CameraView(scene, camera.evaluated_get(depsgraph)) if camera is not None else None
            found.append((reader.read(armature.evaluated_get(depsgraph)), view))
    finally:
        scene.frame_set(current[0], subframe=current[1])
    return found


def mapped_body(mapping: BoneMapping) -> list[int]:
    return [k for k in BODY_KEYPOINTS if mapping.points[k] is not None]


@dataclass(frozen=True)
class ViewCheck:
    outside: list[int]  # frames in which the camera sees fewer than half of the mapped body joints
    fill: float  # the median share of the frame's height the seen joints span


def check_view(scene: bpy.types.Scene, armature: bpy.types.Object, mapping: BoneMapping, frames: list[int]) -> ViewCheck:
    """How the scene camera sees the performer at ``frames``."""
    joints = mapped_body(mapping)
    if scene.camera is None:
        return ViewCheck(list(frames), 0.0)
    outside, fills = [], []
    for frame, (points, view) in zip(frames, rig_points_at(scene, armature, mapping, frames, scene.camera)):
        body = points.body[joints]
        pixels, depth = view.project(np.nan_to_num(body))
        seen = (
            np.isfinite(body).all(axis=1) & (depth > 0)
            & (pixels[:, 0] >= -0.5) & (pixels[:, 0] <= view.width - 0.5)
            & (pixels[:, 1] >= -0.5) & (pixels[:, 1] <= view.height - 0.5)
        )  # fmt: skip
        if seen.sum() < SEEN_FRACTION * len(joints):
            outside.append(frame)
        fills.append(float(np.ptp(pixels[seen, 1])) / view.height if seen.any() else 0.0)
    return ViewCheck(outside, float(np.median(fills)) if fills else 0.0)


def _facing(samples: list[RigPoints]) -> np.ndarray:
    """The performer's mean forward direction (horizontal), from the person's left crossed with up."""
    up = np.array([0.0, 0.0, 1.0])
    total = np.zeros(3)
    for points in samples:
        for left, right in ((LEFT_SHOULDER, LEFT_SHOULDER + 1), (11, 12)):
            side = points.body[left] - points.body[right]
            if np.isfinite(side).all() and np.linalg.norm(side) > 1e-9:
                total += np.cross(side / np.linalg.norm(side), up)
                break
    return total if np.linalg.norm(total) > 1e-9 else np.array([0.0, -1.0, 0.0])


def frame_performer(scene: bpy.types.Scene, armature: bpy.types.Object, mapping: BoneMapping) -> bpy.types.Object:
    """Set up the add-on's camera so the performer stays in view over the scene range; returns it."""
    camera = next((obj for obj in scene.objects if obj.type == "CAMERA" and obj.get(FRAMING_PROPERTY)), None)
    if camera is None:
        camera = bpy.data.objects.new(FRAMING_CAMERA, bpy.data.cameras.new(FRAMING_CAMERA))
        camera[FRAMING_PROPERTY] = True
        scene.collection.objects.link(camera)
    camera.animation_data_clear()
    camera.data.type, camera.data.shift_x, camera.data.shift_y = "PERSP", 0.0, 0.0
    scene.camera = camera

    samples = [points for points, _ in rig_points_at(scene, armature, mapping, sampled_frames(scene))]
    positions = np.concatenate([points.body[np.isfinite(points.body).all(axis=1)] for points in samples])
    if len(positions) == 0:
        raise ValueError(f"armature '{armature.name}' has no mapped joints to frame")
    corner = np.array(camera.data.view_frame(scene=scene)[0])  # top right, on the plane at depth -corner.z
    placement = frame_points(positions, _facing(samples), abs(corner[0] / corner[2]), abs(corner[1] / corner[2]))
    rotation = Matrix(placement.rotation.tolist())
    camera.matrix_world = Matrix.Translation(placement.location.tolist()) @ rotation.to_4x4()
    camera.data.clip_start = max(0.01, min(camera.data.clip_start, placement.distance / 10))
    camera.data.clip_end = max(camera.data.clip_end, 3 * placement.distance + float(np.ptp(positions, axis=0).max()))
    return camera
