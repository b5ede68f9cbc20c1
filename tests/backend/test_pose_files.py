"""Pose files sent as they are: OpenPose folders and files and COCO keypoint JSON, through JobClient and
`tpc submit`, converted by the backend as `tpc pose` converts them; broken ones cost one sentence."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import msgpack
import pytest
import zmq

from tests.support.backend import TPC
from tests.support.example_jobs import collect, make_poses
from tests.support.pose_files import coco_keypoints, openpose_frames
from tpc.pose_io import parse_pose_documents
from tpc.pose_sequence import PoseSequence
from tpc_protocol import PROTOCOL_VERSION, codec
from tpc_protocol.client import JobFailed
from tpc_protocol.limits import MAX_POSE_DOCUMENT_BYTES
from tpc_protocol.messages import Accepted, Frame, JobError, Submit

FRAMES = 5
SIZE = 128


@pytest.fixture(scope="module")
def motion(example) -> PoseSequence:
    return PoseSequence.from_json(make_poses(example, FRAMES, SIZE))


@pytest.fixture(scope="module")
def reference(example) -> dict:
    """JobClient.submit's reference arguments (the backend needs no perception for them)."""
    return {
        "reference_image": example["reference_image"],
        "reference_keypoints": example["reference_keypoints"],
        "reference_mask": example["reference_mask"],
    }


def exact_json(poses: PoseSequence) -> dict:
    """A PoseSequence document with every coordinate as it is (``to_json`` rounds to 1/1000 pixel)."""
    frames = [{"people": [{"keypoints": person.tolist()} for person in people]} for people in poses.frames]
    return {"format": "coco17", "width": poses.width, "height": poses.height, "fps": poses.fps, "frames": frames}


def sources(motion: PoseSequence) -> dict[str, tuple[list[tuple[str, bytes]], tuple[int, int] | None, int]]:
    """Pose files by kind: (documents, the canvas to send, how many frames they hold)."""
    return {
        "openpose_body25_folder": (openpose_frames(motion, "body25"), (SIZE, SIZE), FRAMES),
        "openpose_coco18_file": (openpose_frames(motion, "openpose_coco18")[2:3], (SIZE, SIZE), 1),
        "coco_keypoints": ([("person_keypoints.json", coco_keypoints(motion))], None, FRAMES),  # states its size
    }


@pytest.mark.parametrize("kind", ["openpose_body25_folder", "openpose_coco18_file", "coco_keypoints"])
def test_pose_files_render_one_frame_per_pose_frame_as_their_converted_poses_do(shared_backend, motion, reference, kind):
    documents, canvas, frames = sources(motion)[kind]
    with shared_backend.client() as client:
        sent = collect(client.submit(f"files-{kind}", **reference, pose_documents=documents, canvas=canvas, fps=24))
        converted = parse_pose_documents(documents, canvas=canvas, fps=24)
        direct = collect(client.submit(f"converted-{kind}", **reference, poses=exact_json(converted)))
        status = client.status(f"files-{kind}")
    assert sent["done"] and sorted(sent["frames"]) == list(range(frames))
    assert sent["accepted"].total_frames == frames and status["total"] == frames and status["state"] == "done"
    assert sent["frames"] == direct["frames"], "the backend converted the files differently from tpc.pose_io"
    stored = msgpack.unpackb((shared_backend.data / "jobs" / f"files-{kind}" / "input" / "inputs.msgpack").read_bytes())
    assert [tuple(pair) for pair in stored["pose_documents"]] == documents and stored["poses"] is None


def test_the_same_files_again_attach_and_another_canvas_under_the_same_id_is_refused(shared_backend, motion, reference):
    documents, canvas, _ = sources(motion)["openpose_body25_folder"]
    with shared_backend.client() as client:
        first = collect(client.submit("files-again", **reference, pose_documents=documents, canvas=canvas))
        again = collect(client.submit("files-again", **reference, pose_documents=documents, canvas=canvas))
        with pytest.raises(JobFailed) as other_canvas:
            collect(client.submit("files-again", **reference, pose_documents=documents, canvas=(SIZE, SIZE + 2)))
    assert again["frames"] == first["frames"]
    assert other_canvas.value.code == "job_conflict"


