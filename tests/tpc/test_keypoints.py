"""Keypoint layouts, conversions and the handedness test."""

from __future__ import annotations

import numpy as np
import pytest

from tpc import keypoints as kp
from tpc.procrustes import Similarity

# Names of each source layout, in order, as their projects document them.
OPENPOSE_COCO18 = [
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye",
    "right_ear", "left_ear",
]  # fmt: skip
BODY25 = [
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye",
    "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
    "right_small_toe", "right_heel",
]  # fmt: skip
BLAZEPOSE33 = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
]  # fmt: skip


@pytest.mark.parametrize("layout, names", [("openpose_coco18", OPENPOSE_COCO18), ("body25", BODY25), ("blazepose33", BLAZEPOSE33)])
def test_conversion_picks_every_coco_point_by_name(layout, names):
    # Encode each source point's name index in its x coordinate and check the names line up.
    source = np.array([[i, 0.0, 1.0] for i in range(len(names))])
    coco = kp.convert_to_coco17(source, layout)
    assert [names[int(x)] for x in coco[:, 0]] == list(kp.COCO17_NAMES)


def test_conversion_keeps_undetected_points_invisible_and_checks_shapes():
    source = np.zeros((18, 3))
    source[0] = [10, 20, 0.9]
    coco = kp.convert_to_coco17(source, "openpose_coco18")
    assert kp.visible(coco).tolist() == [True] + [False] * 16
    assert kp.detect_layout(25) == "body25"
    with pytest.raises(ValueError, match="shape"):
        kp.convert_to_coco17(np.zeros((17, 3)), "body25")
    with pytest.raises(ValueError, match="no known layout"):
        kp.detect_layout(20)


def test_visible_rejects_nan_far_and_unconfident_points():
    points = np.tile([100.0, 100.0, 1.0], (17, 1))
    points[1] = [np.nan, 3.0, 1.0]
    points[2] = [5e7, 3.0, 1.0]
    points[3, 2] = 0.1
    points[4, 2] = np.nan
    assert np.flatnonzero(~kp.visible(points)).tolist() == [1, 2, 3, 4]


def test_left_right_swap_is_an_involution_mapping_left_names_to_right():
    swap = np.array(kp.LEFT_RIGHT_SWAP)
    assert (swap[swap] == np.arange(17)).all()
    for index, name in enumerate(kp.COCO17_NAMES):
        partner = kp.COCO17_NAMES[swap[index]]
        assert partner == name.replace("left", "#").replace("right", "left").replace("#", "right")


def test_facing_survives_similarities_and_flips_with_a_mirror(astronaut):
    _, points, _ = astronaut
    sign = kp.facing(points)
    assert sign in (-1, 1)
    rng = np.random.default_rng(0)
    for _ in range(20):
        moved = Similarity(scale=rng.uniform(0.3, 3), angle=rng.uniform(-np.pi, np.pi), translation=(40.0, -9.0)).apply(points)
        assert kp.facing(moved) == sign
    mirrored = points.copy()
    mirrored[:, 0] = 511 - mirrored[:, 0]
    assert kp.facing(mirrored) == -sign
    assert kp.facing(kp.empty_person()) == 0
