"""An animated armature, seen through the scene camera, as a COCO-17 PoseSequence (and silhouettes).

For every frame of the range the scene is evaluated, the mapped bone ends of the evaluated rig are
projected into render pixels (pixel centres at whole numbers, see :mod:`.camera_view`), and -- when
the rig deforms meshes -- so are the evaluated meshes' triangles. This is what a render of the shot
would show, which is what the backend needs to calibrate against. Only reading Blender data has to
happen here, on the main thread; filling the triangles into masks is plain numpy, which the job's
worker thread does (:mod:`.silhouette`). Face points the rig has no bones for are placed from the
head bone with human proportions (those of Rigify's metarig) and sent with lower confidence; a point
behind the camera or outside the frame is sent with confidence 0, as COCO marks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import bpy
import numpy as np

from .bone_mapping import (
    COCO17_NAMES, HEAD, LEFT_EAR, LEFT_EYE, LEFT_SHOULDER, NOSE, RIGHT_EAR, RIGHT_EYE, RIGHT_SHOULDER, BoneMapping,
)  # fmt: skip
from .camera_view import CameraView, render_size

DERIVED_CONFIDENCE = 0.5
MAX_COORDINATE = 1e6  # the PoseSequence format's bound on how far off the canvas a point may lie

# Face points relative to the head bone, in head-bone lengths: (up, forward, side), side > 0 = the
# character's left. Measured on Rigify's human metarig, whose head bone runs from the top of the neck
# to the crown.
_FACE_LAYOUT: dict[int, tuple[float, float, float]] = {
    NOSE: (0.32, 0.86, 0.0),
    LEFT_EYE: (0.57, 0.48, 0.26),
    RIGHT_EYE: (0.57, 0.48, -0.26),
    LEFT_EAR: (0.41, 0.03, 0.46),
    RIGHT_EAR: (0.41, 0.03, -0.46),
}
# Which way each estimated face point faces (forward, side) and the least cosine towards the camera at
# which it is still seen: the nose and an eye hide as the head turns away, an ear only well past profile.
_FACING: dict[int, tuple[float, float, float]] = {
    NOSE: (1.0, 0.0, 0.0),
    LEFT_EYE: (1.0, 0.5, 0.0),
    RIGHT_EYE: (1.0, -0.5, 0.0),
    LEFT_EAR: (0.0, 1.0, -0.3),
    RIGHT_EAR: (0.0, -1.0, -0.3),
}


class PoseExportError(Exception):
    """A scene that cannot be exported; the message says what to change."""


@dataclass
class ExportedPoses:
    document: dict  # PoseSequence JSON
    silhouettes: list[np.ndarray] | None = None  # per frame, the deformed meshes' triangles in pixels (n, 3, 2)


def deformed_meshes(scene: bpy.types.Scene, armature: bpy.types.Object) -> list[bpy.types.Object]:
    """Mesh objects of the scene that this armature deforms and that would appear in a render."""
    found = []
    for obj in scene.objects:
        if obj.type != "MESH" or obj.hide_render:
            continue
        by_modifier = any(m.type == "ARMATURE" and m.object == armature and m.show_render for m in obj.modifiers)
        by_parent = obj.parent == armature and obj.parent_type == "ARMATURE"
        if by_modifier or by_parent:
            found.append(obj)
    return found


def export_armature(
    scene: bpy.types.Scene,
    armature: bpy.types.Object,
    mapping: BoneMapping,
    *,
    with_silhouettes: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> ExportedPoses:
    """Evaluate every frame of the scene range and return the poses (and silhouettes) seen by its camera."""
    camera = scene.camera
    if camera is None:
        raise PoseExportError(
            "The scene has no active camera: add a camera and make it active (View > Cameras > Set Active "
            "Object as Camera); the poses are seen through it."
        )
    if sum(point is not None for point in mapping.points) < 4:
        raise PoseExportError(
            f"TPC Animate recognises fewer than 4 joints of armature '{armature.name}' (it knows Rigify, Mixamo "
            "and BVH names): assign bones to the keypoints under Bone Mapping in the TPC Animate panel."
        )
    meshes = deformed_meshes(scene, armature) if with_silhouettes else []
    frames = range(scene.frame_start, scene.frame_end + 1)
    current = scene.frame_current, scene.frame_subframe
    people, silhouettes = [], []
    try:
        for number, frame in enumerate(frames):
            scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            view = CameraView(scene, camera.evaluated_get(depsgraph))
            rig = armature.evaluated_get(depsgraph)
            people.append(project_keypoints(view, *bone_points(rig, mapping)))
            if meshes:
                silhouettes.append(mesh_triangles(view, [m.evaluated_get(depsgraph) for m in meshes]))
            if progress is not None:
                progress(number + 1, len(frames))
    finally:
        scene.frame_set(current[0], subframe=current[1])
    width, height = render_size(scene)
    document = {
        "format": "coco17",
        "width": width,
        "height": height,
        "fps": scene.render.fps / scene.render.fps_base,
        "frames": [{"people": [{"keypoints": keypoints}]} for keypoints in people],
    }
    return ExportedPoses(document=document, silhouettes=silhouettes if meshes else None)


def bone_points(rig: bpy.types.Object, mapping: BoneMapping) -> tuple[np.ndarray, np.ndarray, dict[int, tuple]]:
    """World positions of the 17 keypoints of an evaluated rig.

    Returns the (17, 3) points (NaN where the rig has nothing), a (17,) bool array marking the face
    points placed from the head bone, and for those (facing direction, least cosine to be seen).
    """
    to_world = np.array(rig.matrix_world, dtype=np.float64)
    pose_bones = rig.pose.bones

    def world(local) -> np.ndarray:
        return to_world[:3, :3] @ np.array(local, dtype=np.float64) + to_world[:3, 3]

    points = np.full((len(COCO17_NAMES), 3), np.nan)
    for keypoint, point in enumerate(mapping.points):
        if point is not None:
            bone = pose_bones[point[0]]
            points[keypoint] = world(bone.head if point[1] == HEAD else bone.tail)
    derived = np.zeros(len(COCO17_NAMES), dtype=bool)
    facing: dict[int, tuple[np.ndarray, float]] = {}
    if mapping.missing_face and mapping.head_bone is not None:
        head = pose_bones[mapping.head_bone]
        base, top = world(head.head), world(head.tail)
        # The character's left: from the shoulders when both are known, else the head bone's own X axis.
        if np.isfinite(points[[LEFT_SHOULDER, RIGHT_SHOULDER]]).all():
            left = points[LEFT_SHOULDER] - points[RIGHT_SHOULDER]
        else:
            left = (to_world[:3, :3] @ np.array(head.matrix, dtype=np.float64)[:3, 0])
        frame = _head_frame(base, top, left)
        if frame is not None:
            length, up, forward, side = frame
            for keypoint in mapping.missing_face:
                u, f, s = _FACE_LAYOUT[keypoint]
                points[keypoint] = base + length * (u * up + f * forward + s * side)
                derived[keypoint] = True
                towards_forward, towards_side, least_cosine = _FACING[keypoint]
                direction = towards_forward * forward + towards_side * side
                facing[keypoint] = (direction / np.linalg.norm(direction), least_cosine)
    return points, derived, facing


def _head_frame(base: np.ndarray, top: np.ndarray, left: np.ndarray):
    """Head length and orthonormal (up, forward, left) axes, or None for a degenerate head."""
    axis = top - base
    length = float(np.linalg.norm(axis))
    if length < 1e-9:
        return None
    up = axis / length
    side = left - np.dot(left, up) * up
    side_length = float(np.linalg.norm(side))
    if side_length < 1e-9:
        return None
    side /= side_length
    forward = np.cross(side, up)  # left x up = forward for Blender's convention (+X left, -Y front, +Z up)
    return length, up, forward, side


def project_keypoints(
    view: CameraView, points: np.ndarray, derived: np.ndarray, facing: dict[int, tuple[np.ndarray, float]]
) -> list[list[float]]:
    """17 [x, y, confidence] triples in render pixels (centres at whole numbers, the render spanning
    -0.5 .. W - 0.5); invisible points get confidence 0."""
    known = np.isfinite(points).all(axis=1)
    pixels, depth = view.project(np.where(known[:, None], points, 0.0))
    inside = (
        known & (depth > 0)
        & (pixels[:, 0] >= -0.5) & (pixels[:, 0] <= view.width - 0.5)
        & (pixels[:, 1] >= -0.5) & (pixels[:, 1] <= view.height - 0.5)
    )  # fmt: skip
    confidence = np.where(inside, np.where(derived, DERIVED_CONFIDENCE, 1.0), 0.0)
    if facing:
        towards = view.directions_to_camera(points[list(facing)])
        for row, (keypoint, (direction, least_cosine)) in enumerate(facing.items()):
            if float(np.dot(direction, towards[row])) < least_cosine:
                confidence[keypoint] = 0.0  # an estimated face point turned away is hidden by the head
    pixels = np.where((known & (depth > 0))[:, None], np.clip(pixels, -MAX_COORDINATE, MAX_COORDINATE), 0.0)
    return [[round(float(x), 3), round(float(y), 3), float(c)] for (x, y), c in zip(pixels, confidence)]


def mesh_triangles(view: CameraView, meshes: list[bpy.types.Object]) -> np.ndarray:
    """The evaluated meshes' triangles in render pixels, (n, 3, 2); triangles touching the camera plane are dropped."""
    triangles = []
    for obj in meshes:
        mesh = obj.to_mesh()
        try:
            mesh.calc_loop_triangles()
            vertices = np.empty(len(mesh.vertices) * 3, dtype=np.float64)
            mesh.vertices.foreach_get("co", vertices)
            corners = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
            mesh.loop_triangles.foreach_get("vertices", corners)
        finally:
            obj.to_mesh_clear()
        to_world = np.array(obj.matrix_world, dtype=np.float64)
        pixels, depth = view.project(vertices.reshape(-1, 3) @ to_world[:3, :3].T + to_world[:3, 3])
        corners = corners.reshape(-1, 3)
        triangles.append(pixels[corners[(depth[corners] > 1e-6).all(axis=1)]].astype(np.float32))
    return np.concatenate(triangles)
