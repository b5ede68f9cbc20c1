"""Pose files from other tools: OpenPose (COCO-18, BODY_25, folders, pose editors), COCO keypoints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tpc import keypoints as kp
from tpc.pose_io import load_pose_source, natural_key, parse_pose_documents
from tpc.pose_sequence import PoseFormatError, PoseSequence

# Where each COCO-17 point sits in the OpenPose layouts (the inverse of tpc.keypoints' tables).
COCO18_FROM_COCO17 = {0: 0, 1: 15, 2: 14, 3: 17, 4: 16, 5: 5, 6: 2, 7: 6, 8: 3, 9: 7, 10: 4, 11: 11, 12: 8, 13: 12, 14: 9, 15: 13, 16: 10}
BODY25_FROM_COCO17 = {0: 0, 1: 16, 2: 15, 3: 18, 4: 17, 5: 5, 6: 2, 7: 6, 8: 3, 9: 7, 10: 4, 11: 12, 12: 9, 13: 13, 14: 10, 15: 14, 16: 11}


def openpose_flat(person: np.ndarray, layout: dict[int, int], count: int) -> list[float]:
    """A COCO-17 person as OpenPose's flat [x, y, c] * count list (unset points are 0, 0, 0)."""
    points = np.zeros((count, 3))
    for coco, index in layout.items():
        points[index] = person[coco]
    if count == 25:
        points[8] = (points[9] + points[12]) / 2  # mid-hip, which COCO-17 has no place for
    return points.ravel().round(3).tolist()


def openpose_frame(people: list[np.ndarray], layout=COCO18_FROM_COCO17, count=18, **extra) -> bytes:
    document = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": openpose_flat(p, layout, count)} for p in people]}
    document.update(extra)
    return json.dumps(document).encode()


@pytest.fixture()
def person(astronaut) -> np.ndarray:
    points = astronaut[1].copy()
    points[:, :2] = points[:, :2].round(3)
    return points


@pytest.mark.parametrize("layout,count", [(COCO18_FROM_COCO17, 18), (BODY25_FROM_COCO17, 25)])
def test_openpose_folder_becomes_frames_in_natural_order(tmp_path, person, layout, count):
    for index in (0, 1, 2, 10):
        moved = person.copy()
        moved[:, 0] += index
        name = f"clip_{index:d}_keypoints.json"  # unpadded numbers: 10 must come after 2
        (tmp_path / name).write_bytes(openpose_frame([moved], layout, count))
    (tmp_path / "notes.txt").write_text("not a pose file")
    poses = load_pose_source(tmp_path, canvas=(512, 512), fps=24)
    assert (poses.width, poses.height, poses.fps, len(poses)) == (512, 512, 24.0, 4)
    for frame, shift in zip(poses.frames, (0, 1, 2, 10)):
        expected = person.copy()
        expected[:, 0] += shift
        assert np.allclose(frame[0], expected, atol=1e-3)


def test_openpose_canvas_comes_from_a_pose_editor_or_must_be_given(person):
    editor = openpose_frame([person], canvas_width=640, canvas_height=480)
    poses = parse_pose_documents([("editor.json", editor)])
    assert poses.size == (640, 480) and len(poses.frames[0]) == 1
    with pytest.raises(PoseFormatError) as error:
        parse_pose_documents([("frame.json", openpose_frame([person]))])
    message = str(error.value)
    assert message.startswith("frame.json: ") and "canvas size" in message and "--width and --height" in message


def test_openpose_people_without_points_are_dropped_and_confidences_clipped(person):
    document = json.loads(openpose_frame([person, person]))
    document["people"][1]["pose_keypoints_2d"] = []
    document["people"][0]["pose_keypoints_2d"][2] = 1.0004  # nose confidence a hair above 1
    poses = parse_pose_documents([("f.json", json.dumps(document).encode())], canvas=(512, 512))
    assert len(poses.frames[0]) == 1 and poses.frames[0][0][kp.NOSE, 2] == 1.0


