"""Hands and face from MediaPipe Holistic, in the orders PoseSequence speaks, attached to their body.

MediaPipe 0.10.21's wheel bundles Holistic: the same BlazePose model as the body-only estimator
(its body keypoints and person mask are identical, pixel for pixel), plus hand and face landmark
models run on regions the body places (each wrist, the head), so each hand and face found belongs to
the body found with it. This module turns its landmarks into :class:`~tpc.wholebody.HandsFace`:

- Hands: MediaPipe's 21 hand landmarks are already in the OpenPose order (wrist 0, thumb 1-4, index
  5-8, middle 9-12, ring 13-16, pinky 17-20).
- Face: the 468-point face mesh becomes the 68 iBUG points through :data:`MESH_TO_IBUG68`.
- Confidence: MediaPipe gives hand and face landmarks no per-point score, so every point of a part
  carries the body model's visibility of that part (the mean over its wrist, pinky, index and thumb
  landmarks; over the nose, eyes and mouth corners for the face): a hand the body model says is
  hidden is not drawn, as DWPose hides its low-scoring points. A part not found is all zeros.
- Attachment (:func:`attach`): a hand is the person's left or right by whose wrist its own wrist
  point lies nearer, and is kept only when it lies within half the hand's size of it; a face only
  when its nose tip is within half the face's size of the body's nose. Holistic places the hands
  by the body, so this rarely drops anything; it makes "left = the person's left, at their wrist" a
  checked property rather than an assumption about MediaPipe's naming.
"""

from __future__ import annotations

import numpy as np

from tpc import keypoints as kp
from tpc.wholebody import FACE_NOSE_TIP, NUM_FACE_POINTS, NUM_HAND_POINTS, HandsFace

# For each iBUG 68 point, the face-mesh landmarks whose mean it is. Chosen on MediaPipe's canonical
# face model: the mesh's silhouette ring for the jaw (0-16, from the person's right ear past the
# chin at 152 to their left ear), the upper brow ridge (17-26), the nose's midline and base (27-35),
# the eyelids at the corners and thirds (36-47), the outer and inner lip lines (48-67). Where the
# mesh has no vertex at an iBUG point, the two neighbours it lies between are averaged. Mirror
# pairs are symmetric in the mesh (e.g. jaw 127/356, eye corners 33/263).
MESH_TO_IBUG68: tuple[tuple[int, ...], ...] = (
    # jaw 0-16
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,),
    (400,), (379,), (365,), (397, 288), (361,), (323,), (454,), (356,),
    # right eyebrow 17-21, left eyebrow 22-26
    (70,), (63,), (105,), (66,), (107,),
    (336,), (296,), (334,), (293,), (300,),
    # nose bridge 27-30, nose base 31-35
    (168, 6), (197, 195), (5,), (4,),
    (75,), (97,), (2,), (326,), (305,),
    # right eye 36-41, left eye 42-47 (outer corner, upper lid, inner corner, lower lid)
    (33,), (160,), (158,), (133,), (153,), (144,),
    (362,), (385,), (387,), (263,), (373,), (380,),
    # outer lips 48-59 (right corner, upper lip, left corner, lower lip)
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    # inner lips 60-67
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)  # fmt: skip
FACE_MESH_POINTS = 468

# BlazePose-33 landmarks that tell how visible each part is.
_POSE_HAND = {"left": (15, 17, 19, 21), "right": (16, 18, 20, 22)}  # wrist, pinky, index, thumb
_POSE_FACE = (0, 2, 5, 9, 10)  # nose, eyes, mouth corners
ATTACH_SHARE = 0.5  # how far (in part sizes) a part's anchor may lie from the body's to count as its own


def mesh_to_ibug68(mesh: np.ndarray) -> np.ndarray:
    """(468+, 2+) face-mesh points as the 68 iBUG points (extra columns are averaged alike)."""
    points = np.asarray(mesh, dtype=np.float64)
    if points.shape[0] < FACE_MESH_POINTS:
        raise ValueError(f"a face mesh has {FACE_MESH_POINTS} points, got {points.shape[0]}")
    return np.stack([points[list(indices)].mean(axis=0) for indices in MESH_TO_IBUG68])


def from_holistic(pose: np.ndarray, left_hand: np.ndarray | None, right_hand: np.ndarray | None, face_mesh: np.ndarray | None) -> HandsFace:
    """Holistic's landmarks (in pixels: pose (33, 3) with visibility, hands (21, 2), mesh (468, 2))
    as hands and face with confidences; parts not found are all zeros."""
    visibility = np.clip(np.asarray(pose, dtype=np.float64)[:, 2], 0.0, 1.0)

    def part(points: np.ndarray | None, count: int, confidence: float) -> np.ndarray:
        out = np.zeros((count, 3))
        if points is not None:
            out[:, :2] = np.asarray(points, dtype=np.float64)[:count, :2]
            out[:, 2] = confidence
        return out

    hands = [
        part(hand, NUM_HAND_POINTS, float(visibility[list(_POSE_HAND[side])].mean()))
        for side, hand in (("left", left_hand), ("right", right_hand))
    ]
    face = part(None if face_mesh is None else mesh_to_ibug68(face_mesh), NUM_FACE_POINTS, float(visibility[list(_POSE_FACE)].mean()))
    return HandsFace(hands[0], hands[1], face)


def attach(body: np.ndarray, found: HandsFace) -> HandsFace:
    """``found``'s hands given to the body's wrists they sit at, its face kept if at the body's nose
    (see the module docstring); what does not attach becomes zeros. Parts that are None stay None."""
    body = np.asarray(body, dtype=np.float64)
    wrists = body[[kp.LEFT_WRIST, kp.RIGHT_WRIST], :2]
    hands: list[np.ndarray | None] = [_zeros_like(found.left_hand), _zeros_like(found.right_hand)]
    candidates = [hand for hand in found.hands if hand is not None and _found(hand)]
    if candidates:
        distance = np.array([[np.linalg.norm(hand[0, :2] - wrist) for wrist in wrists] for hand in candidates])
        if len(candidates) == 1:
            pairs = [(0, int(np.argmin(distance[0])))]
        else:  # two hands: the pairing with the shorter total distance
            straight, crossed = distance[0, 0] + distance[1, 1], distance[0, 1] + distance[1, 0]
            pairs = [(0, 0), (1, 1)] if straight <= crossed else [(0, 1), (1, 0)]
        for hand_index, side in pairs:
            hand = candidates[hand_index]
            if distance[hand_index, side] <= ATTACH_SHARE * _size(hand):
                hands[side] = hand.copy()
    face = found.face
    if face is not None and _found(face):
        if np.linalg.norm(face[FACE_NOSE_TIP, :2] - body[kp.NOSE, :2]) > ATTACH_SHARE * _size(face):
            face = np.zeros_like(face)
    return HandsFace(hands[0], hands[1], face)


def _found(points: np.ndarray) -> bool:
    return bool((points[:, 2] > 0).any())


def _size(points: np.ndarray) -> float:
    """The diagonal of the box around a part's points."""
    xy = points[:, :2]
    return float(np.linalg.norm(xy.max(axis=0) - xy.min(axis=0)))


def _zeros_like(points: np.ndarray | None) -> np.ndarray | None:
    return None if points is None else np.zeros_like(points)
