"""`tpc calibrate` and the backend complete the reference people the same way: same checks, same
sentences, same cap on how many people perception looks for."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import msgpack
import numpy as np
import pytest

from tests.support.backend import TPC
from tests.support.example_jobs import collect
from tpc.image_io import encode_png, write_png
from tpc.pose_sequence import PoseSequence
from tpc_backend.reference import MAX_REFERENCE_PEOPLE
from tpc_protocol.client import JobFailed

TILE, COLUMNS, ROWS = 200, 5, 2  # a photo of ten people, more than perception is asked to find


def calibrate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TPC, "calibrate", "--quiet", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def crowd(tmp_path_factory, astronaut) -> Path:
    """A photo of ten astronauts in a 5x2 grid, and two frames of poses with ten people each."""
    image, points, _ = astronaut
    folder = tmp_path_factory.mktemp("crowd")
    tile = cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_AREA)
    write_png(folder / "crowd.png", np.concatenate([np.concatenate([tile] * COLUMNS, axis=1)] * ROWS, axis=0))
    small = points * [TILE / 512, TILE / 512, 1]
    people = [small + [TILE * column, TILE * row, 0] for row in range(ROWS) for column in range(COLUMNS)]
    PoseSequence(TILE * COLUMNS, TILE * ROWS, 24.0, [people, people[::-1]]).save(folder / "poses.json")
    return folder


def test_both_look_for_at_most_the_same_number_of_people(crowd, shared_backend, tmp_path):
    """Ten people in every frame and in the photo: both find MAX_REFERENCE_PEOPLE, not ten."""
    result = calibrate("--reference", str(crowd / "crowd.png"), "--poses", str(crowd / "poses.json"), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out" / "report.json").read_text())["reference"]["people"] == MAX_REFERENCE_PEOPLE

    poses = json.loads((crowd / "poses.json").read_text())
    with shared_backend.client(timeout=120) as client:
        done = collect(client.submit("crowd", (crowd / "crowd.png").read_bytes(), poses, {}))
    assert done["done"] and done["report"].report_json["reference"]["people"] == MAX_REFERENCE_PEOPLE
    stored = msgpack.unpackb((shared_backend.data / "jobs" / "crowd" / "input" / "perceived_people.msgpack").read_bytes())
    assert len(stored["keypoints"]) == len(stored["masks"]) == MAX_REFERENCE_PEOPLE


@pytest.mark.parametrize(
    "frames, size, check",
    [
        ([[0], [0]], (512, 512), "must hold exactly one frame, not 2"),
        ([[0]], (256, 512), "must describe the 512x512 reference image, not a 256x512 one"),
        ([[]], (512, 512), "must show at least one person, but its frame is empty"),
    ],
)
def test_bad_reference_keypoints_get_the_same_sentence_from_both(shared_backend, astronaut, tmp_path, frames, size, check):
    image, points, mask = astronaut
    keypoints = PoseSequence(*size, 24.0, [[points for _ in people] for people in frames])
    keypoints.save(tmp_path / "kp.json")
    write_png(tmp_path / "ref.png", image)
    PoseSequence(512, 512, 24.0, [[points]]).save(tmp_path / "poses.json")

    result = calibrate(
        "--reference", str(tmp_path / "ref.png"), "--poses", str(tmp_path / "poses.json"), "--out", str(tmp_path / "out"),
        "--reference-keypoints", str(tmp_path / "kp.json"),
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == f"tpc: error: reference keypoints file {tmp_path / 'kp.json'} {check}"

    with shared_backend.client() as client:
        with pytest.raises(JobFailed) as refused:
            collect(
                client.submit(
                    "bad-reference-keypoints", encode_png(image), PoseSequence.load(tmp_path / "poses.json").to_json(), {},
                    reference_keypoints=keypoints.to_json(), reference_mask=encode_png(mask),
                )
            )  # fmt: skip
    assert str(refused.value) == f"the reference keypoints {check}" and refused.value.code == "bad_input"
