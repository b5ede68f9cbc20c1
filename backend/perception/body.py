"""What a person's keypoints say about where they stand: their box, size and which way is up.

Both the search for people (to turn a sideways person upright and to zoom onto a small one) and the
segmenters (to crop around a person) need these, in the original image's pixels.
"""

from __future__ import annotations

import numpy as np

from tpc import keypoints as kp

_FACE = list(kp.BODY_PARTS["face"])


def up_direction(keypoints: np.ndarray) -> np.ndarray | None:
    """Unit vector from the hips (else the shoulders) towards the head, or None when unclear."""
    points = np.asarray(keypoints, dtype=np.float64)
    seen = kp.visible(points)
    xy = points[:, :2]

    def middle(a: int, b: int) -> np.ndarray | None:
        if seen[a] and seen[b]:
            return (xy[a] + xy[b]) / 2
        return xy[a] if seen[a] else (xy[b] if seen[b] else None)

    hips = middle(kp.LEFT_HIP, kp.RIGHT_HIP)
    shoulders = middle(kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER)
    face = [i for i in _FACE if seen[i]]
    head = xy[face].mean(axis=0) if face else None
    for low, high in ((hips, shoulders), (shoulders, head), (hips, head)):
        if low is not None and high is not None:
            vector = high - low
            length = float(np.linalg.norm(vector))
            if length > 1e-6:
                return vector / length
    return None


def upright_quarter_turns(keypoints: np.ndarray) -> int:
    """Clockwise quarter turns (0-3) of the image that bring this person closest to upright."""
    up = up_direction(keypoints)
    if up is None:
        return 0
    # Screen angle of "up" measured clockwise from straight up (0, -1); y grows downwards.
    angle = np.degrees(np.arctan2(up[0], -up[1]))
    # Turning the image clockwise by 90 degrees turns the person's up vector clockwise too.
    return int(np.round(-angle / 90.0)) % 4


def person_box(
    keypoints: np.ndarray, mask: np.ndarray | None = None, size: tuple[int, int] | None = None
) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) around the visible keypoints and the mask (>= 0.5), in pixel edges.

    The keypoints' box grows by 15 % of its size on every side, since keypoints sit inside the body
    (the top of the head and the hands reach beyond them). None when nothing is seen.
    """
    points = np.asarray(keypoints, dtype=np.float64)
    seen = kp.visible(points)
    boxes = []
    if seen.sum() >= 2:
        xy = points[seen, :2]
        low, high = xy.min(axis=0), xy.max(axis=0)
        pad = 0.15 * float((high - low).max()) + 4.0
        boxes.append((*(low - pad), *(high + pad)))
    if mask is not None:
        rows, cols = np.nonzero(np.asarray(mask) >= 0.5)
        if len(rows):
            boxes.append((float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)))
    if not boxes:
        return None
    stacked = np.array(boxes)
    x0, y0 = stacked[:, :2].min(axis=0)
    x1, y1 = stacked[:, 2:].max(axis=0)
    if size is not None:
        x0, y0 = max(x0, 0.0), max(y0, 0.0)
        x1, y1 = min(x1, float(size[0])), min(y1, float(size[1]))
        if x1 <= x0 or y1 <= y0:
            return None
    return float(x0), float(y0), float(x1), float(y1)
