"""Mask cleanup: one piece per person, sensible holes filled, real gaps kept, no pixel shared."""

from __future__ import annotations

import cv2
import numpy as np

from tpc import keypoints as kp
from tpc_backend.perception.mask_cleanup import clean_masks


def standing_person(x: float, height: float = 200.0, top: float = 40.0) -> np.ndarray:
    """Keypoints of an upright person centred at column ``x`` (nose at ``top``)."""
    points = kp.empty_person()
    rows = {
        kp.NOSE: 0.0, kp.LEFT_EYE: -0.02, kp.RIGHT_EYE: -0.02, kp.LEFT_EAR: 0.0, kp.RIGHT_EAR: 0.0,
        kp.LEFT_SHOULDER: 0.2, kp.RIGHT_SHOULDER: 0.2, kp.LEFT_ELBOW: 0.4, kp.RIGHT_ELBOW: 0.4,
        kp.LEFT_WRIST: 0.55, kp.RIGHT_WRIST: 0.55, kp.LEFT_HIP: 0.55, kp.RIGHT_HIP: 0.55,
        kp.LEFT_KNEE: 0.75, kp.RIGHT_KNEE: 0.75, kp.LEFT_ANKLE: 0.95, kp.RIGHT_ANKLE: 0.95,
    }  # fmt: skip
    offsets = {kp.LEFT_EYE: 0.03, kp.RIGHT_EYE: -0.03, kp.LEFT_EAR: 0.05, kp.RIGHT_EAR: -0.05}
    for index, row in rows.items():
        side = 0.12 if index in (kp.LEFT_SHOULDER, kp.LEFT_ELBOW, kp.LEFT_WRIST) else -0.12 if index in (
            kp.RIGHT_SHOULDER, kp.RIGHT_ELBOW, kp.RIGHT_WRIST) else 0.06 if index in (
            kp.LEFT_HIP, kp.LEFT_KNEE, kp.LEFT_ANKLE) else -0.06 if index in (
            kp.RIGHT_HIP, kp.RIGHT_KNEE, kp.RIGHT_ANKLE) else offsets.get(index, 0.0)  # fmt: skip
        points[index] = (x + side * height, top + row * height, 0.9)
    return points


def body_mask(points: np.ndarray, shape=(300, 400)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    seen = kp.visible(points)
    for a, b in kp.LIMBS + kp.TORSO_EDGES:
        if seen[a] and seen[b]:
            cv2.line(mask, tuple(np.rint(points[a, :2]).astype(int)), tuple(np.rint(points[b, :2]).astype(int)), 1, 14)
    cv2.circle(mask, tuple(np.rint(points[kp.NOSE, :2]).astype(int)), 18, 1, -1)
    torso = np.rint(points[[kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER, kp.RIGHT_HIP, kp.LEFT_HIP], :2]).astype(np.int32)
    cv2.fillConvexPoly(mask, torso, 1)
    return mask.astype(np.float32)


def test_specks_go_small_holes_close_and_real_gaps_stay():
    person = standing_person(200)
    soft = body_mask(person)
    soft[250:262, 330:342] = 1.0  # a speck far away (another object)
    soft[100:104, 195:199] = 0.0  # a tiny hole in the torso (a logo)
    soft[118:130, 190:202] = 0.3  # a hole the model half believed was person (a shadow)
    clean = clean_masks([soft], [person])[0]
    assert not clean[250:262, 330:342].any()
    assert clean[100:104, 195:199].all() and clean[118:130, 190:202].all()
    assert not clean[200, 200]  # between the legs: background open to the outside


def test_large_hole_without_belief_stays_open():
    person = standing_person(200)
    soft = body_mask(person)
    soft[85:145, 180:220] = 0.0  # a big hole: more than 1 % of the person, model says background
    clean = clean_masks([soft], [person])[0]
    assert not clean[100:130, 190:210].any()


def test_the_piece_with_the_keypoints_wins_over_a_larger_one():
    person = standing_person(100)
    soft = body_mask(person)
    soft[20:290, 250:400] = 1.0  # a big blob elsewhere (a wall the segmenter liked)
    clean = clean_masks([soft], [person])[0]
    assert clean[120, 100] and not clean[150, 300:].any()


def test_pixels_claimed_twice_go_to_the_nearer_skeleton_and_masks_stay_disjoint():
    left, right = standing_person(140), standing_person(260)
    both = np.clip(body_mask(left) + body_mask(right), 0, 1)
    clean = clean_masks([both, both], [left, right])
    assert not (clean[0] & clean[1]).any()
    assert clean[0][120, 140] and clean[1][120, 260]
    assert not clean[0][120, 260] and not clean[1][120, 140]
