"""From soft model masks to one clean boolean mask per person.

Segmenters leave specks (a second person's hand, a patch of background), holes (a logo on a shirt,
a shadow) and, with several people, pixels claimed twice. The calibration warps whatever the mask
says is the person, so every mask here is cut to one connected piece, keeps real gaps (the space
between an arm and the body) and fills only holes that are small or that the model itself half
believed to be person; a pixel claimed by two people goes to the one whose skeleton is nearer.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from tpc import keypoints as kp
from tpc.masks import split_between_people

THRESHOLD = 0.5  # soft mask value from which a pixel is person
HOLE_BELIEF = 0.2  # a hole whose mean soft value reaches this is filled, whatever its size
SMALL_HOLE = 0.01  # ... and so is any hole smaller than this share of the person's area


def clean_masks(soft_masks: Sequence[np.ndarray], people: Sequence[np.ndarray]) -> list[np.ndarray]:
    """One boolean mask per person from their soft (0..1) or boolean masks, all of one size."""
    soft = [np.asarray(m, dtype=np.float32) for m in soft_masks]
    binary = [m >= THRESHOLD for m in soft]
    if len(binary) > 1:
        binary = _exclusive(binary, list(people))
    return [_clean_one(mask, values, person) for mask, values, person in zip(binary, soft, people)]


def _clean_one(mask: np.ndarray, soft: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Main piece and holes, worked out inside the mask's box (a person is a small part of a frame)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return mask.copy()
    top, bottom = max(rows[0] - 1, 0), min(rows[-1] + 2, mask.shape[0])
    left, right = max(cols[0] - 1, 0), min(cols[-1] + 2, mask.shape[1])
    local = person.copy()
    local[:, :2] -= (left, top)
    out = np.zeros_like(mask)
    box = (slice(top, bottom), slice(left, right))
    out[box] = _fill_holes(_main_piece(mask[box], local), soft[box])
    return out


def _exclusive(masks: list[np.ndarray], people: list[np.ndarray]) -> list[np.ndarray]:
    """Give every pixel claimed by several people to the nearest skeleton among them."""
    claims = np.sum(masks, axis=0)
    contested = claims > 1
    if not contested.any():
        return masks
    nearest = split_between_people(contested, people)
    return [np.where(contested, mine, mask) for mask, mine in zip(masks, nearest)]


def _main_piece(mask: np.ndarray, person: np.ndarray) -> np.ndarray:
    """The connected piece that holds most of the person's keypoints (the largest one on a tie)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask.copy()
    votes = np.zeros(count)
    seen = kp.visible(person)
    height, width = mask.shape
    for x, y in np.rint(person[seen, :2]).astype(int):
        if 0 <= x < width and 0 <= y < height and labels[y, x] > 0:
            votes[labels[y, x]] += 1
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    areas[0] = -1.0
    votes[0] = -1.0
    best = max(range(1, count), key=lambda label: (votes[label], areas[label]))
    return labels == best


def _fill_holes(mask: np.ndarray, soft: np.ndarray) -> np.ndarray:
    """Fill holes that are small or that the model half believed to be person.

    Background touching the edge is outside: the box around a mask keeps a free row or column on
    every side that is not the image's own edge, so this holds for boxes as for whole images.
    """
    area = int(mask.sum())
    if area == 0:
        return mask
    background = (~mask).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(background, connectivity=4)
    height, width = mask.shape
    x, y, w, h, sizes = (stats[:, i] for i in range(5))
    inside = (x > 0) & (y > 0) & (x + w < width) & (y + h < height)  # touching the border: outside
    belief = np.bincount(labels.ravel(), weights=soft.ravel(), minlength=count) / np.maximum(sizes, 1)
    fill = inside & ((sizes < SMALL_HOLE * area) | (belief >= HOLE_BELIEF))
    fill[0] = False  # label 0 is the person itself
    return mask | fill[labels]
