"""Several people: matching reference to target people, stable identities, one image per person."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from tpc.calibration import Calibrator
from tpc.masks import iou, split_between_people
from tpc.matching import PeopleMatcher, min_cost_assignment
from tpc.procrustes import Similarity


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (4, 7), (7, 4), (9, 9)])
def test_assignment_is_optimal_like_scipy(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(30):
        cost = rng.uniform(0, 10, shape)
        pairs = min_cost_assignment(cost)
        rows, cols = linear_sum_assignment(cost)
        assert len(pairs) == min(shape)
        assert sum(cost[r, c] for r, c in pairs) == pytest.approx(cost[rows, cols].sum())
        assert len({c for _, c in pairs}) == len(pairs)


@pytest.fixture(scope="module")
def duo(astronaut, grace_hopper):
    """A 1024x512 reference: the astronaut on the left, Grace Hopper (cropped to 512x512) on the right."""
    image_a, points_a, mask_a = astronaut
    image_b, points_b, mask_b = grace_hopper
    image_b, mask_b = image_b[:512], mask_b[:512]
    image = np.concatenate([image_a, image_b], axis=1)
    shifted_b = points_b.copy()
    shifted_b[:, 0] += 512
    shifted_b[shifted_b[:, 1] >= 512, 2] = 0
    masks = [np.pad(mask_a, ((0, 0), (0, 512))), np.pad(mask_b, ((0, 0), (512, 0)))]
    return image, [(points_a, masks[0]), (shifted_b, masks[1])]


def test_union_mask_is_split_by_nearest_skeleton(duo):
    _, people = duo
    union = people[0][1] | people[1][1]
    parts = split_between_people(union, [p for p, _ in people])
    assert len(parts) == 2
    for part, (_, truth) in zip(parts, people):
        assert iou(part, truth) > 0.95


def test_identities_follow_people_who_cross(duo):
    """Two people swap sides over 20 frames; each keeps its reference person all the way."""
    image, people = duo
    canvas = (1024, 512)
    calibrator = Calibrator(image, people, canvas)
    frames, truth_ids = [], []
    for t in np.linspace(0.0, 1.0, 20):
        a = Similarity(scale=0.6, translation=(100 + 700 * t, 150.0)).apply(people[0][0])
        b = Similarity(scale=0.6, translation=(800 - 700 * t - 300, 170.0)).apply(people[1][0])
        order = [b, a] if t > 0.5 else [a, b]  # detectors list people in any order
        frames.append(order)
        truth_ids.append([1, 0] if t > 0.5 else [0, 1])
    calibrated = list(calibrator.calibrate_sequence(frames))
    assert len(calibrated) == 20
    for frame, ids in zip(calibrated, truth_ids):
        assert [fit.reference_index for fit in frame.fits] == ids
        assert len(frame.fits) == 2
        for fit in frame.fits:
            person_image, person_mask = calibrator.warp_person(fit)
            assert person_mask.any() and person_image.shape == (512, 1024, 3)
        both = np.zeros((512, 1024), bool)
        for fit in frame.fits:
            both |= calibrator.warp_person(fit)[1] > 0
        assert ((frame.mask > 0) == both).all()


def test_more_targets_than_references_reuse_the_nearest(astronaut):
    image, points, mask = astronaut
    matcher = PeopleMatcher([points], (512, 512), (512, 512))
    left = Similarity(scale=0.4, translation=(0.0, 100.0)).apply(points)
    right = Similarity(scale=0.4, translation=(300.0, 100.0)).apply(points)
    assert matcher.match([left, right]) == [0, 0]
    calibrator = Calibrator(image, [(points, mask)], (512, 512))
    frame = calibrator.calibrate([left, right], reference_for=[0, 0])
    assert len(frame.fits) == 2 and {f.target_index for f in frame.fits} == {0, 1}
    assert cv2.countNonZero(frame.mask) > 1.5 * cv2.countNonZero(calibrator.warp_person(frame.fits[0])[1])


def test_each_tracked_person_is_smoothed_over_their_own_frames(duo):
    """Two jittering people cross, listed in changing order: in the sequence, each person's transforms
    are exactly those of a sequence of that person alone."""
    image, people = duo
    canvas = (1024, 512)
    rng = np.random.default_rng(0)
    frames, order = [], []
    for i, t in enumerate(np.linspace(0.0, 1.0, 24)):
        a = Similarity(scale=0.6, angle=0.3 * t, translation=(100 + 700 * t, 150.0)).apply(people[0][0])
        b = Similarity(scale=0.6 + 0.1 * t, translation=(500 - 700 * t, 170.0)).apply(people[1][0])
        for person in (a, b):
            person[:, :2] += rng.normal(0.0, 3.0, (17, 2))
        swapped = i % 3 == 0
        frames.append([b, a] if swapped else [a, b])
        order.append([1, 0] if swapped else [0, 1])  # reference person of each listed target person
    together = Calibrator(image, people, canvas).sequence(frames)
    assert together.reference_for == order
    for reference in (0, 1):
        places = [listed.index(reference) for listed in order]
        alone = Calibrator(image, [people[reference]], canvas).sequence([[f[j]] for f, j in zip(frames, places)])
        fits = [together.fits(i)[j] for i, j in enumerate(places)]
        assert [fit.transform for fit in fits] == [alone.fits(i)[0].transform for i in range(len(frames))]
        assert any(fit.candidate_score is not None for fit in fits), "smoothed"