def test_coco_dataset_groups_people_by_image_with_visibility_flags(person):
    flat = []
    for x, y, c in person:
        flat += [float(x), float(y), 2 if c >= 0.5 else (1 if c > 0 else 0)]
    document = {
        "images": [{"id": 7, "width": 512, "height": 512, "file_name": "a.jpg"}, {"id": 3, "width": 512, "height": 512}],
        "annotations": [
            {"image_id": 3, "keypoints": flat, "num_keypoints": 10, "category_id": 1},
            {"image_id": 7, "keypoints": flat, "num_keypoints": 10, "category_id": 1},
            {"image_id": 3, "keypoints": flat, "num_keypoints": 10, "category_id": 1},
            {"image_id": 7, "keypoints": [0] * 51, "num_keypoints": 0, "category_id": 1},
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    poses = parse_pose_documents([("coco.json", json.dumps(document).encode())], fps=12)
    assert [len(frame) for frame in poses.frames] == [1, 2]  # frames in the images' order
    points = poses.frames[0][0]
    assert set(np.unique(points[:, 2])) <= {0.0, 0.5, 1.0}
    assert np.array_equal(points[:, 2] > 0, person[:, 2] > 0)
    assert poses.fps == 12.0


def test_coco_results_list_needs_a_canvas_and_keeps_scores(person):
    results = [{"image_id": i, "category_id": 1, "keypoints": person.ravel().tolist(), "score": 0.9} for i in (2, 1)]
    data = json.dumps(results).encode()
    with pytest.raises(PoseFormatError, match="canvas size"):
        parse_pose_documents([("results.json", data)])
    poses = parse_pose_documents([("results.json", data)], canvas=(512, 512))
    assert len(poses) == 2 and np.allclose(poses.frames[0][0], person, atol=1e-3)


def test_our_own_format_passes_through(tmp_path, person):
    PoseSequence(512, 512, 25.0, [[person], []]).save(tmp_path / "ours.json")
    poses = load_pose_source(tmp_path / "ours.json")
    assert poses.fps == 25.0 and len(poses) == 2 and np.allclose(poses.frames[0][0], person, atol=1e-3)


def test_every_problem_is_a_sentence_naming_the_file(tmp_path, person):
    cases = [
        ([("a.json", b"\xff\xfe\x00")], "a.json is not a text file"),
        ([("a.json", b"{nope")], r"a.json is not valid JSON \(.* at line 1\)"),
        ([("a.json", b'{"hello": 1}')], "a.json is not a pose file TPC Animate knows"),
        ([("a.json", openpose_frame([person])), ("b.json", b'{"frames": []}')], "b.json is not an OpenPose frame"),
        ([("a.json", b'{"people": [{"pose_keypoints_2d": [1, 2, 3, 4]}]}')], "flat list of x, y, confidence"),
        ([("a.json", b'{"people": [{"pose_keypoints_2d": [1, 2, 0.5, 4, 5, 0.5]}]}')], "2 keypoints match no known layout"),
        ([("a.json", b'{"people": [{"face_keypoints_2d": []}]}')], "person 0: has no pose_keypoints_2d"),
        (
            [("a.json", b'{"images": [{"id": 1, "width": 5, "height": 5}, {"id": 2, "width": 6, "height": 5}], "annotations": []}')],
            "different sizes",
        ),
        (
            [("a.json", b'{"images": [], "annotations": [{"image_id": 1, "keypoints": [1, 2]}]}')],
            "annotation 0 must have 51 keypoint values",
        ),
    ]
    for documents, message in cases:
        with pytest.raises(PoseFormatError, match=message):
            parse_pose_documents(documents, canvas=(64, 64))
    nan = json.loads(openpose_frame([person]))
    nan["people"][0]["pose_keypoints_2d"][0] = float("nan")
    with pytest.raises(PoseFormatError, match="not a finite number"):
        parse_pose_documents([("nan.json", json.dumps(nan).encode())], canvas=(512, 512))
    with pytest.raises(PoseFormatError, match="width must be a whole number"):
        parse_pose_documents([("a.json", openpose_frame([person]))], canvas=(0, 512))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PoseFormatError, match="holds no .json pose files"):
        load_pose_source(tmp_path / "empty")
    with pytest.raises(PoseFormatError, match="does not exist"):
        load_pose_source(tmp_path / "missing.json")


def test_natural_order():
    names = ["f_10.json", "f_2.json", "F_1.json"]
    assert sorted(names, key=natural_key) == ["F_1.json", "f_2.json", "f_10.json"]
