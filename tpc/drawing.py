"""Skeleton pictures in the OpenPose style that pose-guided diffusion models were trained on.

ControlNet OpenPose and the pose guiders of AnimateAnyone-like models expect the 18-point OpenPose
body layout drawn with its standard limb colours on black. We keep COCO-17 everywhere else and add the
neck (midpoint of the shoulders) only here, when drawing. The same picture serves the preview engine,
the calibration report and the diffusion engine's pose conditioning, so they always agree.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import keypoints as kp

# OpenPose 18-point order, built from COCO-17 indices; "neck" is the shoulders' midpoint.
_OPENPOSE_FROM_COCO: tuple[int | str, ...] = (
    kp.NOSE, "neck", kp.RIGHT_SHOULDER, kp.RIGHT_ELBOW, kp.RIGHT_WRIST, kp.LEFT_SHOULDER, kp.LEFT_ELBOW,
    kp.LEFT_WRIST, kp.RIGHT_HIP, kp.RIGHT_KNEE, kp.RIGHT_ANKLE, kp.LEFT_HIP, kp.LEFT_KNEE, kp.LEFT_ANKLE,
    kp.RIGHT_EYE, kp.LEFT_EYE, kp.RIGHT_EAR, kp.LEFT_EAR,
)  # fmt: skip
# Limbs between OpenPose points, in the order (and so the colours) of the reference renderer.
OPENPOSE_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
    (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip
OPENPOSE_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip  (RGB)


def to_openpose18(keypoints: np.ndarray, threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD) -> np.ndarray:
    """COCO-17 (17, 3) to OpenPose COCO-18 (18, 3); the neck is seen when both shoulders are."""
    points = np.asarray(keypoints, dtype=np.float64)
    seen = kp.visible(points, threshold)
    out = np.zeros((18, 3))
    for index, source in enumerate(_OPENPOSE_FROM_COCO):
        if source == "neck":
            if seen[kp.LEFT_SHOULDER] and seen[kp.RIGHT_SHOULDER]:
                out[index, :2] = points[[kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER], :2].mean(axis=0)
                out[index, 2] = min(points[kp.LEFT_SHOULDER, 2], points[kp.RIGHT_SHOULDER, 2])
        elif seen[source]:
            out[index] = points[source]
    return out


def draw_openpose(
    canvas: np.ndarray,
    people: list[np.ndarray],
    *,
    threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD,
    stick_width: float | None = None,
) -> np.ndarray:
    """Draw people (COCO-17 each) as OpenPose skeletons onto an RGB uint8 canvas, in place.

    Limbs are filled ellipses at 60 % colour strength and joints full-colour discs, as in OpenPose's
    own renderer; the stick width defaults to 4 px at 512 px and scales with the canvas.
    """
    height, width = canvas.shape[:2]
    stick = stick_width if stick_width is not None else max(1.0, 4.0 * max(height, width) / 512.0)
    for person in people:
        points = to_openpose18(person, threshold)
        seen = points[:, 2] > 0
        for limb_index, (a, b) in enumerate(OPENPOSE_LIMBS):
            if not (seen[a] and seen[b]):
                continue
            color = tuple(int(0.6 * c) for c in OPENPOSE_COLORS[limb_index])
            center = (points[a, :2] + points[b, :2]) / 2
            delta = points[a, :2] - points[b, :2]
            length = float(np.hypot(*delta))
            angle = float(np.degrees(np.arctan2(delta[1], delta[0])))
            polygon = cv2.ellipse2Poly(
                (int(round(center[0])), int(round(center[1]))),
                (int(round(length / 2)), max(1, int(round(stick)))),
                int(round(angle)),
                0,
                360,
                1,
            )
            cv2.fillConvexPoly(canvas, polygon, color, cv2.LINE_AA)
        for index in np.flatnonzero(seen):
            center = (int(round(points[index, 0])), int(round(points[index, 1])))
            cv2.circle(canvas, center, max(1, int(round(stick))), OPENPOSE_COLORS[index], -1, cv2.LINE_AA)
    return canvas


def render_openpose(
    people: list[np.ndarray], size: tuple[int, int], threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD
) -> np.ndarray:
    """A black RGB image of ``size`` = (W, H) with the people's OpenPose skeletons."""
    width, height = size
    return draw_openpose(np.zeros((height, width, 3), np.uint8), people, threshold=threshold)
