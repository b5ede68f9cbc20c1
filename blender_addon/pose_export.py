"""An animated armature, seen through the scene camera, as a PoseSequence (and silhouettes).

For every frame of the range the scene is evaluated, the keypoints of the evaluated rig
(:mod:`.rig_points`) are projected into render pixels (pixel centres at whole numbers, see
:mod:`.camera_view`), and -- when the rig deforms meshes -- so are the evaluated meshes' triangles.
This is what a render of the shot would show, which is what the backend needs to calibrate against.
Only reading Blender data has to happen here, on the main thread; filling the triangles into masks is
plain numpy, which the job's worker thread does (:mod:`.silhouette`).

Each person has the 17 COCO ``keypoints``; a rig with finger bones adds ``hands`` (``left`` and
``right``, 21 OpenPose points each, left = the person's left) and a rig with a face rig adds ``face``
(68 iBUG points, those it cannot justify at confidence 0). Face points estimated from the head are sent
with lower confidence; a point behind the camera or outside the frame is sent with confidence 0, as
COCO marks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import bpy
import numpy as np

from .bone_mapping import BoneMapping
from .camera_view import CameraView, render_size
from .rig_points import RigPoints, RigReader

DERIVED_CONFIDENCE = 0.5
MAX_COORDINATE = 1e6  # the PoseSequence format's bound on how far off the canvas a point may lie
CountCallback = Callable[[int, int], None]  # count(done, total), as tpc_backend.progress names it


class PoseExportError(Exception):
    """A scene that cannot be exported; the message says what to change."""


@dataclass
class ExportedPoses:
    document: dict  # PoseSequence JSON
    silhouettes: list[np.ndarray] | None = None  # per frame, the deformed meshes' triangles in pixels (n, 3, 2)
    warnings: list[str] = field(default_factory=list)  # one sentence each (see pose_checks)


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
    progress: CountCallback | None = None,
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
            f"TPC Animate recognises fewer than 4 joints of armature '{armature.name}' (it reads the names of Rigify, "
            "Mixamo, CMU, Unreal, Character Creator, VRoid, Daz, SMPL and Biped skeletons): assign bones to the keypoints under Bone Mapping in the TPC Animate panel."
        )
    meshes = deformed_meshes(scene, armature) if with_silhouettes else []
    reader = RigReader(mapping)
    frames = range(scene.frame_start, scene.frame_end + 1)
    current = scene.frame_current, scene.frame_subframe
    people, silhouettes = [], []
    try:
        for number, frame in enumerate(frames):
            scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            view = CameraView(scene, camera.evaluated_get(depsgraph))
            people.append(person(view, reader.read(armature.evaluated_get(depsgraph))))
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
        "frames": [{"people": [one]} for one in people],
    }
    return ExportedPoses(document=document, silhouettes=silhouettes if meshes else None)


def person(view: CameraView, points: RigPoints) -> dict:
    """One PoseSequence person: ``keypoints``, and ``hands`` / ``face`` when the rig gives them."""
    one = {"keypoints": project_keypoints(view, points.body, points.derived, points.facing)}
    if points.hands is not None:
        left, right = (project_points(view, hand) for hand in points.hands)
        one["hands"] = {"left": left, "right": right}
    if points.face is not None:
        one["face"] = project_points(view, points.face)
    return one


def _pixels(view: CameraView, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (0 where unknown or behind the camera) and whether each point is seen inside the frame."""
    known = np.isfinite(points).all(axis=1)
    pixels, depth = view.project(np.where(known[:, None], points, 0.0))
    inside = (
        known & (depth > 0)
        & (pixels[:, 0] >= -0.5) & (pixels[:, 0] <= view.width - 0.5)
        & (pixels[:, 1] >= -0.5) & (pixels[:, 1] <= view.height - 0.5)
    )  # fmt: skip
    pixels = np.where((known & (depth > 0))[:, None], np.clip(pixels, -MAX_COORDINATE, MAX_COORDINATE), 0.0)
    return pixels, inside


def _triples(pixels: np.ndarray, confidence: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 3), round(float(y), 3), float(c)] for (x, y), c in zip(pixels, confidence)]


def project_keypoints(
    view: CameraView, points: np.ndarray, derived: np.ndarray, facing: dict[int, tuple[np.ndarray, float]]
) -> list[list[float]]:
    """17 [x, y, confidence] triples in render pixels (centres at whole numbers, the render spanning
    -0.5 .. W - 0.5); invisible points get confidence 0."""
    pixels, inside = _pixels(view, points)
    confidence = np.where(inside, np.where(derived, DERIVED_CONFIDENCE, 1.0), 0.0)
    if facing:
        towards = view.directions_to_camera(points[list(facing)])
        for row, (keypoint, (direction, least_cosine)) in enumerate(facing.items()):
            if float(np.dot(direction, towards[row])) < least_cosine:
                confidence[keypoint] = 0.0  # an estimated face point turned away is hidden by the head
    return _triples(pixels, confidence)


def project_points(view: CameraView, points: np.ndarray) -> list[list[float]]:
    """Hand or face points as [x, y, confidence]: 1 when seen inside the frame, else 0 (unknown: 0, 0, 0)."""
    pixels, inside = _pixels(view, points)
    return _triples(pixels, inside.astype(np.float64))


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
