"""`tpc pose` through the installed console script: photos, videos, pose files, and its sentences."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from tests.support.driving_video import encode_video, make_driving_video
from tpc import keypoints as kp
from tpc.image_io import read_mask, write_png
from tpc.pose_sequence import MAX_CANVAS, PoseSequence

TPC = str(Path(sys.executable).with_name("tpc"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TPC, "pose", *args], capture_output=True, text=True, timeout=300)


def one_sentence(result: subprocess.CompletedProcess, pattern: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tpc: error: ") and "Traceback" not in result.stderr, result.stderr
    assert re.search(pattern, lines[0]), lines[0]


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut):
    folder = tmp_path_factory.mktemp("photos")
    image = astronaut[0]
    write_png(folder / "astronaut.png", image)
    write_png(folder / "upside_down.png", image[::-1, ::-1])
    write_png(folder / "coffee.png", skimage.data.coffee())
    return folder


def test_photo_gives_keypoints_and_a_mask(photos, tmp_path, astronaut):
    result = run(str(photos / "astronaut.png"), "--out", str(tmp_path / "kp.json"), "--masks", str(tmp_path / "masks"))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"found 1 person in {photos / 'astronaut.png'}, 0 hands and 1 face seen: keypoints in {tmp_path / 'kp.json'}, "
        f"mask in {tmp_path / 'masks' / '00000.png'}"
    ]
    poses = PoseSequence.load(tmp_path / "kp.json")
    assert poses.size == (512, 512) and len(poses) == 1 and len(poses.frames[0]) == 1
    keypoints = poses.frames[0][0]
    fixture = astronaut[1]
    seen = kp.visible(fixture, 0.9)
    assert np.abs(keypoints[seen, :2] - fixture[seen, :2]).max() < 1.0  # the fixtures came from the same model
    mask = read_mask(tmp_path / "masks" / "00000.png", size=(512, 512))
    xy = np.rint(keypoints[seen, :2]).astype(int)
    assert mask[xy[:, 1], xy[:, 0]].all()


def test_photo_gives_hands_and_a_face_unless_body_only_and_writes_openpose(photos, tmp_path):
    result = run(str(photos / "astronaut.png"), "--out", str(tmp_path / "kp.json"), "--openpose", str(tmp_path / "op"), "--quiet")
    assert result.returncode == 0 and result.stderr == ""
    poses = PoseSequence.load(tmp_path / "kp.json")
    (extra,) = poses.hands_face_of(0)
    body = poses.frames[0][0]
    face_size = np.linalg.norm(extra.face[:, :2].max(axis=0) - extra.face[:, :2].min(axis=0))
    assert np.linalg.norm(extra.face[30, :2] - body[kp.NOSE, :2]) < 0.1 * face_size and (extra.face[:, 2] > 0.5).all()
    assert all((hand == 0).all() for hand in extra.hands)  # her hands are out of sight: zeros, not guesses
    (written,) = sorted((tmp_path / "op").iterdir())
    person = json.loads(written.read_text())["people"][0]
    assert len(person["face_keypoints_2d"]) == 210 and len(person["hand_left_keypoints_2d"]) == 63
    again = run(str(tmp_path / "op"), "--out", str(tmp_path / "back.json"), "--quiet")  # the canvas is in the files
    assert again.returncode == 0, again.stderr
    back = PoseSequence.load(tmp_path / "back.json")
    assert np.allclose(back.frames[0][0], body, atol=1e-3) and np.allclose(back.hands_face_of(0)[0].face, extra.face, atol=1e-3)
    plain = run(str(photos / "astronaut.png"), "--out", str(tmp_path / "body.json"), "--body-only")
    assert plain.returncode == 0 and "seen" not in plain.stderr and "found 1 person" in plain.stderr
    body_only = PoseSequence.load(tmp_path / "body.json")
    assert not body_only.has_hands_face and np.array_equal(body_only.frames[0][0], body)
    assert "hands" not in (tmp_path / "body.json").read_text()


def test_upside_down_photo_gives_the_same_person(photos, tmp_path, astronaut):
    result = run(str(photos / "upside_down.png"), "--out", str(tmp_path / "kp.json"), "--quiet")
    assert result.returncode == 0 and result.stderr == ""
    keypoints = PoseSequence.load(tmp_path / "kp.json").frames[0][0]
    fixture = astronaut[1]
    seen = kp.visible(fixture, 0.9)
    assert np.abs(keypoints[seen, :2] - (511 - fixture[seen, :2])).max() < 1.0


def test_photo_too_large_for_a_pose_sequence_is_refused_before_any_work(tmp_path, astronaut):
    panorama = np.full((512, MAX_CANVAS + 1, 3), 120, np.uint8)
    panorama[:, :512] = astronaut[0]  # someone to find: only the size is wrong
    write_png(tmp_path / "panorama.png", panorama)
    result = run(str(tmp_path / "panorama.png"), "--out", str(tmp_path / "kp.json"), "--masks", str(tmp_path / "masks"))
    one_sentence(
        result,
        rf"photo .*panorama.png is {MAX_CANVAS + 1}x512; at most {MAX_CANVAS} pixels a side are supported, scale it down first$",
    )
    assert not (tmp_path / "kp.json").exists() and not (tmp_path / "masks").exists()


def test_driving_video_gives_a_pose_sequence_masks_and_progress(tmp_path):
    video = make_driving_video("astronaut", frames=8)
    path = encode_video(tmp_path / "dance.mp4", video.frames, video.fps)
    result = run(str(path), "--out", str(tmp_path / "poses.json"), "--masks", str(tmp_path / "masks"))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("pose [") and lines[-2].startswith("pose [############################] 8/8")
    assert re.fullmatch(
        rf"{re.escape(str(path))}: 8 frames \(8 with people, 0 hands and 8 faces seen\), \d+ ms per frame; keypoints in .*, masks in .*",
        lines[-1],
    )
    poses = PoseSequence.load(tmp_path / "poses.json")
    assert (len(poses), poses.fps, poses.size) == (8, 24.0, (512, 512))
    for index, people in enumerate(poses.frames):  # every frame's face, smoothed, still around its nose
        face = poses.hands_face_of(index)[0].face
        size = np.linalg.norm(face[:, :2].max(axis=0) - face[:, :2].min(axis=0))
        assert (face[:, 2] > 0.5).all() and np.linalg.norm(face[30, :2] - people[0][kp.NOSE, :2]) < 0.1 * size
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == [f"{i:05d}.png" for i in range(8)]


def test_openpose_folder_is_converted_with_the_canvas_given(tmp_path, astronaut):
    fixture = astronaut[1]
    folder = tmp_path / "openpose"
    folder.mkdir()
    body25 = np.zeros((25, 3))
    for coco, index in enumerate((0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)):
        body25[index] = fixture[coco]
    hand = np.column_stack([fixture[kp.LEFT_WRIST, :2] + np.arange(21)[:, None] * (1.0, -2.0), np.full(21, 0.8)])
    face = np.column_stack([fixture[kp.NOSE, :2] + np.arange(70)[:, None] * (0.5, 0.25), np.full(70, 0.9)])
    for frame in range(3):
        person = {
            "pose_keypoints_2d": body25.ravel().tolist(), "hand_left_keypoints_2d": hand.ravel().tolist(),
            "hand_right_keypoints_2d": [], "face_keypoints_2d": face.ravel().tolist(),
        }  # fmt: skip
        (folder / f"take_{frame:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": [person]}))
    missing = run(str(folder), "--out", str(tmp_path / "poses.json"))
    one_sentence(missing, r"do not say how large the picture was; .*--width and --height")
    result = run(str(folder), "--out", str(tmp_path / "poses.json"), "--width", "512", "--height", "512", "--fps", "25")
    assert result.returncode == 0, result.stderr
    assert "converted" in result.stderr and "3 frames, 3 people in all, 3 hands and 3 faces seen, 512x512" in result.stderr
    poses = PoseSequence.load(tmp_path / "poses.json")
    assert poses.fps == 25.0 and np.allclose(poses.frames[2][0], fixture, atol=1e-3)
    (extra,) = poses.hands_face_of(2)  # the hands and face came along; the pupils (points 68, 69) did not
    assert np.allclose(extra.left_hand, hand, atol=1e-3) and extra.right_hand is None and np.allclose(extra.face, face[:68], atol=1e-3)


def test_every_failure_is_one_sentence(photos, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    (tmp_path / "notes.txt").write_text("hello")
    out = ["--out", str(tmp_path / "out.json")]
    image = str(photos / "astronaut.png")
    cases = {
        "no person": (
            [str(photos / "coffee.png")],
            r"photo .*coffee.png: no person was found in the image, also turned by 90, 180 and 270 degrees and zoomed in",
        ),
        "unknown estimator": ([image, "--estimator", "openpose"], r"unknown pose estimator 'openpose'; choose mediapipe or mmpose"),
        "unknown mask estimator": ([image, "--mask-estimator", "grabcut"], r"unknown mask estimator 'grabcut'; choose mediapipe or sam"),
        "mmpose missing": (
            [image, "--estimator", "mmpose"],
            r"needs MMPose, which is not installed: pip install -U openmim && mim install",
        ),
        "sam checkpoint missing": (
            [image, "--mask-estimator", "sam"],
            r"needs a SAM checkpoint on this machine: pass --sam-checkpoint PATH",
        ),
        "sam checkpoint not there": (
            [image, "--mask-estimator", "sam", "--sam-checkpoint", str(tmp_path / "sam.pth")],
            r"SAM checkpoint .*sam.pth does not exist",
        ),
        "unreadable image": ([str(tmp_path / "broken.png")], r"photo .*broken.png is not an image OpenCV can read"),
        "unreadable video": (
            [str(tmp_path / "broken.mp4")],
            r"video .*broken.mp4 cannot be opened \(.*\); is it an mp4, mov or webm file\?",
        ),
        "unknown input": ([str(tmp_path / "notes.txt")], r"is not a photo \(.png, .*\), a video \(.mp4, .*\) or pose files"),
        "missing input": ([str(tmp_path / "nope.jpg")], r"input .*nope.jpg does not exist"),
        "masks of pose files": ([str(tmp_path), "--masks", str(tmp_path / "m")], r"--masks needs a photo or a video"),
        "people": ([image, "--max-people", "0"], r"--max-people must be at least 1, got 0"),
    }
    for name, (args, pattern) in cases.items():
        if name == "mmpose missing" and __import__("importlib").util.find_spec("mmpose") is not None:
            continue
        one_sentence(run(*args, *out), pattern)
    assert not (tmp_path / "out.json").exists()