def broken_documents(motion: PoseSequence) -> dict[str, tuple[list[tuple[str, bytes]], tuple[int, int] | None, str]]:
    frames = openpose_frames(motion, "body25")
    two_points = json.dumps({"people": [{"pose_keypoints_2d": [1, 2, 0.5, 4, 5, 0.5]}]}).encode()
    coco = json.loads(coco_keypoints(motion))
    coco["annotations"][0]["image_id"] = [1000]
    return {
        "not json": ([("frame_7.json", b"{nope")], (SIZE, SIZE), "frame_7.json is not valid JSON"),
        "not a pose file": ([("notes.json", b'{"hello": 1}')], (SIZE, SIZE), "notes.json is not a pose file TPC Animate knows"),
        "no canvas": (frames, None, "do not say how large the picture was; give the canvas size"),
        "unknown layout": ([("odd.json", two_points)], (SIZE, SIZE), "2 keypoints match no known layout"),
        "mixed formats": ([*frames[:2], ("coco.json", coco_keypoints(motion))], (SIZE, SIZE), "coco.json is not an OpenPose frame"),
        "list image id": ([("coco.json", json.dumps(coco).encode())], None, "image ids must be numbers or text"),
        "deep nesting": ([("deep.json", b"[" * 100_000)], (SIZE, SIZE), "deep.json is nested too deeply"),
        "no frames": ([("empty.json", b'{"format": "coco17", "width": 64, "height": 64, "frames": []}')], None, "no frames"),
    }


def test_broken_pose_files_are_one_sentence_and_the_backend_stays_up(shared_backend, motion, reference):
    with shared_backend.client() as client:
        for number, (name, (documents, canvas, sentence)) in enumerate(broken_documents(motion).items()):
            with pytest.raises(JobFailed) as failure:
                collect(client.submit(f"broken-{number}", **reference, pose_documents=documents, canvas=canvas))
            message = str(failure.value)
            assert failure.value.code == "bad_input", (name, message)
            assert sentence in message and "\n" not in message and len(message) < 400, (name, message)
            with pytest.raises(JobFailed, match="has no job"):
                client.status(f"broken-{number}")  # a refused job leaves nothing behind
        assert client.hello()["version"] == PROTOCOL_VERSION
        documents, canvas, _ = sources(motion)["openpose_body25_folder"]
        after = collect(client.submit("after-the-broken-files", **reference, pose_documents=documents, canvas=canvas))
    assert sorted(after["frames"]) == list(range(FRAMES))
    assert shared_backend.alive


def raw_reply(address: str, parts: list[bytes]) -> object:
    """Send parts from a bare DEALER (nothing of the client's checking in between) and read the reply."""
    with zmq.Context() as context, context.socket(zmq.DEALER) as socket:
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(address)
        socket.send_multipart(parts)
        assert socket.poll(10_000), "the backend did not answer"
        return codec.decode(socket.recv_multipart(), side="client").message


