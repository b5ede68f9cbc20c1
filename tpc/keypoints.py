"""COCO-17 keypoints: the one order every part of TPC Animate speaks internally.

Pose sources disagree on layouts (OpenPose COCO-18 and BODY_25, MediaPipe BlazePose-33); everything is
converted to COCO-17 at the boundary so that the calibration, the skeleton drawing and the protocol
never need to know where a pose came from. A person's keypoints are a float array of shape (17, 3)
holding ``x, y, confidence`` in pixel coordinates (origin top-left); confidence 0 means not visible.
"""

from __future__ import annotations

import numpy as np

COCO17_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
NUM_KEYPOINTS = len(COCO17_NAMES)

NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR = 0, 1, 2, 3, 4
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST = 5, 6, 7, 8, 9, 10
LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE = 11, 12, 13, 14, 15, 16

# Body parts as the paper counts them (face 5, torso 4, arms 4, legs 4); arms and legs include the
# joint they hang from so that a part alone still has at least the two points a similarity needs.
BODY_PARTS: dict[str, tuple[int, ...]] = {
    "face": (NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR),
    "torso": (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP),
    "left_arm": (LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST),
    "right_arm": (RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST),
    "left_leg": (LEFT_HIP, LEFT_KNEE, LEFT_ANKLE),
    "right_leg": (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE),
}

# Limb segments (bones) between keypoints, used for drawing and for skeleton silhouettes.
LIMBS: tuple[tuple[int, int], ...] = (
    (LEFT_SHOULDER, LEFT_ELBOW),
    (LEFT_ELBOW, LEFT_WRIST),
    (RIGHT_SHOULDER, RIGHT_ELBOW),
    (RIGHT_ELBOW, RIGHT_WRIST),
    (LEFT_HIP, LEFT_KNEE),
    (LEFT_KNEE, LEFT_ANKLE),
    (RIGHT_HIP, RIGHT_KNEE),
    (RIGHT_KNEE, RIGHT_ANKLE),
)
TORSO_EDGES: tuple[tuple[int, int], ...] = (
    (LEFT_SHOULDER, RIGHT_SHOULDER),
    (LEFT_HIP, RIGHT_HIP),
    (LEFT_SHOULDER, LEFT_HIP),
    (RIGHT_SHOULDER, RIGHT_HIP),
)

# Index permutation that exchanges left and right: a person seen from behind shows their left side
# where a frontal person shows the right, and a similarity (reflection excluded) cannot undo that.
LEFT_RIGHT_SWAP: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)

DEFAULT_CONFIDENCE_THRESHOLD = 0.3

# --- Conversions -------------------------------------------------------------------------------------
# Each table gives, for every COCO-17 keypoint, its index in the source layout.

# OpenPose COCO-18: nose, neck, r-shoulder, r-elbow, r-wrist, l-shoulder, l-elbow, l-wrist, r-hip,
# r-knee, r-ankle, l-hip, l-knee, l-ankle, r-eye, l-eye, r-ear, l-ear.
_FROM_OPENPOSE_COCO18 = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)
# OpenPose BODY_25: as COCO-18 but with mid-hip at 8 (so hips and legs shift by one), then eyes and
# ears at 15-18 and six foot points.
_FROM_BODY25 = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)
# MediaPipe BlazePose-33.
_FROM_BLAZEPOSE33 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)

SOURCE_LAYOUTS: dict[str, tuple[int, tuple[int, ...]]] = {
    "coco17": (17, tuple(range(17))),
    "openpose_coco18": (18, _FROM_OPENPOSE_COCO18),
    "body25": (25, _FROM_BODY25),
    "blazepose33": (33, _FROM_BLAZEPOSE33),
}


def convert_to_coco17(keypoints: np.ndarray, layout: str) -> np.ndarray:
    """Reorder one person's keypoints from ``layout`` into COCO-17.

    ``keypoints`` has shape (K, 3) or (K, 2) in the source layout (K = 18 for ``openpose_coco18``,
    25 for ``body25``, 33 for ``blazepose33``); a missing confidence column counts as fully visible.
    OpenPose marks undetected points with (0, 0, 0); they keep confidence 0 here.
    """
    if layout not in SOURCE_LAYOUTS:
        raise ValueError(f"unknown keypoint layout {layout!r}; known: {', '.join(SOURCE_LAYOUTS)}")
    count, table = SOURCE_LAYOUTS[layout]
    points = np.asarray(keypoints, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] != count or points.shape[1] not in (2, 3):
        raise ValueError(f"{layout} keypoints must have shape ({count}, 3), got {points.shape}")
    if points.shape[1] == 2:
        points = np.concatenate([points, np.ones((count, 1))], axis=1)
    return points[list(table)].copy()


