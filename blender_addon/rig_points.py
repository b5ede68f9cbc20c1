"""The world positions a rig gives for each keypoint at one frame: body, face, hands.

:class:`RigReader` is made once per export from a :class:`~.bone_mapping.BoneMapping`: it lists the
bones whose ends are read, so each frame costs one head and one tail per bone, whatever asks for them.
The body's 17 points are bone ends. Face points the rig has no bones for are placed from the head with
human proportions (those of Rigify's metarig) and marked *derived*:

- Size: from the shoulder width when both shoulders are known (head bones differ from rig to rig, and a
  BVH whose head ends in a zero-length End Site gets a 0.1-unit stub from Blender's importer, which
  would collapse the face to a dot); else from the neck, else from the head bone.
- Up: along the head bone, unless it is a stub: then from the bottom of the neck to the head.
- Side: from the shoulders (the person's left), else the head bone's X axis. Forward is side x up.

Hands (21 points each) are bone ends; a Rigify face's iBUG points are sampled evenly along curves
through its face bones. A point the rig cannot give is NaN (sent with confidence 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bone_mapping import (
    FACE_POINTS,
    HEAD,
    LEFT_EAR,
    LEFT_EYE,
    LEFT_SHOULDER,
    NOSE,
    RIGHT_EAR,
    RIGHT_EYE,
    RIGHT_SHOULDER,
    BoneMapping,
)  # fmt: skip

# Face points relative to the head, in head lengths: (up, forward, side), side > 0 = the person's left.
# Measured on Rigify's human metarig, whose head bone runs from the top of the neck to the crown.
FACE_LAYOUT: dict[int, tuple[float, float, float]] = {
    NOSE: (0.32, 0.86, 0.0),
    LEFT_EYE: (0.57, 0.48, 0.26),
    RIGHT_EYE: (0.57, 0.48, -0.26),
    LEFT_EAR: (0.41, 0.03, 0.46),
    RIGHT_EAR: (0.41, 0.03, -0.46),
}
# Which way each estimated face point faces (forward, side) and the least cosine towards the camera at
# which it is still seen: the nose and an eye hide as the head turns away, an ear only well past profile.
FACING: dict[int, tuple[float, float, float]] = {
    NOSE: (1.0, 0.0, 0.0),
    LEFT_EYE: (1.0, 0.5, 0.0),
    RIGHT_EYE: (1.0, -0.5, 0.0),
    LEFT_EAR: (0.0, 1.0, -0.3),
    RIGHT_EAR: (0.0, -1.0, -0.3),
}
HEAD_PER_SHOULDER_WIDTH = 0.51  # the metarig's head bone (0.199 m) over its shoulder width (0.390 m)
HEAD_PER_NECK = 1.0  # without shoulders: a head about as long as the neck below it
STUB_FRACTION = 0.25  # a head bone shorter than this part of the expected head length is a stub


@dataclass
class RigPoints:
    """World positions at one frame; NaN where the rig has nothing."""

    body: np.ndarray  # (17, 3)
    derived: np.ndarray  # (17,) bool: face points placed from the head
    facing: dict[int, tuple[np.ndarray, float]]  # derived face point -> (unit facing direction, least cosine)
    hands: np.ndarray | None  # (2, 21, 3): left, right; None when the rig has no fingers
    face: np.ndarray | None  # (68, 3) iBUG; None without a face rig


class RigReader:
    """Reads the bone ends a mapping needs from an evaluated rig, frame after frame."""

    def __init__(self, mapping: BoneMapping) -> None:
        self.mapping = mapping
        names: dict[str, int] = {}

        def slot(bone: str) -> int:
            return names.setdefault(bone, len(names))

        def end_index(point) -> int:  # into the (bones * 2, 3) array of heads then tails
            return -1 if point is None else 2 * slot(point[0]) + (0 if point[1] == HEAD else 1)

        self._body = np.array([end_index(point) for point in mapping.points])
        self._hands = np.array([[end_index(point) for point in hand] for hand in mapping.hands]) if mapping.hands else None
        self._curves = [(curve.indices, [2 * slot(bone) for bone in curve.bones]) for curve in mapping.face]
        self._head = slot(mapping.head_bone) if mapping.head_bone is not None else None
        self._neck = slot(mapping.neck_bone) if mapping.neck_bone is not None else None
        self.bones = list(names)

    def read(self, rig) -> RigPoints:
        """The points of an evaluated armature object (``obj.evaluated_get(depsgraph)``)."""
        to_world = np.array(rig.matrix_world, dtype=np.float64)
        pose_bones = rig.pose.bones
        local = np.empty((len(self.bones) * 2, 3))
        for number, name in enumerate(self.bones):
            bone = pose_bones[name]
            local[2 * number], local[2 * number + 1] = bone.head, bone.tail
        ends = np.vstack([local @ to_world[:3, :3].T + to_world[:3, 3], np.full((1, 3), np.nan)])  # index -1: missing

        body = ends[self._body]
        derived = np.zeros(len(body), dtype=bool)
        facing: dict[int, tuple[np.ndarray, float]] = {}
        if self.mapping.missing_face and self._head is not None:
            head_x_axis = lambda: to_world[:3, :3] @ np.array(pose_bones[self.bones[self._head]].matrix)[:3, 0]  # noqa: E731
            frame = self._head_frame(ends, body, head_x_axis)
            if frame is not None:
                base, length, up, forward, side = frame
                for keypoint in self.mapping.missing_face:
                    u, f, s = FACE_LAYOUT[keypoint]
                    body[keypoint] = base + length * (u * up + f * forward + s * side)
                    derived[keypoint] = True
                    towards_forward, towards_side, least_cosine = FACING[keypoint]
                    direction = towards_forward * forward + towards_side * side
                    facing[keypoint] = (direction / np.linalg.norm(direction), least_cosine)
        hands = ends[self._hands] if self._hands is not None else None
        return RigPoints(body=body, derived=derived, facing=facing, hands=hands, face=self._face(ends))

    def _head_frame(self, ends: np.ndarray, body: np.ndarray, head_x_axis):
        """(base, head length, up, forward, left) for placing face points, or None for a degenerate head."""
        base, top = ends[2 * self._head], ends[2 * self._head + 1]
        neck = ends[2 * self._neck] if self._neck is not None else None
        head_length = float(np.linalg.norm(top - base))
        shoulders = body[[LEFT_SHOULDER, RIGHT_SHOULDER]]
        if np.isfinite(shoulders).all() and np.linalg.norm(shoulders[0] - shoulders[1]) > 1e-9:
            left = shoulders[0] - shoulders[1]
            length = HEAD_PER_SHOULDER_WIDTH * float(np.linalg.norm(left))
        else:
            left = head_x_axis()
            neck_length = float(np.linalg.norm(base - neck)) if neck is not None else 0.0
            length = HEAD_PER_NECK * neck_length if neck_length > head_length else head_length
        if length < 1e-9:
            return None
        up = top - base
        if head_length < STUB_FRACTION * length and neck is not None and np.linalg.norm(base - neck) > 1e-9:
            up = base - neck  # a stub head bone points anywhere; the neck points up the head
        up_length = float(np.linalg.norm(up))
        if up_length < 1e-9:
            return None
        up = up / up_length
        side = left - np.dot(left, up) * up
        side_length = float(np.linalg.norm(side))
        if side_length < 1e-9:
            return None
        side = side / side_length
        forward = np.cross(side, up)  # left x up = forward for Blender's convention (+X left, -Y front, +Z up)
        return base, length, up, forward, side

    def _face(self, ends: np.ndarray) -> np.ndarray | None:
        if not self._curves:
            return None
        face = np.full((FACE_POINTS, 3), np.nan)
        for indices, heads in self._curves:
            face[list(indices)] = sample_curve(ends[heads], len(indices))
        return face


def sample_curve(points: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced by length along the polyline ``points``, its ends included."""
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    if along[-1] <= 0:
        return np.repeat(points[:1], count, axis=0)
    targets = np.linspace(0.0, along[-1], count)
    return np.stack([np.interp(targets, along, points[:, axis]) for axis in range(3)], axis=1)
