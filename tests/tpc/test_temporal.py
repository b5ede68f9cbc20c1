"""Frames calibrated as a sequence: smoother than each on its own, never smoothed across a shot cut,
steady through keypoint dropouts, and the same whatever frame is calibrated first."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from tests.support.synthetic_poses import CANVAS, Body, Motion, make_motion
from tpc import keypoints as kp
from tpc.calibration import Calibrator
from tpc.masks import iou
from tpc.procrustes import Similarity
from tpc.temporal import is_shot_cut, shot_cuts, smooth_at

FRAMES = 40


@pytest.fixture(scope="module")
def body(astronaut) -> Body:
    _, points, mask = astronaut
    return Body(points, mask)


@pytest.fixture(scope="module")
def calibrators(astronaut) -> dict[str, Calibrator]:
    image, points, mask = astronaut
    sequence = Calibrator(image, [(points, mask)], CANVAS)
    return {"sequence": sequence, "independent": Calibrator(image, [(points, mask)], CANVAS, replace(sequence.config, independent=True))}


def placement_errors(astronaut, matrices: list[np.ndarray], motion: Motion) -> np.ndarray:
    """(frames, pixels, 2) where each calibration puts the reference pixels minus where the truth
    does, in % of the person's height on the canvas."""
    _, _, mask = astronaut
    rows, cols = np.nonzero(mask)
    points = np.stack([cols, rows], axis=1)[::40].astype(np.float64)
    height = rows.max() - rows.min() + 1
    return np.stack(
        [
            100 * (points @ (m[:, :2] - c.truth_matrix[:, :2]).T + (m[:, 2] - c.truth_matrix[:, 2])) / (height * c.truth.scale)
            for m, c in zip(matrices, motion.frames)
        ]
    )


def steps(errors: np.ndarray) -> np.ndarray:
    """Frame-to-frame change of the placement error (RMS over the pixels), per pair of neighbours."""
    return np.sqrt(((errors[1:] - errors[:-1]) ** 2).sum(axis=2).mean(axis=1))


def fitted(calibrator: Calibrator, frames, masks=None) -> list[np.ndarray]:
    sequence = calibrator.sequence(frames, masks)
    return [sequence.fits(index)[0].transform.matrix for index in range(len(frames))]


@pytest.mark.parametrize("with_masks", [False, True])
def test_a_smooth_motion_is_followed_smoothly_without_losing_overlap(astronaut, body, calibrators, with_masks):
    _, _, mask = astronaut
    motion = make_motion(body, FRAMES, seed=2)
    frames = [[case.keypoints] for case in motion.frames]
    masks = [case.mask for case in motion.frames] if with_masks else None
    results = {}
    for name, calibrator in calibrators.items():
        matrices = fitted(calibrator, frames, masks)
        overlap = [
            iou(cv2.warpAffine(mask.astype(np.uint8), m, CANVAS, flags=cv2.INTER_NEAREST) > 0, case.mask)
            for m, case in zip(matrices, motion.frames)
        ]
        results[name] = (steps(placement_errors(astronaut, matrices, motion)).mean(), np.mean(overlap))
    (flicker, overlap), (alone_flicker, alone_overlap) = results["sequence"], results["independent"]
    assert flicker < 0.4 * alone_flicker
    assert overlap > alone_overlap - 0.005


def test_a_shot_cut_is_not_smoothed_across(body, calibrators):
    """A cut to a closer view of the same person (still one track): each side of the cut is calibrated
    exactly as if it were a sequence of its own."""
    motion = make_motion(body, FRAMES, seed=3)
    frames = [[case.keypoints.copy()] for case in motion.frames]
    centre = np.mean([people[0][kp.visible(people[0]), :2].mean(axis=0) for people in frames[18:22]], axis=0)
    closer = Similarity(scale=1.5, translation=tuple(centre - 1.5 * centre))
    for people in frames[20:]:
        people[0] = closer.apply(people[0])
    calibrator = calibrators["sequence"]
    assert len({track for people in calibrator.tracks(frames) for _, track in people}) == 1, "one person all along"
    whole = calibrator.sequence(frames)
    before, after = calibrator.sequence(frames[:20]), calibrator.sequence(frames[20:])
    assert [whole.fits(i) for i in range(20)] == [before.fits(i) for i in range(20)]
    assert [whole.fits(i) for i in range(20, FRAMES)] == [after.fits(i - 20) for i in range(20, FRAMES)]
    # Away from the cut, windows reach as far as they may: the smooth motion is never taken for a cut.
    assert whole.window(9, 0) == [(i, 0) for i in range(0, 20)]
    assert whole.window(30, 0) == [(i, 0) for i in range(20, 40)]


