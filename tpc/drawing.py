"""Pose pictures in the DWPose style that pose-guided diffusion models were trained on.

ControlNet OpenPose reads the 18-point OpenPose body; the released AnimateAnyone-family models
(Moore-AnimateAnyone, MusePose) were trained on DWPose's drawings, which add both hands and (except
MusePose) the face. One picture, drawn here, serves the preview engine, the calibration report and
the diffusion engine's pose conditioning, so they always agree. On black, in this order:

- body: OpenPose's 17 limbs between 18 points (the neck is the shoulders' midpoint, added only
  here) as filled ellipses 4 px wide in the limb's standard colour at 60 %, then a disc of radius 4
  in the point's full colour on every joint;
- hands (21 points each, :mod:`tpc.wholebody`): 20 edges 2 px wide, edge ``i`` of 20 in the colour
  of hue ``i / 20`` (full saturation and value, so the fingers run through the rainbow), then a blue
  disc of radius 4 on every joint;
- face: a white disc of radius 3 on each of the 68 points.

Sizes are DWPose's at a short side of 512 px (DWPose draws there, then resizes) and scale with the
canvas's short side. No anti-aliasing, as DWPose: the colours the models learnt are exact. A point
is drawn when its confidence reaches the visibility threshold (0.3, DWPose's too); an edge when both
of its points are.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np

from . import keypoints as kp
from .wholebody import HAND_EDGES, HandsFace

# Limbs between OpenPose points, in the order (and so the colours) of the reference renderer.
OPENPOSE_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
    (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip
OPENPOSE_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),
    (255, 85, 0),
    (255, 170, 0),
    (255, 255, 0),
    (170, 255, 0),
    (85, 255, 0),
    (0, 255, 0),
    (0, 255, 85),
    (0, 255, 170),
    (0, 255, 255),
    (0, 170, 255),
    (0, 85, 255),
    (0, 0, 255),
    (85, 0, 255),
    (170, 0, 255),
    (255, 0, 255),
    (255, 0, 170),
    (255, 0, 85),
)  # fmt: skip  (RGB)
LIMB_STRENGTH = 0.6  # limbs are drawn at 60 % of their colour, joints at full colour
# Hand edge i of 20: hue i / 20, rounded half to even as OpenCV rounds a float colour.
HAND_EDGE_COLORS: tuple[tuple[int, int, int], ...] = tuple(
    tuple(int(np.rint(255 * c)) for c in colorsys.hsv_to_rgb(i / len(HAND_EDGES), 1.0, 1.0)) for i in range(len(HAND_EDGES))
)  # type: ignore[misc]
HAND_JOINT_COLOR = (0, 0, 255)
FACE_COLOR = (255, 255, 255)

DRAWING_SIDE = 512  # the short side at which the sizes below are DWPose's, in pixels
STICK_WIDTH = 4  # half the width of a body limb's ellipse
BODY_JOINT_RADIUS = 4
HAND_EDGE_THICKNESS = 2
HAND_JOINT_RADIUS = 4
FACE_DOT_RADIUS = 3


def draw_openpose(
    canvas: np.ndarray,
    people: Sequence[np.ndarray],
    hands_face: Sequence[HandsFace] | None = None,
    *,
    face: bool = True,
    threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD,
) -> np.ndarray:
    """Draw people (COCO-17 each, with their hands and faces when given) onto an RGB uint8 canvas, in place.

    ``hands_face`` has one entry per person (or is None: bodies only); ``face=False`` leaves the
    faces out, as MusePose was trained.
    """
    size = _Sizes(min(canvas.shape[:2]) / DRAWING_SIDE)
    bodies = [kp.to_openpose18(person) for person in people]
    seen = [kp.visible(points, threshold) for points in bodies]
    for points, shown in zip(bodies, seen):  # every person's limbs under every person's joints, as DWPose
        for limb_index, (a, b) in enumerate(OPENPOSE_LIMBS):
            if shown[a] and shown[b]:
                color = tuple(int(LIMB_STRENGTH * c) for c in OPENPOSE_COLORS[limb_index])
                cv2.fillConvexPoly(canvas, _limb_polygon(points[a, :2], points[b, :2], size.stick), color)
    for points, shown in zip(bodies, seen):
        for index in np.flatnonzero(shown):
            cv2.circle(canvas, _pixel(points[index]), size.body_joint, OPENPOSE_COLORS[index], -1)
    parts = list(hands_face or ())
    for extra in parts:
        for hand in extra.hands:
            if hand is not None:
                _draw_hand(canvas, hand, kp.visible(hand, threshold), size)
    if face:
        for extra in parts:
            if extra.face is not None:
                for point in extra.face[kp.visible(extra.face, threshold)]:
                    cv2.circle(canvas, _pixel(point), size.face_dot, FACE_COLOR, -1)
    return canvas


def render_openpose(
    people: Sequence[np.ndarray],
    size: tuple[int, int],
    hands_face: Sequence[HandsFace] | None = None,
    *,
    face: bool = True,
    threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD,
) -> np.ndarray:
    """A black RGB image of ``size`` = (W, H) with the people drawn as :func:`draw_openpose` does."""
    width, height = size
    return draw_openpose(np.zeros((height, width, 3), np.uint8), people, hands_face, face=face, threshold=threshold)


class _Sizes:
    """DWPose's pixel sizes scaled to the canvas (never below one pixel)."""

    def __init__(self, scale: float) -> None:
        def scaled(value: int) -> int:
            return max(1, int(round(value * scale)))

        self.stick = scaled(STICK_WIDTH)
        self.body_joint = scaled(BODY_JOINT_RADIUS)
        self.hand_edge = scaled(HAND_EDGE_THICKNESS)
        self.hand_joint = scaled(HAND_JOINT_RADIUS)
        self.face_dot = scaled(FACE_DOT_RADIUS)


def _pixel(point: np.ndarray) -> tuple[int, int]:
    return int(round(float(point[0]))), int(round(float(point[1])))


def _limb_polygon(a: np.ndarray, b: np.ndarray, stick: int) -> np.ndarray:
    """A limb from ``a`` to ``b``: an ellipse ``stick`` pixels thick each side, drawn as a polygon (1 degree steps)."""
    delta = a - b
    half_length = int(round(float(np.hypot(*delta)) / 2))
    angle = int(round(float(np.degrees(np.arctan2(delta[1], delta[0])))))
    return cv2.ellipse2Poly(_pixel((a + b) / 2), (half_length, stick), angle, 0, 360, 1)


def _draw_hand(canvas: np.ndarray, hand: np.ndarray, shown: np.ndarray, size: _Sizes) -> None:
    for edge_index, (a, b) in enumerate(HAND_EDGES):
        if shown[a] and shown[b]:
            cv2.line(canvas, _pixel(hand[a]), _pixel(hand[b]), HAND_EDGE_COLORS[edge_index], size.hand_edge)
    for point in hand[shown]:
        cv2.circle(canvas, _pixel(point), size.hand_joint, HAND_JOINT_COLOR, -1)
