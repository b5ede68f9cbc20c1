"""Hands and faces through a real backend: sent in a PoseSequence or as OpenPose files, stored with the
job, and drawn in the preview engine's frames (bad ones are refused: tests/backend/test_hostile.py)."""

from __future__ import annotations

import json

import msgpack
import numpy as np
import pytest

from tests.support.example_jobs import collect, make_poses
from tpc.image_io import decode_image
from tpc.pose_io import write_openpose
from tpc.pose_sequence import PoseSequence
from tpc.wholebody import HandsFace

FRAMES = 3
SIZE = 128


def corner_hand(frame: int) -> np.ndarray:
    """A hand in the canvas's top-left corner, away from the calibrated person, moving a pixel a frame."""
    wrist = np.array([6.0 + frame, 30.0])
    points = [wrist]
    for finger in range(5):
        for joint in range(1, 5):
            points.append(wrist + (finger * 4.0, -joint * 5.0))
    return np.column_stack([np.array(points), np.full(21, 0.9)])


@pytest.fixture(scope="module")
def whole_body(example) -> PoseSequence:
    motion = PoseSequence.from_json(make_poses(example, FRAMES, SIZE))
    face = np.column_stack([np.linspace(90, 120, 68), np.full(68, 8.0), np.full(68, 0.9)])
    parts = [[HandsFace(left_hand=corner_hand(i), right_hand=None, face=face)] for i in range(FRAMES)]
    return PoseSequence(motion.width, motion.height, motion.fps, motion.frames, parts)


@pytest.fixture(scope="module")
def reference(example) -> dict:
    return {key: example[key] for key in ("reference_image", "reference_keypoints", "reference_mask")}


def test_hands_and_faces_travel_through_submit_and_are_drawn(shared_backend, example, reference, whole_body, tmp_path):
    body_only = PoseSequence(whole_body.width, whole_body.height, whole_body.fps, whole_body.frames)
    files = write_openpose(whole_body, tmp_path / "openpose")
    documents = [(path.name, path.read_bytes()) for path in files]
    with shared_backend.client() as client:
        sent = collect(client.submit("whole-body", **reference, poses=whole_body.to_json()))
        as_files = collect(client.submit("whole-body-files", **reference, pose_documents=documents, fps=whole_body.fps))
        plain = collect(client.submit("body-only", **reference, poses=body_only.to_json()))
    assert sent["done"] and as_files["done"] and sorted(sent["frames"]) == list(range(FRAMES))
    assert as_files["frames"] == sent["frames"], "OpenPose files lost their hands or faces on the way"
    for index in range(FRAMES):
        frame = decode_image(sent["frames"][index])
        hand = corner_hand(index)
        tip = np.rint(hand[20, :2]).astype(int)
        assert tuple(frame[tip[1], tip[0]]) == (0, 0, 255)  # a hand joint, blue
        assert tuple(frame[8, 105]) == (255, 255, 255)  # a face dot, white
        assert tuple(decode_image(plain["frames"][index])[tip[1], tip[0]]) == (0, 0, 0)
    stored = msgpack.unpackb((shared_backend.data / "jobs" / "whole-body" / "input" / "inputs.msgpack").read_bytes())
    kept = PoseSequence.from_json(json.loads(stored["poses"]))
    assert np.allclose(kept.hands_face_of(1)[0].left_hand, corner_hand(1), atol=1e-3)