def test_pose_files_the_protocol_refuses_are_answered_before_anything_is_read(shared_backend, motion, reference):
    documents = openpose_frames(motion, "body25")
    keypoints = json.dumps(reference["reference_keypoints"]).encode()
    submit = Submit(
        "raw-files", reference["reference_image"], reference_keypoints=keypoints, reference_mask=reference["reference_mask"],
        pose_documents=tuple(documents), pose_canvas=(SIZE, SIZE),
    )  # fmt: skip
    good = codec.encode(submit, 1)
    header = msgpack.unpackb(good[0])

    def variant(**changes) -> list[bytes]:
        return [msgpack.packb({**header, **changes}, use_bin_type=True), *good[1:]]

    sizes = header["buffers"]["pose_documents"]
    cases = {
        "a path for a name": (variant(pose_documents=["../x.json", *header["pose_documents"][1:]]), "bad_message", "file names"),
        "more names than files": (variant(pose_documents=[*header["pose_documents"], "extra.json"]), "bad_message", "declares"),
        "both kinds of poses": (  # the PoseSequence buffer comes right after the image
            [*variant(buffers={**header["buffers"], "poses": [2]})[:2], b"{}", *good[2:]],
            "bad_message",
            "it carries both",
        ),
        "too many bytes": (
            variant(buffers={**header["buffers"], "pose_documents": [MAX_POSE_DOCUMENT_BYTES // 2 + 1] * 2 + sizes[2:]}),
            "too_large",
            "together",
        ),
        "a canvas of nothing": (variant(pose_canvas=[0, SIZE]), "bad_message", "pose_canvas"),
    }
    for name, (parts, code, words) in cases.items():
        reply = raw_reply(shared_backend.address, parts)
        assert isinstance(reply, JobError) and reply.code == code and words in reply.message, (name, reply)
    assert isinstance(raw_reply(shared_backend.address, good), Accepted)
    with shared_backend.client() as client:
        assert client.hello()["version"] == PROTOCOL_VERSION


def test_a_job_of_pose_files_survives_kill_9_and_resumes(backends, reference, example):
    long_motion = PoseSequence.from_json(make_poses(example, 40, 256))
    documents = openpose_frames(long_motion, "body25")
    arguments = {**reference, "pose_documents": documents, "canvas": (256, 256)}
    backend = backends("crashing")
    received: dict[int, bytes] = {}
    with backend.client() as client:
        for event in client.submit("files-crash", **arguments):
            if isinstance(event, Frame):
                received[event.index] = bytes(event.png)
                if len(received) == 6:
                    backend.kill()
                    break
    backend.start()
    with backend.client() as client:
        resumed = collect(client.submit("files-crash", **arguments, start_frame=len(received)))
        converted = parse_pose_documents(documents, canvas=(256, 256))
        reference_run = collect(client.submit("converted-crash", **reference, poses=exact_json(converted)))
    assert set(received) | set(resumed["frames"]) == set(range(40)) and not set(received) & set(resumed["frames"])
    assert {**received, **resumed["frames"]} == reference_run["frames"]
    assert "1 unfinished job(s) resumed" in backend.log()


# -- tpc submit ----------------------------------------------------------------------------------------
def tpc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TPC, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory, motion, example) -> Path:
    """The reference and the pose files on disk, as a user has them."""
    folder = tmp_path_factory.mktemp("pose-files")
    (folder / "reference.jpg").write_bytes(example["reference_image"])
    (folder / "keypoints.json").write_text(json.dumps(example["reference_keypoints"]))
    (folder / "mask.png").write_bytes(example["reference_mask"])
    (folder / "openpose").mkdir()
    for name, data in openpose_frames(motion, "body25"):
        (folder / "openpose" / name).write_bytes(data)
    name, data = openpose_frames(motion, "openpose_coco18")[0]
    (folder / "single_coco18.json").write_bytes(data)
    (folder / "person_keypoints.json").write_bytes(coco_keypoints(motion))
    return folder


def submit_args(backend, files: Path, poses: Path, out: Path, *extra: str) -> list[str]:
    return [
        "submit", "--backend", backend.address, "--out", str(out), "--reference", str(files / "reference.jpg"),
        "--poses", str(poses), "--reference-keypoints", str(files / "keypoints.json"),
        "--reference-mask", str(files / "mask.png"), *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    "source, extra, frames",
    [
        ("openpose", ("--width", str(SIZE), "--height", str(SIZE), "--fps", "24"), FRAMES),
        ("single_coco18.json", ("--width", str(SIZE), "--height", str(SIZE)), 1),
        ("person_keypoints.json", (), FRAMES),
    ],
)
def test_tpc_submit_sends_pose_files_and_writes_a_frame_per_pose_frame(shared_backend, files, tmp_path, source, extra, frames):
    out = tmp_path / "out"
    result = tpc(*submit_args(shared_backend, files, files / source, out, "--quiet", *extra))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert sorted(p.name for p in out.glob("0*.png")) == [f"{i:05d}.png" for i in range(frames)]
    assert json.loads((out / "report.json").read_text())["summary"]["frames"] == frames
    again = tpc(*submit_args(shared_backend, files, files / source, out, *extra))  # the same files: nothing to fetch
    assert again.returncode == 0 and f"0 received now, {frames} were already there" in again.stderr


def test_tpc_submit_and_calibrate_need_a_canvas_for_openpose_files(shared_backend, files, tmp_path):
    missing = tpc(*submit_args(shared_backend, files, files / "openpose", tmp_path / "out"))
    for result in (missing, tpc("calibrate", "--reference", str(files / "reference.jpg"), "--poses", str(files / "openpose"),
                                "--reference-keypoints", str(files / "keypoints.json"), "--reference-mask",
                                str(files / "mask.png"), "--out", str(tmp_path / "calibrated"))):  # fmt: skip
        assert result.returncode == 2 and "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "do not say how large the picture was" in lines[0] and "--width and --height" in lines[0]
    half = tpc(*submit_args(shared_backend, files, files / "openpose", tmp_path / "out", "--width", "64"))
    assert half.returncode == 2 and "give both --width and --height, or neither" in half.stderr
    assert not (tmp_path / "out" / "00000.png").exists()
