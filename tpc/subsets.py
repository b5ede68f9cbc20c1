"""Candidate keypoint subsets for the Procrustes subset search (paper Sec. 4.1, Eq. 4).

Limbs move, so no single rigid fit can match every keypoint of two different poses. The search tries
subsets built from whole body parts: every union of face, torso, the two arms and the two legs, cut
down to the keypoints both people show, keeping at least two points of the rigid core (face and
torso) when there are that many. That family contains the face-only subset (what the official code
fits) and the all-common-points subset (plain Procrustes), so the chosen subset can never score below
either. A second, local round toggles single keypoints of the winner.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .keypoints import BODY_PARTS, NUM_KEYPOINTS

_PART_MASKS = np.zeros((len(BODY_PARTS), NUM_KEYPOINTS), dtype=bool)
for _row, _indices in enumerate(BODY_PARTS.values()):
    _PART_MASKS[_row, list(_indices)] = True

# Every non-empty union of body parts (2^6 - 1 = 63), as rows of a (63, 17) boolean table.
_UNIONS = np.array(
    [
        _PART_MASKS[list(chosen)].any(axis=0)
        for count in range(1, len(BODY_PARTS) + 1)
        for chosen in combinations(range(len(BODY_PARTS)), count)
    ]
)
FACE = _PART_MASKS[list(BODY_PARTS).index("face")]
# The rigid core: face and torso points. Limbs swing about it, so a fit that keeps no core point
# (an arm alone) can turn the whole person upside down to cover a raised arm.
CORE = FACE | _PART_MASKS[list(BODY_PARTS).index("torso")]
MIN_POINTS = 2


def _keeps_core(candidates: np.ndarray, common: np.ndarray) -> np.ndarray:
    """Rows that hold at least two core points, or all rows when fewer than two core points are common."""
    if (common & CORE).sum() < MIN_POINTS:
        return np.ones(len(candidates), dtype=bool)
    return (candidates & CORE).sum(axis=1) >= MIN_POINTS


def part_union_subsets(common: np.ndarray) -> np.ndarray:
    """Distinct body-part unions restricted to ``common`` (17 bools) that keep the core.

    Returns a (B, 17) boolean array, each row with at least two points, and at least two face or
    torso points whenever the two people share that many. The all-common subset is always first and
    the face-only subset (when the face shows at least two common points) always present; B is 0
    when fewer than two keypoints are common.
    """
    common = np.asarray(common, dtype=bool)
    if common.sum() < MIN_POINTS:
        return np.zeros((0, NUM_KEYPOINTS), dtype=bool)
    candidates = _UNIONS & common
    candidates = candidates[(candidates.sum(axis=1) >= MIN_POINTS) & _keeps_core(candidates, common)]
    candidates = np.concatenate([common[None], candidates])  # all-common first: wins ties
    _, first = np.unique(candidates, axis=0, return_index=True)
    return candidates[np.sort(first)]


def toggled_neighbours(subset: np.ndarray, common: np.ndarray) -> np.ndarray:
    """Subsets one common keypoint away from ``subset`` (added or removed) that keep the core."""
    subset, common = np.asarray(subset, dtype=bool), np.asarray(common, dtype=bool)
    indices = np.flatnonzero(common)
    neighbours = np.repeat(subset[None], len(indices), axis=0)
    neighbours[np.arange(len(indices)), indices] ^= True
    return neighbours[(neighbours.sum(axis=1) >= MIN_POINTS) & _keeps_core(neighbours, common)]