OPENPOSE_NECK = 1  # the one COCO-18 point COCO-17 lacks


def to_openpose18(keypoints: np.ndarray) -> np.ndarray:
    """COCO-17 (17, 3) as OpenPose COCO-18 (18, 3), every point as it is, plus the neck.

    The neck is the shoulders' midpoint with the lower of their confidences, (0, 0, 0) unless both
    shoulders have some; OpenPose files and OpenPose-style drawings both need it.
    """
    points = np.asarray(keypoints, dtype=np.float64)
    count, table = SOURCE_LAYOUTS["openpose_coco18"]
    out = np.zeros((count, 3))
    out[list(table)] = points
    shoulders = points[[LEFT_SHOULDER, RIGHT_SHOULDER]]
    if (shoulders[:, 2] > 0).all():
        out[OPENPOSE_NECK] = [*shoulders[:, :2].mean(axis=0), shoulders[:, 2].min()]
    return out


def detect_layout(count: int) -> str:
    """Name the layout of a flat keypoint list by its number of points (17, 18, 25 or 33)."""
    for name, (size, _) in SOURCE_LAYOUTS.items():
        if size == count:
            return name
    raise ValueError(f"{count} keypoints match no known layout (17, 18, 25 or 33 points)")


MAX_COORDINATE = 1e6  # pixels; anything farther off-canvas is noise, and would overflow drawing


def visible(keypoints: np.ndarray, threshold: float = DEFAULT_CONFIDENCE_THRESHOLD) -> np.ndarray:
    """Boolean mask of the keypoints that count as seen: confident enough, finite, near the canvas."""
    points = np.asarray(keypoints, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        near = (np.abs(points[..., :2]) < MAX_COORDINATE).all(axis=-1)
        return near & (points[..., 2] >= threshold) & (points[..., 2] > 0)


def facing(keypoints: np.ndarray, threshold: float = DEFAULT_CONFIDENCE_THRESHOLD) -> int:
    """+1 or -1 for the handedness of the body on screen, 0 when the keypoints cannot tell.

    A person facing the camera and the same person seen from behind show mirrored keypoint layouts
    (the left shoulder on the other side of the head), which no rotation or scaling undoes. The sign
    of the angle from a left-right pair (shoulders, else hips, else eyes) to the body's up direction
    tells the two apart; nearly parallel vectors (a profile) give 0.
    """
    points = np.asarray(keypoints, dtype=np.float64)
    seen = visible(points, threshold)
    xy = points[:, :2]

    def middle(a: int, b: int) -> np.ndarray | None:
        return (xy[a] + xy[b]) / 2 if seen[a] and seen[b] else None

    face = [i for i in BODY_PARTS["face"] if seen[i]]
    head = xy[face].mean(axis=0) if face else None
    shoulders, hips, eyes = middle(LEFT_SHOULDER, RIGHT_SHOULDER), middle(LEFT_HIP, RIGHT_HIP), middle(LEFT_EYE, RIGHT_EYE)
    choices = []
    if shoulders is not None:
        up = head - shoulders if head is not None else (shoulders - hips if hips is not None else None)
        choices.append((xy[RIGHT_SHOULDER] - xy[LEFT_SHOULDER], up))
    if hips is not None and shoulders is not None:
        choices.append((xy[RIGHT_HIP] - xy[LEFT_HIP], shoulders - hips))
    if eyes is not None and seen[NOSE]:
        choices.append((xy[RIGHT_EYE] - xy[LEFT_EYE], eyes - xy[NOSE]))
    for across, up in choices:
        if up is None:
            continue
        norm = np.linalg.norm(across) * np.linalg.norm(up)
        if norm > 1e-9:
            sine = float(across[0] * up[1] - across[1] * up[0]) / norm
            if abs(sine) >= 0.3:
                return 1 if sine > 0 else -1
    return 0


def empty_person() -> np.ndarray:
    """Keypoints of a person with nothing visible."""
    return np.zeros((NUM_KEYPOINTS, 3), dtype=np.float64)
