"""Hands and faces with MediaPipe Holistic on real photos and videos: the body unchanged, 68-point faces
around the nose, hands at the right wrist or not at all (never invented), smoothed over time.

The packaged photos show no hand clearly (the astronaut's are below the frame edge and under her
helmet, Grace Hopper's outside the picture, the cameraman's gloved and on his camera), and Holistic
finds none in them: hands are checked to come out as zeros there, and hand attachment on MediaPipe's
own outputs (arrays as Holistic gives them).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.driving_video import encode_video, make_driving_video
from tests.support.photos import PHOTOS, load_photo
from tpc import keypoints as kp
from tpc.wholebody import FACE_NOSE_TIP, FACE_REGIONS, HandsFace
from tpc_backend.perception.hands_face import MESH_TO_IBUG68, attach, from_holistic, mesh_to_ibug68
from tpc_backend.perception.smoothing import OneEuroSettings
from tpc_backend.perception.video import PeopleTracks, extract_video_poses
from tpc_backend.perception.views import View


def face_size(face: np.ndarray) -> float:
    return float(np.linalg.norm(face[:, :2].max(axis=0) - face[:, :2].min(axis=0)))


def region(face: np.ndarray, name: str) -> np.ndarray:
    first, end = FACE_REGIONS[name]
    return face[first:end, :2]


def assert_face_of(body: np.ndarray, face: np.ndarray) -> None:
    """68 confident points around this body's nose, the person's right eye and ear on their right."""
    assert face.shape == (68, 3) and (face[:, 2] > 0.5).all()
    size = face_size(face)
    assert 20 < size < 400
    assert np.linalg.norm(face[FACE_NOSE_TIP, :2] - body[kp.NOSE, :2]) < 0.15 * size
    for name, eye in (("right_eye", kp.RIGHT_EYE), ("left_eye", kp.LEFT_EYE)):
        assert np.linalg.norm(region(face, name).mean(axis=0) - body[eye, :2]) < 0.12 * size, name
    jaw = region(face, "jaw")
    # The jaw runs from the person's right ear to their left, under the nose.
    assert np.linalg.norm(jaw[0] - body[kp.RIGHT_EAR, :2]) < np.linalg.norm(jaw[0] - body[kp.LEFT_EAR, :2])
    assert jaw[8, 1] > face[FACE_NOSE_TIP, 1] and region(face, "inner_lips").mean(axis=0)[1] > face[FACE_NOSE_TIP, 1]


@pytest.fixture(scope="module")
def found(whole_body, detector):
    """Each packaged photo's person with and without hands and faces."""
    people = {}
    for name in PHOTOS:
        image = load_photo(name)[0]
        whole_body.quarter_turns = detector.quarter_turns = 0
        (person,) = whole_body.detect(image, 1)
        (body_only,) = detector.detect(image, 1)
        people[name] = (person, body_only)
    return people


@pytest.mark.parametrize("name", PHOTOS)
def test_the_body_and_mask_are_the_same_with_hands_and_faces(found, name):
    person, body_only = found[name]
    assert np.array_equal(person.keypoints, body_only.keypoints) and np.array_equal(person.mask, body_only.mask)
    assert body_only.hands_face is None and person.hands_face is not None


@pytest.mark.parametrize("name", PHOTOS)
def test_packaged_photos_give_a_68_point_face_around_the_nose(found, name):
    person, _ = found[name]
    assert_face_of(person.keypoints, person.hands_face.face)


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_hands_that_are_not_in_sight_are_zeros_not_invented(found, name):
    person, _ = found[name]
    for hand in person.hands_face.hands:
        assert hand.shape == (21, 3) and (hand == 0).all()


def test_a_turned_photo_gives_the_upright_face(whole_body, found):
    image = load_photo("grace_hopper")[0]
    view = View.whole((image.shape[1], image.shape[0]), 1)
    whole_body.quarter_turns = 0
    (turned,) = whole_body.detect(view.render(image), 1)
    face = turned.hands_face.face.copy()
    inverse = view.inverse
    face[:, :2] = face[:, :2] @ inverse[:, :2].T + inverse[:, 2]
    upright = found["grace_hopper"][0].hands_face.face
    assert np.median(np.linalg.norm(face[:, :2] - upright[:, :2], axis=1)) < 2.0


def test_several_people_each_get_their_own_face(whole_body, group_photo):
    group, spans = group_photo
    whole_body.quarter_turns = 0
    people = whole_body.detect(group, 3)
    assert len(people) == 3
    owners = set()
    for person in people:
        face = person.hands_face.face
        assert_face_of(person.keypoints, face)
        owner = next(i for i, (a, b) in enumerate(spans) if a <= face[FACE_NOSE_TIP, 0] < b)
        assert all(spans[owner][0] <= x < spans[owner][1] for x in face[:, 0])  # the whole face on its own photo
        owners.add(owner)
    assert owners == {0, 1, 2}


# -- MediaPipe's landmarks as hands and faces (arrays as Holistic gives them) -------------------------
def body_with_wrists(left=(300.0, 400.0), right=(100.0, 400.0), nose=(200.0, 100.0)) -> np.ndarray:
    body = np.zeros((17, 3))
    body[:, 2] = 0.9
    body[kp.LEFT_WRIST, :2], body[kp.RIGHT_WRIST, :2], body[kp.NOSE, :2] = left, right, nose
    return body