def test_a_frame_gone_astray_pulls_neither_its_neighbours_nor_itself():
    """The robust weights: one frame far off a steady motion counts for nothing, so the smoothed
    transforms are exactly those of the motion (a quadratic fits it exactly)."""
    count = 21
    t = np.arange(count, dtype=np.float64)
    motion = np.column_stack([0.01 * t, 0.02 * t - 0.001 * t**2, 1.0 + 0.01 * t, 2.0 - 0.005 * t])  # log s, angle, centre
    astray = motion.copy()
    astray[12] += [0.3, 1.0, 0.2, -0.2]
    for at in range(count):
        np.testing.assert_allclose(smooth_at(astray, np.ones(count), at, 5.0), motion[at], atol=1e-9)


def test_shot_cuts_are_large_sudden_changes_of_the_target(astronaut):
    _, points, _ = astronaut
    moved = Similarity(scale=1.02, angle=np.radians(3), translation=(6.0, -4.0)).apply(points)
    assert not is_shot_cut(points, moved)
    assert is_shot_cut(points, Similarity(scale=1.4).apply(points))  # a zoom
    assert is_shot_cut(points, Similarity(angle=np.radians(30)).apply(points))
    assert is_shot_cut(points, Similarity(translation=(200.0, 0.0)).apply(points))
    few = points.copy()
    few[2:, 2] = 0.0
    assert not is_shot_cut(few, Similarity(scale=2.0).apply(few)), "two points are too few to tell"
    # Over a run of frames, a jump that lasts is a cut; one frame unlike both its neighbours is a glitch.
    zoomed = Similarity(scale=1.5).apply(points)
    assert shot_cuts([points, moved, zoomed, zoomed, zoomed]) == [False, False, True, False, False]
    assert shot_cuts([points, moved, zoomed, moved, points]) == [False] * 5
    assert shot_cuts([points, moved, zoomed]) == [False, False, True]


@pytest.mark.parametrize("dropped", [kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER, kp.RIGHT_ELBOW, kp.RIGHT_WRIST])
def test_a_keypoint_missing_for_three_frames_makes_no_jump(astronaut, body, calibrators, dropped):
    """Keypoints only (the shapes are drawn from them, so a dropout changes the shape too)."""
    motion = make_motion(body, FRAMES, seed=4, dropout_every=10**9)
    assert motion.dropouts == []
    frames = [[case.keypoints] for case in motion.frames]
    holes = [[case.keypoints.copy()] for case in motion.frames]
    for people in holes[18:21]:
        people[0][dropped, 2] = 0.0
    around = slice(15, 24)  # the steps into, through and out of the dropout
    jumps = {}
    for name, calibrator in calibrators.items():
        plain = steps(placement_errors(astronaut, fitted(calibrator, frames), motion))[around].max()
        missing = steps(placement_errors(astronaut, fitted(calibrator, holes), motion))[around].max()
        jumps[name] = missing - plain
    assert jumps["sequence"] < 0.5  # % of the person's height: invisible
    if dropped == kp.RIGHT_ELBOW:  # the scene matters: calibrated on their own, the frames jump
        assert jumps["independent"] > 3.0


def test_any_frame_first_and_any_restart_point_give_identical_fits(body, calibrators):
    motion = make_motion(body, FRAMES, seed=5, cut_at=25)
    frames = [[case.keypoints] for case in motion.frames]
    masks = [case.mask for case in motion.frames]
    calibrator = calibrators["sequence"]
    through = calibrator.sequence(frames, masks)
    expected = [through.fits(i) for i in range(FRAMES)]
    assert any(fit[0].candidate_score is not None for fit in expected), "the smoother must be on"
    for restart in (1, 9, 10, 11, 24, 25, 33, FRAMES - 1):
        resumed = calibrator.sequence(frames, masks)
        assert [resumed.fits(i) for i in range(restart, FRAMES)] == expected[restart:], restart
    backwards = calibrator.sequence(frames, masks)
    assert [backwards.fits(i) for i in reversed(range(FRAMES))][::-1] == expected
    jumping = calibrator.sequence(frames, masks)
    first = jumping.calibration(31)
    assert first.fits == expected[31] and np.array_equal(first.image, through.calibration(31).image)


def test_independent_frames_keep_their_own_fits_and_the_report_says_what_smoothing_did(body, calibrators):
    motion = make_motion(body, 12, seed=6)
    frames = [[case.keypoints] for case in motion.frames]
    alone = calibrators["independent"].sequence(frames)
    smoothed = calibrators["sequence"].sequence(frames)
    for index, people in enumerate(frames):
        own = calibrators["independent"].fit(people)
        assert alone.fits(index) == own
        entry = alone.fits(index)[0].to_report()
        assert entry["candidate_score"] == entry["score"] == round(own[0].score, 4)
        fit = smoothed.fits(index)[0]
        assert fit.candidate_score == own[0].score and fit.keypoints_used == own[0].keypoints_used
        assert fit.to_report()["candidate_score"] == round(own[0].score, 4)
        assert 0.0 < fit.score <= 1.0
