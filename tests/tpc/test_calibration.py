"""Procrustes warping with optimal subsets on a real photo: accuracy, guarantees and fallbacks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests.support.synthetic_poses import make_cases
from tpc import keypoints as kp
from tpc.calibration import FALLBACK_IDENTITY, FALLBACK_MOMENTS, FALLBACK_UNSCORED, CalibrationConfig, Calibrator
from tpc.masks import iou
from tpc.procrustes import Similarity, fit_similarity

CANVAS = (512, 512)


def warp_mask(mask: np.ndarray, matrix: np.ndarray, size=CANVAS) -> np.ndarray:
    return cv2.warpAffine(mask.astype(np.uint8), matrix, size, flags=cv2.INTER_NEAREST) > 0


@pytest.fixture(scope="module")
def calibrator(astronaut) -> Calibrator:
    image, points, mask = astronaut
    return Calibrator(image, [(points, mask)], CANVAS)


@pytest.mark.parametrize("with_mask", [True, False])
def test_recovers_a_known_similarity(astronaut, calibrator, with_mask):
    _, points, mask = astronaut
    truth = Similarity(scale=0.55, angle=np.radians(35), translation=(260.0, -20.0))
    target_mask = warp_mask(mask, truth.matrix)
    fit = calibrator.fit([truth.apply(points)], target_mask=target_mask if with_mask else None)[0]
    assert fit.fallback is None
    assert fit.transform.scale == pytest.approx(truth.scale, rel=0.02 if with_mask else 0.1)
    assert fit.transform.rotation_deg == pytest.approx(35.0, abs=2.0 if with_mask else 8.0)
    frame = calibrator.calibrate([truth.apply(points)], target_mask=target_mask if with_mask else None)
    assert iou(frame.mask > 0, target_mask) > (0.93 if with_mask else 0.75)
    # The calibrated image is the warped reference person on black.
    assert frame.image.shape == (512, 512, 3) and frame.image.dtype == np.uint8
    assert frame.image[frame.mask == 0].max() == 0
    assert frame.image[frame.mask > 0].mean() > 40


def test_never_worse_than_face_only_or_all_common_points(astronaut, calibrator):
    """The family holds both plain fits, so the chosen subset must overlap at least as well."""
    _, points, mask = astronaut
    face = np.zeros(17, bool)
    face[list(kp.BODY_PARTS["face"])] = True
    pairs = []  # (ours, a plain fit's) IoU, wherever a plain fit exists (two distinct common points)
    for case in make_cases(points, mask, 25, seed=11):
        fit = calibrator.fit([case.keypoints], target_mask=case.mask)[0]
        ours = iou(warp_mask(mask, fit.transform.matrix), case.mask)
        for subset in (face, np.ones(17, bool)):
            common = subset & kp.visible(points) & kp.visible(case.keypoints)
            plain = fit_similarity(points[common, :2], case.keypoints[common, :2]) if common.sum() >= 2 else None
            pairs += [(ours, iou(warp_mask(mask, plain.matrix), case.mask))] if plain is not None else []
    assert len(pairs) >= 40, "most cases show two face points and two points overall"
    assert all(ours >= theirs - 0.03 for ours, theirs in pairs)


def test_refining_the_subset_never_loses_overlap(astronaut):
    """Toggling single keypoints of the winner keeps a challenger only if it scores higher (before
    any polish, which starts from wherever the subsets ended)."""
    image, points, mask = astronaut
    plain, refined = (
        Calibrator(image, [(points, mask)], CANVAS, CalibrationConfig(refine_rounds=rounds, polish_rounds=0)) for rounds in (0, 2)
    )
    cases = make_cases(points, mask, 12, seed=8)
    before = [plain.fit([case.keypoints], target_mask=case.mask)[0] for case in cases]
    after = [refined.fit([case.keypoints], target_mask=case.mask)[0] for case in cases]
    assert all(a.score >= b.score for a, b in zip(after, before))
    assert any(a.keypoints_used != b.keypoints_used for a, b in zip(after, before)), "the rounds must do something"


def test_keeps_the_rigid_core_in_every_subset(astronaut, calibrator):
    _, points, mask = astronaut
    core = np.isin(np.arange(17), kp.BODY_PARTS["face"] + kp.BODY_PARTS["torso"])
    cases = make_cases(points, mask, 15, seed=3)
    fits = [calibrator.fit([case.keypoints])[0] for case in cases]
    assert all(fit.fallback is None for fit in fits), "every case shows enough keypoints for a search"
    with_core = [fit for fit, case in zip(fits, cases) if (core & kp.visible(points) & kp.visible(case.keypoints)).sum() >= 2]
    assert len(with_core) >= 12, "most cases show two face or torso points"
    assert all(core[list(fit.keypoints_used)].sum() >= 2 for fit in with_core)


def test_person_seen_from_behind_is_fitted_with_swapped_sides(astronaut, calibrator):
    image, points, mask = astronaut
    blind = Calibrator(image, [(points, mask)], CANVAS, CalibrationConfig(facing_away=False))
    cases = make_cases(points, mask, 12, seed=5, mirrored_share=1.0)
    swapped = [c for c in cases if kp.facing(c.keypoints) == -kp.facing(points)]
    assert len(swapped) >= 6, "the generator should produce targets with visible handedness"
    gains = []
    for case in swapped:
        fit = calibrator.fit([case.keypoints], target_mask=case.mask)[0]
        plain = blind.fit([case.keypoints], target_mask=case.mask)[0]
        assert fit.mirrored and not plain.mirrored
        gains.append(iou(warp_mask(mask, fit.transform.matrix), case.mask) - iou(warp_mask(mask, plain.transform.matrix), case.mask))
    assert np.mean(gains) > 0.05 and min(gains) > -0.05


@pytest.mark.parametrize("canvas", [(1000, 700), (640, 1137)])
def test_non_square_canvases_are_not_shifted(astronaut, canvas):
    image, points, mask = astronaut
    truth = Similarity(scale=0.9, angle=0.3, translation=(0.3 * canvas[0], 0.1 * canvas[1]))
    target_mask = warp_mask(mask, truth.matrix, canvas)
    calibrator = Calibrator(image, [(points, mask)], canvas)
    rows, cols = np.nonzero(mask)
    centre = np.array([[cols.mean(), rows.mean()]])
    for mask_given in (target_mask, None):
        fit = calibrator.fit([truth.apply(points)], target_mask=mask_given)[0]
        assert np.linalg.norm(fit.transform.apply(centre) - truth.apply(centre)) < 2.0
        assert fit.transform.scale == pytest.approx(0.9, rel=0.01)


def test_fallback_to_mask_moments_when_keypoints_are_not_enough(astronaut, calibrator):
    _, points, mask = astronaut
    truth = Similarity(scale=0.8, angle=np.radians(10), translation=(60.0, 40.0))
    target = np.zeros((17, 3))
    target[0] = [*truth.apply(points[:1, :2])[0], 1.0]  # a single common point
    fit = calibrator.fit([target], target_mask=warp_mask(mask, truth.matrix))[0]
    assert fit.fallback == FALLBACK_MOMENTS and "fewer than two" in fit.note
    assert fit.transform.scale == pytest.approx(0.8, rel=0.05)
    assert fit.keypoints_used == ()


def test_fallback_when_masks_are_empty(astronaut):
    image, points, mask = astronaut
    empty_reference = Calibrator(image, [(points, np.zeros_like(mask))], CANVAS)
    moved = Similarity(scale=1.2, translation=(10.0, 5.0)).apply(points)
    fit = empty_reference.fit([moved])[0]
    assert fit.fallback == FALLBACK_UNSCORED and "reference person mask is empty" in fit.note
    assert fit.transform.scale == pytest.approx(1.2, rel=1e-6)

    calibrator = Calibrator(image, [(points, mask)], CANVAS)
    fit = calibrator.fit([moved], target_mask=np.zeros((512, 512), bool))[0]
    assert fit.fallback == FALLBACK_UNSCORED and "target person shape is empty" in fit.note

    fit = calibrator.fit([kp.empty_person()], target_mask=np.zeros((512, 512), bool))[0]
    assert fit.fallback == FALLBACK_IDENTITY
    np.testing.assert_array_equal(fit.transform.matrix, Similarity.identity().matrix)


def test_degenerate_geometry_never_gives_nan(astronaut, calibrator):
    _, points, _ = astronaut
    collapsed = points.copy()
    collapsed[:, :2] = 200.0  # every keypoint on one pixel
    fit = calibrator.fit([collapsed])[0]
    assert np.isfinite(fit.transform.matrix).all()
    assert fit.fallback in (FALLBACK_MOMENTS, FALLBACK_IDENTITY)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    target=arrays(
        np.float64,
        (17, 3),
        elements=st.one_of(st.floats(-1e9, 1e9), st.just(np.nan), st.just(np.inf), st.floats(0, 1)),
    ),
    masked=st.booleans(),
)
def test_any_keypoints_calibrate_without_exception_or_nan(calibrator, target, masked):
    target_mask = np.zeros((512, 512), bool)
    target_mask[100:300, 150:260] = masked
    frame = calibrator.calibrate([target], target_mask=target_mask if masked else None)
    fit = frame.fits[0]
    assert np.isfinite(fit.transform.matrix).all() and np.isfinite(fit.score)
    assert 0.0 <= fit.score <= 1.0
    assert frame.image.shape == (512, 512, 3) and set(np.unique(frame.mask)) <= {0, 255}


def test_frame_without_people_is_blank(calibrator):
    frame = calibrator.calibrate([])
    assert frame.fits == [] and frame.mask.max() == 0


def test_rejects_inconsistent_inputs(astronaut):
    image, points, mask = astronaut
    with pytest.raises(ValueError, match="mask"):
        Calibrator(image, [(points, mask[:100])], CANVAS)
    with pytest.raises(ValueError, match="17, 3"):
        Calibrator(image, [(points[:5], mask)], CANVAS)
    with pytest.raises(ValueError, match="at least one"):
        Calibrator(image, [], CANVAS)
    calibrator = Calibrator(image, [(points, mask)], CANVAS)
    with pytest.raises(ValueError, match="target mask"):
        calibrator.fit([points], target_mask=np.zeros((10, 10), bool))


def test_config_score_resolution_changes_cost_not_the_answer(astronaut):
    image, points, mask = astronaut
    truth = Similarity(scale=0.7, angle=np.radians(-20), translation=(120.0, 90.0))
    target_mask = warp_mask(mask, truth.matrix)
    for resolution in (48, 96, 160):
        calibrator = Calibrator(image, [(points, mask)], CANVAS, CalibrationConfig(score_resolution=resolution))
        fit = calibrator.fit([truth.apply(points)], target_mask=target_mask)[0]
        assert fit.transform.scale == pytest.approx(0.7, rel=0.04)