def hand_at(wrist, confidence=0.8) -> np.ndarray:
    """21 points spreading 60 px upwards from the wrist."""
    offsets = np.column_stack([np.linspace(-20, 20, 21), -np.linspace(0, 60, 21)])
    offsets[0] = 0
    return np.column_stack([np.asarray(wrist) + offsets, np.full(21, confidence)])


def test_hands_go_to_the_wrist_they_sit_at_whatever_they_were_called():
    body = body_with_wrists()
    at_left, at_right = hand_at((303.0, 398.0)), hand_at((97.0, 404.0))
    swapped = attach(body, HandsFace(left_hand=at_right, right_hand=at_left))
    assert np.array_equal(swapped.left_hand, at_left) and np.array_equal(swapped.right_hand, at_right)
    one = attach(body, HandsFace(left_hand=at_right, right_hand=np.zeros((21, 3))))
    assert np.array_equal(one.right_hand, at_right) and (one.left_hand == 0).all()


def test_hands_and_faces_away_from_the_body_are_dropped():
    body = body_with_wrists()
    far = hand_at((200.0, 250.0))  # 150 px from either wrist, for a hand 63 px across
    dropped = attach(body, HandsFace(left_hand=far, right_hand=None, face=None))
    assert (dropped.left_hand == 0).all() and dropped.right_hand is None and dropped.face is None
    face = np.column_stack([np.random.default_rng(0).uniform(150, 250, (68, 2)), np.full(68, 0.9)])
    face[FACE_NOSE_TIP, :2] = (205.0, 103.0)
    assert np.array_equal(attach(body, HandsFace(face=face)).face, face)
    face[FACE_NOSE_TIP, :2] = (300.0, 300.0)
    assert (attach(body, HandsFace(face=face)).face == 0).all()


def test_holistic_landmarks_become_ordered_parts_with_the_body_models_visibility():
    pose = np.zeros((33, 3))
    pose[[15, 17, 19, 21], 2] = (0.9, 0.7, 0.8, 0.6)  # the left wrist, pinky, index, thumb
    pose[[0, 2, 5, 9, 10], 2] = 1.0
    hand = np.column_stack([np.arange(21.0), np.arange(21.0) * 2])
    mesh = np.column_stack([np.arange(468.0), np.arange(468.0) * 3])
    parts = from_holistic(pose, hand, None, mesh)
    assert np.array_equal(parts.left_hand[:, :2], hand) and np.allclose(parts.left_hand[:, 2], 0.75)
    assert (parts.right_hand == 0).all()
    assert np.allclose(parts.face[:, 2], 1.0) and parts.face[8, 0] == 152 and parts.face[3, 0] == (132 + 58) / 2
    assert np.allclose(mesh_to_ibug68(mesh)[:, 1], 3 * mesh_to_ibug68(mesh)[:, 0])
    assert len(MESH_TO_IBUG68) == 68 and all(0 <= i < 468 for indices in MESH_TO_IBUG68 for i in indices)
    with pytest.raises(ValueError, match="468 points"):
        mesh_to_ibug68(mesh[:100])


# -- videos ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def photo_face(whole_body) -> np.ndarray:
    whole_body.quarter_turns = 0
    return whole_body.detect(load_photo("astronaut")[0], 1)[0].hands_face.face


def test_video_faces_follow_the_person(tmp_path, whole_body, photo_face):
    video = make_driving_video("astronaut", frames=12)
    path = encode_video(tmp_path / "moving.mp4", video.frames, video.fps, "mpeg4")
    whole_body.quarter_turns = 0
    poses = extract_video_poses(path, whole_body, smoothing=None).poses
    assert poses.has_hands_face and len(poses) == 12
    errors = []
    for index, motion in enumerate(video.motions):
        (extra,) = poses.hands_face_of(index)
        errors.append(np.linalg.norm(extra.face[:, :2] - motion.apply(photo_face)[:, :2], axis=1))
        assert all((hand == 0).all() for hand in extra.hands)
    assert np.median(errors) < 4.0, np.median(errors)


def test_smoothing_calms_a_still_face(tmp_path, whole_body):
    video = make_driving_video("astronaut", frames=24, still=True, noise=6.0)
    path = encode_video(tmp_path / "still.mp4", video.frames, video.fps, "mpeg4")
    whole_body.quarter_turns = 0
    raw = extract_video_poses(path, whole_body, smoothing=None).poses
    tracks = PeopleTracks(OneEuroSettings(), unit=512.0)
    smoothed = []
    for index, people in enumerate(raw.frames):
        (track,) = tracks.assign(people)
        smoothed.append(tracks.smooth_hands_face(track, index / video.fps, raw.hands_face_of(index)[0]).face)
    faces = np.array([raw.hands_face_of(index)[0].face for index in range(len(raw))])
    jitter = lambda stack: float(np.linalg.norm(np.diff(stack[:, :, :2], axis=0), axis=2).mean())  # noqa: E731
    assert jitter(np.array(smoothed)) < 0.7 * jitter(faces), (jitter(np.array(smoothed)), jitter(faces))
    assert np.array_equal(np.array(smoothed)[:, :, 2], faces[:, :, 2])  # confidences pass through
    assert tracks.smooth_hands_face(track, 99.0, None).empty
