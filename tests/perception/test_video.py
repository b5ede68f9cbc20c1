"""Driving videos: real photo frames encoded with PyAV, decoded back into poses, masks and smoothing."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from tests.support.driving_video import encode_video, make_driving_video
from tests.support.photos import load_photo
from tpc import keypoints as kp
from tpc.image_io import read_mask
from tpc.masks import iou
from tpc.pose_sequence import PoseSequence
from tpc_backend.errors import UserError
from tpc_backend.perception.smoothing import KeypointFilter, OneEuroSettings
from tpc_backend.perception.video import TRACK_PATIENCE, PeopleTracks, extract_video_poses

FACE = list(kp.BODY_PARTS["face"])


@pytest.fixture(scope="module")
def moving(tmp_path_factory, detector):
    """A 24-frame mp4 of the astronaut drifting, turning and scaling, extracted with masks."""
    folder = tmp_path_factory.mktemp("moving")
    video = make_driving_video("astronaut", frames=24)
    path = encode_video(folder / "moving.mp4", video.frames, video.fps, "mpeg4")
    calls = []
    detector.quarter_turns = 0
    result = extract_video_poses(path, detector, smoothing=None, masks_dir=folder / "masks", progress=lambda d, t: calls.append((d, t)))
    return video, result, folder, calls


def test_every_frame_gets_the_person_where_the_photo_moved_them(moving):
    video, result, _, _ = moving
    poses = result.poses
    assert isinstance(poses, PoseSequence) and result.warning is None
    assert (poses.width, poses.height, poses.fps, len(poses)) == (512, 512, 24.0, 24)
    errors = []
    for people, truth in zip(poses.frames, video.keypoints):
        assert len(people) == 1
        errors.append(np.linalg.norm(people[0][FACE, :2] - truth[FACE, :2], axis=1))
    errors = np.array(errors)
    assert np.median(errors) < 5.0 and errors.max() < 12.0


def face_error(frames: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(np.mean([np.linalg.norm(p[FACE, :2] - t[FACE, :2], axis=1).mean() for p, t in zip(frames, truth)]))


def test_smoothing_follows_a_fast_move_within_about_a_pixel(moving):
    video, result, _, _ = moving
    raw = [people[0] for people in result.poses.frames]
    smooth = KeypointFilter(OneEuroSettings(), unit=512.0)
    smoothed = [smooth(i / video.fps, points) for i, points in enumerate(raw)]
    assert face_error(smoothed, video.keypoints) < face_error(raw, video.keypoints) + 1.5


def test_masks_are_written_per_frame_at_the_video_size(moving):
    video, result, folder, _ = moving
    files = sorted((folder / "masks").glob("*.png"))
    assert [f.name for f in files] == [f"{i:05d}.png" for i in range(24)]
    image, _, photo_mask = load_photo("astronaut")
    for index in (0, 11, 23):
        mask = read_mask(files[index], size=(512, 512))
        truth = cv2.warpAffine(photo_mask.astype(np.uint8), video.motions[index].matrix, (512, 512), flags=cv2.INTER_NEAREST) > 0
        assert iou(mask, truth) > 0.85
        face = np.rint(video.keypoints[index][FACE, :2]).astype(int)
        assert mask[face[:, 1], face[:, 0]].all()


def test_progress_is_reported_for_every_frame(moving):
    _, _, _, calls = moving
    assert calls == [(i, 24) for i in range(1, 25)]


def jitter(poses: PoseSequence, truth: list[np.ndarray]) -> float:
    """Mean frame-to-frame wobble of the confident keypoints (motion of the truth removed)."""
    steps = []
    for (a,), (b,), ta, tb in zip(poses.frames, poses.frames[1:], truth, truth[1:]):
        both = kp.visible(a, 0.9) & kp.visible(b, 0.9)
        steps.append(np.linalg.norm((b[both, :2] - a[both, :2]) - (tb[both, :2] - ta[both, :2]), axis=1).mean())
    return float(np.mean(steps))


def test_smoothing_calms_a_still_person_filmed_with_a_noisy_camera(tmp_path, detector):
    video = make_driving_video("astronaut", frames=30, still=True, noise=6.0)
    path = encode_video(tmp_path / "still.mp4", video.frames, video.fps)
    detector.quarter_turns = 0
    raw = extract_video_poses(path, detector, smoothing=None).poses
    smooth = extract_video_poses(path, detector, smoothing=OneEuroSettings()).poses
    assert jitter(smooth, video.keypoints) < 0.6 * jitter(raw, video.keypoints)
    # Smoothing moves points by less than the jitter it removes.
    offset = np.mean([np.abs(s[0][FACE, :2] - r[0][FACE, :2]).mean() for s, r in zip(smooth.frames, raw.frames)])
    assert offset < 3.0


def test_portrait_video_stored_sideways_is_turned_upright_by_its_display_rotation(tmp_path, detector):
    video = make_driving_video("astronaut", frames=6, size=(448, 512))
    sideways = [np.ascontiguousarray(np.rot90(frame, -1)) for frame in video.frames]  # as the sensor saw it
    path = encode_video(tmp_path / "portrait.mp4", sideways, video.fps, rotation=90)
    detector.quarter_turns = 0
    poses = extract_video_poses(path, detector, smoothing=None).poses
    assert (poses.width, poses.height) == (448, 512)
    for (person,), truth in zip(poses.frames, video.keypoints):
        assert np.linalg.norm(person[FACE, :2] - truth[FACE, :2], axis=1).max() < 10.0


@pytest.mark.skipif("libvpx" not in av.codecs_available, reason="this PyAV build has no VP8 encoder")
def test_webm_videos_decode_too(tmp_path, detector):
    video = make_driving_video("grace_hopper", frames=4)
    path = encode_video(tmp_path / "clip.webm", video.frames, video.fps, "libvpx")
    detector.quarter_turns = 0
    poses = extract_video_poses(path, detector, smoothing=None).poses
    assert len(poses) == 4 and all(len(people) == 1 for people in poses.frames)


def test_two_people_keep_their_places_in_every_frame(tmp_path, detector):
    left, right = make_driving_video("astronaut", frames=5, size=(400, 400)), make_driving_video("grace_hopper", frames=5, size=(400, 400))
    frames = [np.concatenate([a, b], axis=1) for a, b in zip(left.frames, right.frames)]
    path = encode_video(tmp_path / "pair.mp4", frames, 24.0)
    detector.quarter_turns = 0
    poses = extract_video_poses(path, detector, max_people=2).poses
    assert len(poses.frames) == 5
    for people in poses.frames:
        assert len(people) == 2
        first, second = (p[kp.visible(p), 0].mean() for p in people)
        assert (first < 400) == (poses.frames[0][0][kp.visible(poses.frames[0][0]), 0].mean() < 400)
        assert (first < 400) != (second < 400)


def test_a_person_missed_for_a_frame_or_two_keeps_their_place(tmp_path, detector):
    left, right = (
        make_driving_video("astronaut", frames=10, size=(400, 400)),
        make_driving_video("grace_hopper", frames=10, size=(400, 400)),
    )
    background = left.frames[0][0, 0]  # the videos' plain backdrop
    hidden = {2: "left", 3: "left", 6: "right"}  # each of them, whoever is found first, goes missing
    frames = []
    for index, (a, b) in enumerate(zip(left.frames, right.frames)):
        a = np.full_like(a, background) if hidden.get(index) == "left" else a
        b = np.full_like(b, background) if hidden.get(index) == "right" else b
        frames.append(np.concatenate([a, b], axis=1))
    path = encode_video(tmp_path / "blink.mp4", frames, 24.0)
    detector.quarter_turns = 0
    poses = extract_video_poses(path, detector, max_people=2).poses

    def who(person: np.ndarray, index: int) -> str | None:
        """Which of the two this is, by their faces; None for anything else the model saw."""
        for name, truth, shift in (("left", left, 0.0), ("right", right, 400.0)):
            face = [i for i in FACE if kp.visible(truth.keypoints[index])[i] and kp.visible(person)[i]]
            if face and np.linalg.norm(person[face, :2] - truth.keypoints[index][face, :2] - (shift, 0.0), axis=1).max() < 40.0:
                return name
        return None

    order = [[who(p, index) for p in people] for index, people in enumerate(poses.frames)]
    first = order[0][0]
    second = {"left": "right", "right": "left"}[first]
    for index, found in enumerate(order):
        real = [name for name in found if name is not None]
        expected = [first, second] if index not in hidden else [name for name in (first, second) if name != hidden[index]]
        assert real == expected, (index, order)
        if index not in hidden:
            assert found[:2] == expected, (index, order)  # the two people stay first, in their places


def test_tracks_outlive_short_misses_and_end_with_their_filters(astronaut):
    _, person, _ = astronaut
    other = person.copy()
    other[:, 0] += 600
    tracks = PeopleTracks(OneEuroSettings(), unit=512.0)
    clock = iter(np.arange(10_000) / 25.0)

    def frame(*people: np.ndarray) -> list[int]:
        now = next(clock)
        ids = tracks.assign(list(people))
        for track, keypoints in zip(ids, people):
            tracks.smooth(track, now, keypoints)
        return ids

    assert frame(person, other) == [0, 1] and frame(person, other) == [0, 1]
    smoother = tracks.tracks[0].smoothers["body"]
    for _ in range(TRACK_PATIENCE):  # missed as long as a track waits
        assert frame(other) == [1]
    assert frame(other, person + (3.0, 0.0, 0.0)) == [1, 0]
    assert tracks.tracks[0].smoothers["body"] is smoother  # the same filter goes on smoothing them
    for _ in range(TRACK_PATIENCE + 1):  # gone for longer: the track and its filter end
        frame(other)
    assert set(tracks.tracks) == {1}
    assert frame(person, other) == [2, 1]
    # People coming and going all the time keep only the tracks that could still come back.
    for _ in range(50):
        for _ in range(TRACK_PATIENCE + 1):
            frame(other)
        frame(other, person)
        assert len(tracks.tracks) <= 2
    assert tracks.next_id == 53


def test_a_video_cut_short_keeps_its_frames_and_says_so(tmp_path, detector):
    video = make_driving_video("astronaut", frames=12)
    whole = encode_video(tmp_path / "whole.mkv", video.frames, video.fps)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    detector.quarter_turns = 0
    result = extract_video_poses(cut, detector, smoothing=None)
    assert 0 < len(result.poses) < 12
    assert "announces 12 frames but only" in result.warning and "cut short" in result.warning


def test_unreadable_videos_are_one_sentence(tmp_path, detector):
    (tmp_path / "notes.mp4").write_text("these are not frames")
    with pytest.raises(UserError, match=r"video .*notes.mp4 cannot be opened \(.*\); is it an mp4, mov or webm file\?"):
        extract_video_poses(tmp_path / "notes.mp4", detector)
    with pytest.raises(UserError, match="does not exist") as error:
        extract_video_poses(tmp_path / "missing.mp4", detector)
    assert error.value.code == "not_found"
