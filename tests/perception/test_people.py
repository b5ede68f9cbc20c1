"""People in real photos with MediaPipe: plausible keypoints, fitting masks, and the same answer
however the photo is turned, shrunk or crowded."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from tests.support.photos import PHOTOS, load_photo
from tpc import keypoints as kp
from tpc.masks import iou
from tpc.matching import person_distance
from tpc_backend.errors import UserError
from tpc_backend.perception import NO_PERSON, detect_people, segment_people
from tpc_backend.perception.people import SHARED_KEYPOINTS
from tpc_backend.perception.views import View


def back_to_upright(points: np.ndarray, view: View) -> np.ndarray:
    """Keypoints found in a turned copy of a photo, in the upright photo's pixels."""
    out = points.copy()
    inverse = view.inverse
    out[:, :2] = points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
    return out


def assert_plausible(keypoints: np.ndarray, mask: np.ndarray) -> None:
    """Nose above the shoulders above the hips (their midpoints, where seen); the mask covers the keypoints.

    Midpoints, because a person may lean (the cameraman's raised shoulder is level with his nose).
    """
    seen = kp.visible(keypoints, 0.5)
    y = keypoints[:, 1]

    def level(a: int, b: int) -> float | None:
        return (y[a] + y[b]) / 2 if seen[a] and seen[b] else None

    shoulders, hips = level(kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER), level(kp.LEFT_HIP, kp.RIGHT_HIP)
    if seen[kp.NOSE] and shoulders is not None:
        assert y[kp.NOSE] < shoulders
    if shoulders is not None and hips is not None:
        assert shoulders < hips
    inside = seen & (keypoints[:, 0] >= 0) & (keypoints[:, 0] < mask.shape[1]) & (keypoints[:, 1] < mask.shape[0])
    xy = np.rint(keypoints[inside, :2]).astype(int)
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert grown[xy[:, 1], xy[:, 0]].mean() >= 0.9


@pytest.fixture(scope="module")
def upright(detector):
    """Each packaged photo's people, found upright (reused by the turned and shrunk comparisons)."""
    found = {}
    for name in PHOTOS:
        detector.quarter_turns = 0
        found[name] = [(p.keypoints, p.mask) for p in detector.detect(load_photo(name)[0], 1)]
    return found


@pytest.mark.parametrize("name", PHOTOS)
def test_packaged_photos_give_plausible_keypoints_and_masks(upright, name):
    image, fixture, fixture_mask = load_photo(name)
    ((keypoints, mask),) = upright[name]
    assert keypoints.shape == (17, 3) and mask.shape == image.shape[:2] and mask.dtype == bool
    assert kp.visible(keypoints).sum() >= 7
    assert_plausible(keypoints, mask)
    # The one connected piece, close to what MediaPipe's mask alone gave when the fixtures were made.
    assert cv2.connectedComponents(mask.astype(np.uint8))[0] == 2
    assert iou(mask, fixture_mask) > 0.95


def test_keypoints_outside_the_photo_have_no_confidence(upright):
    ((keypoints, _),) = upright["astronaut"]
    outside = (keypoints[:, 0] < 0) | (keypoints[:, 0] > 511) | (keypoints[:, 1] < 0) | (keypoints[:, 1] > 511)
    assert outside[[kp.LEFT_ANKLE, kp.RIGHT_ANKLE]].all()  # a half-length portrait: legs below the frame
    assert (keypoints[outside, 2] == 0).all()


@pytest.mark.parametrize("turns", [1, 2, 3])
@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_turned_photos_give_the_upright_answer(fresh, upright, name, turns):
    image = load_photo(name)[0]
    view = View.whole((image.shape[1], image.shape[0]), turns)
    (person,) = fresh.detect(view.render(image), 1)
    keypoints, mask = person.keypoints, person.mask
    ((expected, expected_mask),) = upright[name]
    back = back_to_upright(keypoints, view)
    seen = kp.visible(expected)
    assert np.array_equal(kp.visible(back), seen)
    assert np.abs(back[seen, :2] - expected[seen, :2]).max() < 1.0
    mask_back = view.render(np.repeat(expected_mask[:, :, None].astype(np.uint8) * 255, 3, axis=2))[:, :, 0] > 127
    assert iou(mask, mask_back) > 0.98


def test_half_size_photo_gives_the_same_keypoints_within_a_few_pixels(fresh, upright):
    image = load_photo("astronaut")[0]
    small = cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)
    (person,) = fresh.detect(small, 1)
    keypoints, mask = person.keypoints, person.mask
    ((expected, expected_mask),) = upright["astronaut"]
    back = keypoints.copy()
    back[:, :2] = (keypoints[:, :2] + 0.5) * 2.0 - 0.5
    sure = kp.visible(expected, 0.9) & kp.visible(back, 0.9)
    assert sure.sum() >= 7  # face and shoulders
    error = np.linalg.norm(back[sure, :2] - expected[sure, :2], axis=1)
    assert np.median(error) < 3.0 and error.max() < 8.0, error
    big = cv2.resize(mask.astype(np.uint8), (512, 512), interpolation=cv2.INTER_NEAREST) > 0
    assert iou(big, expected_mask) > 0.9


