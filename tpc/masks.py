"""Person masks: moments, overlap, and splitting a union mask between several people.

Masks travel as 8-bit images (0 background, 255 person) and are handled here as boolean arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import keypoints as kp
from .procrustes import Similarity


@dataclass(frozen=True)
class MaskMoments:
    """Area, centroid and principal-axis angle (radians, clockwise on screen) of a mask."""

    area: float
    centroid: tuple[float, float]
    angle: float


def mask_moments(mask: np.ndarray) -> MaskMoments | None:
    """Moments of a non-empty mask, or None when the mask is empty."""
    moments = cv2.moments(np.asarray(mask, dtype=np.uint8), binaryImage=True)
    area = moments["m00"]
    if area <= 0:
        return None
    cx, cy = moments["m10"] / area, moments["m01"] / area
    angle = 0.5 * np.arctan2(2 * moments["mu11"], moments["mu20"] - moments["mu02"])
    return MaskMoments(area=float(area), centroid=(float(cx), float(cy)), angle=float(angle))


def moments_similarity(source: MaskMoments | None, target: MaskMoments | None) -> Similarity | None:
    """Similarity aligning two masks' moments: centroids, areas and principal axes.

    A principal axis has no direction, so of the two rotations that align the axes the smaller one
    is taken (within ±90°). None when either mask was empty (moments None).
    """
    if source is None or target is None:
        return None
    scale = float(np.sqrt(target.area / source.area))
    angle = (target.angle - source.angle + np.pi / 2) % np.pi - np.pi / 2
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    sx, sy = source.centroid
    tx = target.centroid[0] - (cos * sx - sin * sy)
    ty = target.centroid[1] - (sin * sx + cos * sy)
    return Similarity(scale=scale, angle=float(angle), translation=(float(tx), float(ty)))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks of one size (0 when both are empty)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 0.0


def split_between_people(
    mask: np.ndarray,
    people: list[np.ndarray],
    *,
    zoom: float = 1.0,
    threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD,
) -> list[np.ndarray]:
    """Give every pixel of a union mask to the person whose skeleton is nearest.

    ``mask`` is one boolean image covering several people; ``people`` their keypoints in the
    coordinates of the mask divided by ``zoom`` (pixel centres aligned, as in
    :func:`tpc.silhouette.draw_silhouette`). Returns one boolean mask per person; a person with
    nothing visible gets an empty mask. One person gets the whole mask.
    """
    mask = np.asarray(mask, dtype=bool)
    if len(people) == 1:
        return [mask.copy()]
    height, width = mask.shape
    distances = np.full((len(people), height, width), np.inf, dtype=np.float32)
    for index, person in enumerate(people):
        bones = np.full((height, width), 255, np.uint8)
        if _draw_skeleton_lines(bones, person, zoom, threshold):
            distances[index] = cv2.distanceTransform(bones, cv2.DIST_L2, 3)
    owner = np.argmin(distances, axis=0)
    nobody = ~np.isfinite(distances.min(axis=0))
    return [mask & (owner == index) & ~nobody for index in range(len(people))]


def _draw_skeleton_lines(canvas: np.ndarray, person: np.ndarray, zoom: float, threshold: float) -> bool:
    """Draw a person's bones as zeros on a 255 canvas; False when nothing of them is visible."""
    points = np.asarray(person, dtype=np.float64)
    seen = kp.visible(points, threshold)
    if not seen.any():
        return False
    xy = np.rint((points[:, :2] + 0.5) * zoom - 0.5).astype(np.int64)
    drew = False
    for a, b in kp.LIMBS + kp.TORSO_EDGES + ((kp.NOSE, kp.LEFT_SHOULDER), (kp.NOSE, kp.RIGHT_SHOULDER)):
        if seen[a] and seen[b]:
            cv2.line(canvas, (int(xy[a, 0]), int(xy[a, 1])), (int(xy[b, 0]), int(xy[b, 1])), 0, 1)
            drew = True
    for index in np.flatnonzero(seen):
        x, y = int(xy[index, 0]), int(xy[index, 1])
        if 0 <= x < canvas.shape[1] and 0 <= y < canvas.shape[0]:
            canvas[y, x] = 0
            drew = True
    return drew
