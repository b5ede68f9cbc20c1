"""Hands and faces in pose files: PoseSequence round trips, OpenPose and COCO-WholeBody reading, OpenPose
writing, and one sentence for every bad hand or face array."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tpc import keypoints as kp
from tpc.pose_io import load_pose_source, parse_pose_documents, write_openpose
from tpc.pose_sequence import PoseFormatError, PoseSequence
from tpc.wholebody import BODY_ONLY, HAND_EDGES, HAND_POINT_NAMES, HandsFace, face_point_name

RNG = np.random.default_rng(7)


def points(count: int, confidence: float = 0.9) -> np.ndarray:
    out = np.column_stack([RNG.uniform(10, 500, count), RNG.uniform(10, 500, count), np.full(count, confidence)])
    return out.round(3)


@pytest.fixture()
def person(astronaut) -> np.ndarray:
    body = astronaut[1].copy()
    body[:, :2] = body[:, :2].round(3)
    return body


@pytest.fixture()
def extra() -> HandsFace:
    return HandsFace(points(21), points(21, 0.6), points(68))


def test_names_and_edges_follow_openpose():
    assert len(HAND_POINT_NAMES) == 21 and HAND_POINT_NAMES[0] == "wrist" and HAND_POINT_NAMES[4] == "thumb_tip"
    assert HAND_POINT_NAMES[17:] == ("pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip")
    assert HAND_EDGES[:5] == ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5)) and HAND_EDGES[-1] == (19, 20) and len(HAND_EDGES) == 20
    assert [face_point_name(i) for i in (0, 16, 17, 27, 36, 45, 48, 67)] == [
        "jaw 0", "jaw 16", "right_eyebrow 0", "nose_bridge 0", "right_eye 0", "left_eye 3", "outer_lips 0", "inner_lips 7",
    ]  # fmt: skip


def test_hands_and_face_round_trip_beside_an_unchanged_body(tmp_path, person, extra):
    poses = PoseSequence(512, 512, 24.0, [[person, person], []], [[extra, BODY_ONLY], []])
    document = poses.to_json()
    first, second = document["frames"][0]["people"]
    assert set(first) == {"keypoints", "hands", "face"} and set(first["hands"]) == {"left", "right"}
    assert set(second) == {"keypoints"}  # a body-only person says nothing more
    poses.save(tmp_path / "p.json")
    again = PoseSequence.load(tmp_path / "p.json")
    assert again.frames[0][0].shape == (17, 3) and np.array_equal(again.frames[0][0], person)
    back = again.hands_face_of(0)[0]
    for mine, theirs in zip((extra.left_hand, extra.right_hand, extra.face), (back.left_hand, back.right_hand, back.face)):
        assert np.array_equal(mine, theirs)
    assert again.hands_face_of(0)[1].empty and again.hands_face_of(1) == []


def test_body_only_documents_stay_body_only(person):
    poses = PoseSequence.from_json({"width": 64, "height": 64, "frames": [{"people": [{"keypoints": person.tolist()}]}]})
    assert not poses.has_hands_face and poses.hands_face == [] and poses.hands_face_of(0) == [BODY_ONLY]
    assert "hands" not in json.dumps(poses.to_json()) and "face" not in json.dumps(poses.to_json())
    one_hand = PoseSequence.from_json(
        {"width": 64, "height": 64, "frames": [{"people": [{"keypoints": person.tolist(), "hands": {"right": points(21).tolist()}}]}]}
    )
    assert one_hand.hands_face_of(0)[0].left_hand is None and one_hand.hands_face_of(0)[0].right_hand.shape == (21, 3)


def document_with(**parts) -> dict:
    person = {"keypoints": [[1, 2, 0.5]] * 17, **parts}
    return {"format": "coco17", "width": 64, "height": 48, "frames": [{"people": [person]}]}


GOOD_HAND = [[1, 2, 0.5]] * 21
GOOD_FACE = [[1, 2, 0.5]] * 68


@pytest.mark.parametrize(
    "parts, message",
    [
        (
            {"hands": {"left": [[1, 2, 0.5]] * 20}},
            r"frame 0, person 0: left hand points must be a list of 21 \[x, y, confidence\] triples, got 20$",
        ),
        (
            {"hands": {"right": GOOD_HAND[:3] + [[float("nan"), 2, 1]] + GOOD_HAND[4:]}},
            r"right hand point 3 \(thumb_ip\) has a value that is not a finite number",
        ),
        (
            {"hands": {"left": GOOD_HAND[:20] + [[1e9, 2, 1]]}},
            r"left hand point 20 \(pinky_tip\) lies more than 1000000 pixels off the canvas",
        ),
        ({"hands": {"left": [[1, 2, 1.5]] + GOOD_HAND[1:]}}, r"left hand point 0 \(wrist\) has confidence 1.5, outside 0..1"),
        ({"hands": {"left": [[1, 2]] * 21}}, r"left hand point 0 \(wrist\) must be \[x, y, confidence\] numbers"),
        ({"hands": {"Left": GOOD_HAND}}, r"hands must be an object with \"left\" and/or \"right\" lists of 21 points, got \['Left'\]"),
        ({"hands": [GOOD_HAND, GOOD_HAND]}, r"hands must be an object .* got list"),
        ({"face": [[1, 2, 0.5]] * 70}, r"face points must be a list of 68 \[x, y, confidence\] triples, got 70"),
        (
            {"face": GOOD_FACE[:40] + [[1, float("inf"), 1]] + GOOD_FACE[41:]},
            r"face point 40 \(right_eye 4\) has a value that is not a finite number",
        ),
        ({"face": GOOD_FACE[:67] + [[1, 2, -0.1]]}, r"face point 67 \(inner_lips 7\) has confidence -0.1, outside 0..1"),
        ({"face": "68 points"}, r"face points must be a list of 68 .* got str"),
    ],
)
def test_bad_hand_and_face_arrays_get_one_sentence(parts, message):
    with pytest.raises(PoseFormatError, match=message) as error:
        PoseSequence.from_json(document_with(**parts), source="poses.json")
    assert str(error.value).startswith("poses.json: frame 0, person 0: ") and "\n" not in str(error.value)


def openpose_person(body: np.ndarray, extra: HandsFace | None, face_points: int = 70) -> dict:
    op = kp.to_openpose18(body)
    person = {"person_id": [-1], "pose_keypoints_2d": op.ravel().tolist()}
    if extra is not None:
        face = np.concatenate([extra.face, points(face_points - 68)]) if face_points > 68 else extra.face
        person.update(
            face_keypoints_2d=face.ravel().tolist(),
            hand_left_keypoints_2d=extra.left_hand.ravel().tolist(),
            hand_right_keypoints_2d=extra.right_hand.ravel().tolist(),
        )
    return person


def test_an_openpose_folder_with_hands_and_faces_converts_keeping_them(tmp_path, person, extra):
    folder = tmp_path / "openpose"
    folder.mkdir()
    for index in range(3):
        people = [openpose_person(person, extra), openpose_person(person, None)]
        people[1]["hand_left_keypoints_2d"] = []  # OpenPose run without hands writes empty lists
        document = {"version": 1.3, "people": people}
        (folder / f"take_{index:012d}_keypoints.json").write_text(json.dumps(document))
    poses = load_pose_source(folder, canvas=(512, 512))
    assert len(poses) == 3 and poses.has_hands_face
    first, second = poses.hands_face_of(2)
    assert np.allclose(poses.frames[2][0], person) and np.allclose(first.left_hand, extra.left_hand)
    assert np.allclose(first.right_hand, extra.right_hand) and np.allclose(first.face, extra.face)  # pupils dropped
    assert second.empty


def test_openpose_faces_of_68_points_and_hands_not_found_are_kept_as_they_are(person, extra):
    op = openpose_person(person, extra, face_points=68)
    op["hand_right_keypoints_2d"] = [0.0] * 63  # looked for, not found
    poses = parse_pose_documents([("f.json", json.dumps({"people": [op]}).encode())], canvas=(512, 512))
    found = poses.hands_face_of(0)[0]
    assert np.allclose(found.face, extra.face) and (found.right_hand == 0).all()


@pytest.mark.parametrize(
    "key, values, message",
    [
        (
            "hand_left_keypoints_2d",
            [1.0] * 60,
            r"f.json, person 0: hand_left_keypoints_2d must hold 21 points \(x, y, confidence each\), got 20",
        ),
        ("face_keypoints_2d", [1.0] * 69 * 3, r"face_keypoints_2d must hold 68 or 70 points"),
        ("face_keypoints_2d", [1.0] * 209, r"face_keypoints_2d: keypoints must be a flat list of x, y, confidence numbers"),
        ("hand_right_keypoints_2d", [float("nan")] * 63, r"right hand point 0 \(wrist\) has a value that is not a finite number"),
    ],
)
def test_bad_openpose_hands_and_faces_are_one_sentence(person, key, values, message):
    op = openpose_person(person, None)
    op[key] = values
    with pytest.raises(PoseFormatError, match=message):
        parse_pose_documents([("f.json", json.dumps({"people": [op]}).encode())], canvas=(512, 512))


def test_written_openpose_reads_back_the_same(tmp_path, person, extra):
    hidden = person.copy()
    hidden[kp.LEFT_SHOULDER, 2] = 0.0  # no neck for this one
    poses = PoseSequence(640, 480, 25.0, [[person, hidden], [], [person]], [[extra, BODY_ONLY], [], [extra]])
    files = write_openpose(poses, tmp_path / "op", stem="clip")
    assert [f.name for f in files] == [f"clip_{i:012d}_keypoints.json" for i in range(3)]
    written = json.loads(files[0].read_text())
    first, second = written["people"]
    assert (written["canvas_width"], written["canvas_height"]) == (640, 480)
    assert len(first["pose_keypoints_2d"]) == 54 and len(first["face_keypoints_2d"]) == 210 and len(first["hand_left_keypoints_2d"]) == 63
    assert first["face_keypoints_2d"][-6:] == [0.0] * 6  # the pupils we never had: confidence 0
    neck = np.array(first["pose_keypoints_2d"][3:6])
    assert np.allclose(neck[:2], person[[5, 6], :2].mean(axis=0), atol=1e-3) and neck[2] == min(person[5, 2], person[6, 2])
    assert (
        second["pose_keypoints_2d"][3:6] == [0.0, 0.0, 0.0] and second["hand_left_keypoints_2d"] == [] and second["face_keypoints_2d"] == []
    )
    again = load_pose_source(tmp_path / "op", fps=25.0)  # the canvas comes from the files
    assert again.size == (640, 480) and [len(f) for f in again.frames] == [2, 0, 1]
    assert np.allclose(again.frames[0][1], hidden, atol=1e-3) and np.allclose(again.frames[2][0], person, atol=1e-3)
    back = again.hands_face_of(0)[0]
    assert np.allclose(back.face, extra.face, atol=1e-3) and np.allclose(back.left_hand, extra.left_hand, atol=1e-3)
    assert again.hands_face_of(0)[1].empty


def wholebody_flat(body: np.ndarray, extra: HandsFace) -> list[float]:
    feet = np.zeros((6, 3))
    return np.concatenate([body, feet, extra.face, extra.left_hand, extra.right_hand]).ravel().tolist()


def test_coco_wholebody_results_give_body_hands_and_face(person, extra):
    results = [{"image_id": 1, "category_id": 1, "keypoints": wholebody_flat(person, extra), "score": 0.8}]
    poses = parse_pose_documents([("wholebody.json", json.dumps(results).encode())], canvas=(512, 512))
    found = poses.hands_face_of(0)[0]
    assert np.allclose(poses.frames[0][0], person)
    assert (
        np.allclose(found.face, extra.face)
        and np.allclose(found.left_hand, extra.left_hand)
        and np.allclose(found.right_hand, extra.right_hand)
    )


def test_coco_wholebody_dataset_annotations_map_their_visibility_flags(person):
    flags = lambda n, v: np.column_stack([RNG.uniform(0, 400, (n, 2)).round(2), np.full(n, v)])  # noqa: E731
    body = flags(17, 2)
    annotation = {
        "image_id": 5, "category_id": 1, "keypoints": body.ravel().tolist(),
        "face_kpts": flags(68, 1).ravel().tolist(), "lefthand_kpts": flags(21, 2).ravel().tolist(),
        "righthand_kpts": [0.0] * 63, "face_valid": True, "lefthand_valid": True, "righthand_valid": False,
    }  # fmt: skip
    document = {"images": [{"id": 5, "width": 400, "height": 400}], "annotations": [annotation]}
    poses = parse_pose_documents([("coco_wholebody.json", json.dumps(document).encode())])
    found = poses.hands_face_of(0)[0]
    assert (poses.frames[0][0][:, 2] == 1.0).all() and (found.face[:, 2] == 0.5).all() and (found.left_hand[:, 2] == 1.0).all()
    assert (found.right_hand == 0).all() and np.allclose(found.face[:, :2], np.asarray(annotation["face_kpts"]).reshape(-1, 3)[:, :2])
    annotation["keypoints"] = annotation["keypoints"][:-3]
    with pytest.raises(PoseFormatError, match=r"annotation 0 must have 51 keypoint values .* or COCO-WholeBody's 399"):
        parse_pose_documents([("coco_wholebody.json", json.dumps(document).encode())])