def test_small_person_in_a_large_picture_is_found_through_zoomed_tiles(fresh):
    image, fixture, _ = load_photo("grace_hopper")
    canvas = np.full((1024, 1024, 3), (90, 110, 90), np.uint8)
    small = cv2.resize(image, (128, 150), interpolation=cv2.INTER_AREA)  # 1/8 of the picture's side
    canvas[600:750, 300:428] = small
    assert fresh.find(canvas, 1) and fresh.find(canvas, 1)[0].view.scale > 1.0
    (person,) = fresh.detect(canvas, 1)
    keypoints, mask = person.keypoints, person.mask
    face = [i for i in kp.BODY_PARTS["face"] if kp.visible(fixture)[i]]
    expected = fixture[face, :2] * 0.25 + (300, 600)
    assert np.linalg.norm(keypoints[face, :2] - expected, axis=1).max() < 6.0
    rows, cols = np.nonzero(mask)
    assert rows.min() >= 590 and cols.min() >= 290 and cols.max() <= 440


def test_several_people_each_get_their_own_keypoints_and_mask(fresh, group_photo):
    group, spans = group_photo
    people = fresh.detect(group, 4)  # asks for more people than there are
    assert len(people) == 3
    owners = []
    for person in people:
        keypoints, mask = person.keypoints, person.mask
        assert_plausible(keypoints, mask)
        centre = keypoints[kp.visible(keypoints), 0].mean()
        owner = next(i for i, (a, b) in enumerate(spans) if a <= centre < b)
        owners.append(owner)
        a, b = spans[owner]
        assert mask[:, a:b].sum() > 0.9 * mask.sum()  # the mask stays on its own photo
    assert sorted(owners) == [0, 1, 2]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not (people[i].mask & people[j].mask).any()


def test_asking_for_two_in_a_portrait_gives_one(fresh):
    assert len(fresh.detect(load_photo("astronaut")[0], 2)) == 1


def test_no_person_after_all_retries_is_one_sentence():
    with pytest.raises(UserError) as error:
        detect_people(skimage.data.coffee())
    assert error.value.code == "no_person" and str(error.value) == NO_PERSON
    assert "\n" not in NO_PERSON and "turned" in NO_PERSON and "zoomed" in NO_PERSON


def test_detect_people_is_the_entry_point_the_backend_uses(astronaut):
    image, fixture, _ = astronaut
    people = detect_people(image, max_people=1, pose="mediapipe", mask="mediapipe")
    assert isinstance(people, list) and len(people) == 1
    keypoints, mask = people[0]
    assert keypoints.shape == (17, 3) and mask.shape == (512, 512) and mask.dtype == bool
    with pytest.raises(UserError, match="unknown pose estimator 'openpose'; choose mediapipe or mmpose") as error:
        detect_people(image, pose="openpose")
    assert error.value.code == "unknown_estimator"
    with pytest.raises(UserError, match="unknown mask estimator 'grabcut'; choose mediapipe or sam"):
        detect_people(image, mask="grabcut")


def test_given_keypoints_get_a_mask_from_selfie_segmentation(astronaut):
    image, fixture, fixture_mask = astronaut
    (mask,) = segment_people(image, [fixture])
    assert mask.dtype == bool and iou(mask, fixture_mask) > 0.75
    assert_plausible(fixture, mask)
    # Turned sideways, the crop around the person is turned upright before segmenting.
    view = View.whole((512, 512), 1)
    (turned,) = segment_people(view.render(image), [view.points_to_view(fixture)])
    truth = view.render(np.repeat(fixture_mask[:, :, None].astype(np.uint8) * 255, 3, axis=2))[:, :, 0] > 127
    assert iou(turned, truth) > 0.75


def test_looks_sharing_a_single_keypoint_are_not_compared(astronaut):
    _, person, _ = astronaut
    nose_only = kp.empty_person()
    nose_only[kp.NOSE] = person[kp.NOSE]
    assert person_distance(person, nose_only) == 0.0  # across frames, tpc compares even on one point
    assert person_distance(person, nose_only, min_shared=SHARED_KEYPOINTS) == np.inf  # one point has no size
    assert person_distance(person, kp.empty_person()) == np.inf
    moved = person.copy()
    moved[:, 0] += 20.0
    seen = kp.visible(person)
    spread = np.ptp(np.concatenate([person[seen, :2], moved[seen, :2]]), axis=0).max() + 1.0
    assert person_distance(person, moved, min_shared=SHARED_KEYPOINTS) == pytest.approx(20.0 / spread)
