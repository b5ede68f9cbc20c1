"""The PoseSequence format: round trip, and one clear sentence for every malformed document."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tpc.pose_sequence import PoseFormatError, PoseSequence


def document(**overrides):
    base = {"format": "coco17", "width": 64, "height": 48, "fps": 24, "frames": [{"people": [{"keypoints": [[1, 2, 0.5]] * 17}]}]}
    base.update(overrides)
    return base


def test_round_trip(tmp_path):
    poses = PoseSequence.from_json(document())
    poses.save(tmp_path / "p.json")
    again = PoseSequence.load(tmp_path / "p.json")
    assert again.size == (64, 48) and again.fps == 24 and len(again) == 1
    np.testing.assert_array_equal(again.frames[0][0], poses.frames[0][0])


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"format": "openpose"}, "only 'coco17'"),
        ({"width": 0}, "width must be"),
        ({"height": 2.5}, "height must be"),
        ({"fps": -1}, "fps must be"),
        ({"frames": {}}, "frames must be a list"),
        ({"frames": [{"people": [{"keypoints": [[1, 2, 0.5]] * 16}]}]}, "frame 0, person 0: keypoints must be a list of 17"),
        ({"frames": [{"people": [{"keypoints": [[1, 2]] * 17}]}]}, "keypoint 0 \\(nose\\) must be"),
        ({"frames": [{"people": [{"keypoints": [[float("nan"), 2, 1]] * 17}]}]}, "not a finite number"),
        ({"frames": [{"people": [{"keypoints": [[1, 2, 1.5]] * 17}]}]}, "outside 0..1"),
        ({"frames": [{"people": [{"keypoints": [[1e9, 2, 1]] * 17}]}]}, "off the canvas"),
        ({"frames": [[]]}, "frame 0 must be an object"),
    ],
)
def test_malformed_documents_say_where(overrides, message):
    with pytest.raises(PoseFormatError, match=message):
        PoseSequence.from_json(document(**overrides), source="poses.json")


def test_unreadable_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PoseFormatError, match="not valid JSON"):
        PoseSequence.load(bad)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PoseFormatError, match="not a text file|not valid JSON"):
        PoseSequence.load(binary)
    nan_text = tmp_path / "nan.json"
    nan_text.write_text(json.dumps(document()).replace("0.5", "NaN", 1))
    with pytest.raises(PoseFormatError, match="finite"):
        PoseSequence.load(nan_text)
