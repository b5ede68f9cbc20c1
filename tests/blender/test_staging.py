"""Putting motion on stage and checking poses before a job, without Blender: units, timing, up, camera
placement, refusals and warnings."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from addon_without_blender import addon_module

staging = addon_module("staging")
pose_checks = addon_module("pose_checks")
DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    "height, unit, metres",
    [
        (1.75, "metres", 1.75),
        (168.0, "centimetres", 1.68),
        (1810.0, "millimetres", 1.81),
        (69.0, "inches", 1.7526),
        (27.9, "CMU units", 1.5748),
    ],
)
def test_the_unit_is_the_one_that_makes_a_human_height(height, unit, metres):
    found = staging.detect_unit(height)
    assert found.name == unit and height * found.metres_per_unit == pytest.approx(metres, rel=1e-3)


def test_a_size_in_no_known_unit_is_scaled_to_a_nominal_height():
    found = staging.detect_unit(7.0)
    assert found.name == "" and 7.0 * found.metres_per_unit == pytest.approx(staging.NOMINAL_HEIGHT)


def test_the_height_comes_from_the_leg_and_the_torso():
    # Rigify's metarig: hip to ankle 0.991 m, hips to shoulders 0.513 m; it stands 1.98 m to the crown.
    assert staging.estimated_height(0.991, 0.513) == pytest.approx(1.93, abs=0.01)
    assert staging.estimated_height(0.991, None) == pytest.approx(2.02, abs=0.01)
    assert staging.estimated_height(None, None) is None


def test_a_bvh_states_its_frames_and_rate():
    timing = staging.bvh_timing(DATA / "cmu_02_03_excerpt.bvh")
    assert (timing.frames, timing.fps) == (33, 120.0), ".0083333 s a frame is 120 fps"
    assert staging.frame_rate(1 / 0.0333333) == 30.0 and staging.frame_rate(29.97) == 29.97
    assert staging.blender_fps(29.97) == (30, pytest.approx(1.001, abs=1e-4))


def test_a_file_without_motion_timing_is_refused(tmp_path):
    (tmp_path / "rest.bvh").write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n}\nMOTION\n")
    with pytest.raises(ValueError, match="no frame count and frame time"):
        staging.bvh_timing(tmp_path / "rest.bvh")


@pytest.mark.parametrize("up", [(0, 1, 0), (0, -1, 0), (1, 0, 0), (-1, 0, 0), (0, 0, 1), (0, 0, -1)])
def test_up_turns_onto_z_by_a_proper_rotation(up):
    source = staging.nearest_axis(np.array(up, dtype=float) * 3 + 0.2)
    turn = staging.rotation_onto(source, np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(turn @ source, [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(turn @ turn.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(turn) == pytest.approx(1.0)


def test_the_framing_camera_sees_every_point_and_looks_at_the_performers_front():
    rng = np.random.default_rng(3)
    points = rng.uniform([-0.3, 1.0, 0.0], [0.4, 3.0, 1.8], size=(200, 3))  # someone walking 2 m along +Y
    forward = np.array([0.2, -1.0, 0.0])
    half_width, half_height = math.tan(math.radians(20)), math.tan(math.radians(12))
    placement = staging.frame_points(points, forward, half_width, half_height)
    local = (points - placement.location) @ placement.rotation  # camera axes: X right, Y up, Z back
    depth = -local[:, 2]
    assert (depth > 0).all()
    assert (np.abs(local[:, 0] / depth) <= half_width).all() and (np.abs(local[:, 1] / depth) <= half_height).all()
    assert np.abs(local[:, 1] / depth).max() > 0.8 * half_height, "no farther than it has to be"
    view = -placement.rotation[:, 2]
    assert np.dot(view, forward) < 0 and abs(view[2]) < 1e-12, "level, facing the performer's front"


# -- checks before a job ----------------------------------------------------------------------------------------
BODY = list(range(5, 17))


def _document(seen_per_frame: list[int], confidence: float = 1.0) -> dict:
    """Frames whose first ``seen`` body joints (of 12) are in view, the face never."""
    frames = []
    for seen in seen_per_frame:
        keypoints = [[0.0, 0.0, 0.0]] * 5 + [[10.0, 10.0, confidence if j < seen else 0.0] for j in range(12)]
        frames.append({"people": [{"keypoints": keypoints}]})
    return {"format": "coco17", "width": 64, "height": 64, "fps": 24, "frames": frames}


def test_a_performer_outside_the_view_in_most_frames_is_refused_with_the_sentence():
    verdict = pose_checks.check_armature_poses(_document([12] * 10 + [2] * 240), BODY, first_frame=1)
    assert verdict.refusal == "The performer is outside the camera view in 240 of 250 frames; use Frame Performer."


def test_frames_that_would_all_be_fallbacks_are_refused():
    verdict = pose_checks.check_armature_poses(_document([1] * 5), BODY, first_frame=1)
    assert verdict.refusal.startswith("None of the 5 frames shows two of the performer's joints to the camera")
    assert pose_checks.fallback_frames(_document([12, 1, 2], confidence=0.2)) == [0, 1, 2], "below the backend's threshold"


def test_a_few_frames_outside_are_a_warning_naming_the_first():
    verdict = pose_checks.check_armature_poses(_document([12] * 8 + [3] * 2), BODY, first_frame=101)
    assert verdict.refusal == "" and verdict.warnings == [
        "The performer is mostly outside the camera view in 2 of 10 frames (from frame 109); those frames will follow "
        "the photo less closely: use Frame Performer."
    ]
    assert pose_checks.check_armature_poses(_document([12] * 10), BODY, first_frame=1) == pose_checks.Verdict()


def test_only_the_joints_a_rig_maps_count():
    assert pose_checks.frames_mostly_outside(_document([6, 5]), BODY[:6]) == [], "six of its six joints are seen"
    assert pose_checks.frames_mostly_outside(_document([6, 5]), BODY) == [1]


def test_pose_files_without_trusted_keypoints_are_refused_and_malformed_ones_left_to_the_backend():
    refusal = pose_checks.check_pose_file(_document([1, 1], confidence=0.9), "take.json").refusal
    assert refusal.startswith("None of the 2 frames of take.json has two keypoints with confidence 0.3 or more")
    malformed = {"frames": [{"people": [{"keypoints": [[1, 2, 1]]}]}]}
    assert pose_checks.check_pose_file(malformed, "broken.json").refusal == ""


def test_unmapped_joints_are_one_sentence():
    assert pose_checks.unmapped_warning("Rig", [11, 12]) == (
        "Armature 'Rig' has no bone for the left hip and right hip, sent as not visible in every frame: assign bones "
        "under Bone Mapping in the TPC Animate panel."
    )
    assert pose_checks.unmapped_warning("Rig", [0, 1]) == "", "face points are estimated, not missing"
