"""The service through JobClient against a real backend process: jobs, attach, cancel, status, errors."""

from __future__ import annotations

import json
import os
import subprocess
import threading

import cv2
import msgpack
import numpy as np
import pytest

from tests.support.backend import BACKEND
from tests.support.example_jobs import collect, job
from tests.support.waiting import wait_until
from tpc.image_io import decode_image
from tpc_backend.engines.base import RenderSettings
from tpc_protocol import PROTOCOL_VERSION, codec
from tpc_protocol.client import JobFailed
from tpc_protocol.messages import SETTINGS, Cancel, Done, Frame, JobError, Submit


def test_hello_names_version_and_engines(shared_backend):
    with shared_backend.client() as client:
        info = client.hello()
    assert info["version"] == PROTOCOL_VERSION
    assert "preview" in info["engines"] and info["default_engine"] == "preview"


def test_protocol_settings_are_the_engines_settings():
    assert set(SETTINGS) == set(RenderSettings.__dataclass_fields__)


def test_a_job_streams_every_frame_in_order_then_the_report(shared_backend, example):
    with shared_backend.client() as client:
        result = collect(client.submit("stream", **job(example, frames=5)))
    assert result["done"] and result["accepted"].total_frames == 5
    assert list(result["frames"]) == [0, 1, 2, 3, 4]
    order = [name for name in result["order"] if name != "Progress"]
    assert order == ["Accepted", *["Frame"] * 5, "Report", "Done"]
    files = shared_backend.frame_files("stream")
    assert [path.read_bytes() for path in files] == [result["frames"][i] for i in range(5)]
    for png in result["frames"].values():
        frame = decode_image(png)
        assert frame.shape == (128, 128, 3) and frame.any()
    report = result["report"].report_json
    assert report["summary"]["frames"] == 5 and report["canvas"] == {"width": 128, "height": 128}
    assert decode_image(result["report"].report_png).shape[0] > 400
    assert result["report"].report_json_bytes == (shared_backend.data / "jobs" / "stream" / "report.json").read_bytes()


def test_preview_frames_show_the_calibrated_person_over_the_skeleton(shared_backend, example):
    with shared_backend.client() as client:
        calibrated = collect(client.submit("with-tpc", **job(example, frames=2, size=256)))["frames"][1]
        plain = collect(client.submit("without-tpc", **job(example, frames=2, size=256, tpc=False)))["frames"][1]
        resized = collect(client.submit("resized", **job(example, frames=2, size=256, width=128, height=96)))["frames"][1]
    assert calibrated != plain
    assert decode_image(resized).shape == (96, 128, 3)
    # The reference photo's orange suit appears in the frame: the person is really composited in.
    suit = decode_image(calibrated).astype(int)
    assert ((suit[..., 0] > 150) & (suit[..., 1] < 120) & (suit[..., 2] < 90)).sum() > 200


def test_resubmitting_a_job_attaches_without_recomputing(shared_backend, example):
    with shared_backend.client() as client:
        first = collect(client.submit("again", **job(example, frames=4)))
        stamps = [path.stat().st_mtime_ns for path in shared_backend.frame_files("again")]
        second = collect(client.submit("again", **job(example, frames=4)))
        status = client.status("again")
    assert second["frames"] == first["frames"] and second["done"]
    assert [path.stat().st_mtime_ns for path in shared_backend.frame_files("again")] == stamps
    assert status["state"] == "done" and status["done"] == 4


def test_the_same_id_with_other_inputs_is_refused(shared_backend, example):
    with shared_backend.client() as client:
        collect(client.submit("taken", **job(example, frames=2)))
        with pytest.raises(JobFailed, match="job taken already exists with other inputs or settings") as failure:
            collect(client.submit("taken", **job(example, frames=2, seed=5)))
    assert failure.value.code == "job_conflict"


def test_any_client_can_attach_from_any_frame(shared_backend, example):
    with shared_backend.client() as client:
        full = collect(client.submit("attach-me", **job(example, frames=6)))
    with shared_backend.client() as other:
        tail = collect(other.attach("attach-me", start_frame=4))
        nothing = collect(other.attach("attach-me", start_frame=6))
        with pytest.raises(JobFailed, match="start frame 7 is past the end"):
            collect(other.attach("attach-me", start_frame=7))
        with pytest.raises(JobFailed, match="this backend has no job nobody") as unknown:
            collect(other.attach("nobody"))
    assert tail["frames"] == {4: full["frames"][4], 5: full["frames"][5]} and tail["report"] is not None
    assert nothing["frames"] == {} and nothing["done"]
    assert unknown.value.code == "unknown_job"


def test_cancel_stops_within_a_frame_and_a_resubmit_resumes(shared_backend, example):
    arguments = job(example, frames=48, size=256)
    with shared_backend.client() as client:
        events = client.submit("cancel-me", **arguments)
        received = {}
        with pytest.raises(JobFailed, match="was cancelled after") as failure:
            for event in events:
                if isinstance(event, Frame):
                    received[event.index] = event.png
                    if event.index == 2:
                        assert client.cancel("cancel-me")["state"] == "cancelled"
        assert failure.value.code == "cancelled"
        status = client.status("cancel-me")
        assert status["state"] == "cancelled" and status["done"] < 48
        assert len(shared_backend.frame_files("cancel-me")) >= status["done"]  # what was finished stays
        resumed = collect(client.submit("cancel-me", **arguments, start_frame=len(received)))
        uninterrupted = collect(client.submit("cancel-me-reference", **arguments))
    assert set(received) | set(resumed["frames"]) == set(range(48))
    assert {**received, **resumed["frames"]} == uninterrupted["frames"]
    assert resumed["report"].report_json_bytes == uninterrupted["report"].report_json_bytes


def test_a_cancel_that_arrives_while_the_submit_is_checked_is_applied_once_the_job_is_journaled(shared_backend, peer, example):
    """Without reference keypoints and mask the intake runs perception before it journals the job; a
    cancel that comes meanwhile must not be lost (the job would run with nobody wanting it). Submit and
    cancel go back to back on one connection, so the backend reads the cancel while perception runs."""
    arguments = job(example, frames=24, size=256)
    submit = Submit("cancel-early", arguments["reference_image"], json.dumps(arguments["poses"]).encode(), {})
    peer.send(codec.encode(submit, 1))
    peer.send(codec.encode(Cancel("cancel-early"), 2))
    answers: dict[int, Done | JobError] = {}
    while len(answers) < 2:
        envelope = peer.reply(timeout=120)
        if isinstance(envelope.message, (Done, JobError)):
            answers[envelope.req] = envelope.message
    cancel, submitted = answers[2], answers[1]
    assert isinstance(cancel, Done) and cancel.result["job"]["state"] == "cancelled", cancel
    assert cancel.result["job"]["total"] is None, "the cancel came while the submit was checked"
    assert isinstance(submitted, JobError) and submitted.code == "cancelled", submitted
    with shared_backend.client() as client:
        status = client.status("cancel-early")
    assert status["state"] == "cancelled" and status["total"] == 24 and status["done"] < 24


def test_status_lists_the_newest_jobs(shared_backend, example):
    with shared_backend.client() as client:
        collect(client.submit("listed", **job(example, frames=1)))
        jobs = client.status()
        with pytest.raises(JobFailed, match="no job ghost"):
            client.status("ghost")
        with pytest.raises(JobFailed, match="no job ghost"):
            client.cancel("ghost")
    assert jobs[0]["job_id"] == "listed" and jobs[0]["state"] == "done"
    assert {"job_id", "state", "done", "total", "engine", "error", "created", "updated"} <= set(jobs[0])


@pytest.mark.parametrize(
    "change, code, sentence",
    [
        ({"settings": {"engine": "warp-drive"}}, "unknown_engine", "unknown engine 'warp-drive'; this backend knows preview"),
        ({"reference_image": b""}, "bad_input", "the reference image is empty"),
        ({"reference_image": b"\x89PNG\r\n\x1a\n garbage"}, "bad_input", "the reference image is not an image"),
        ({"poses": {"format": "coco17", "width": 64, "height": 64, "frames": []}}, "bad_input", "the poses have no frames"),
        ({"poses": {"format": "coco17", "width": 0, "height": 64, "frames": []}}, "bad_input", "width must be a whole number"),
        ({"target_masks": [b"not a png"]}, "bad_input", "has 3 frames but 1 target masks"),
        ({"target_masks": [b"not a png"] * 3}, "bad_input", "target mask 0 is not an image"),
        (
            {"reference_keypoints": {"format": "coco17", "width": 10, "height": 10, "frames": [{"people": []}]}},
            "bad_input",
            "must describe the 512x512 reference image, not a 10x10 one",
        ),
    ],
)
def test_bad_inputs_are_refused_before_they_are_journaled(shared_backend, example, change, code, sentence):
    arguments = {**job(example, frames=3), **change}
    with shared_backend.client() as client:
        with pytest.raises(JobFailed, match=sentence) as failure:
            collect(client.submit("refused", **arguments))
        with pytest.raises(JobFailed, match="no job refused"):
            client.status("refused")
    assert failure.value.code == code


def test_nan_keypoints_are_refused_with_the_place_they_are_in(shared_backend, example):
    arguments = job(example, frames=3)
    arguments["poses"]["frames"][2]["people"][0]["keypoints"][5][0] = float("nan")
    with shared_backend.client() as client:
        with pytest.raises(JobFailed, match="the poses: frame 2, person 0: keypoint 5 .* not a finite number"):
            collect(client.submit("nan", **arguments))


def test_target_masks_reach_the_calibration(shared_backend, example):
    arguments = job(example, frames=2)
    empty = cv2.imencode(".png", np.zeros((128, 128), np.uint8))[1].tobytes()
    arguments["target_masks"] = [empty, empty]
    with shared_backend.client() as client:
        result = collect(client.submit("masked", **arguments))
    # An empty target shape cannot be scored: the report says which fallback was used.
    fallbacks = result["report"].report_json["summary"]["fallbacks"]
    assert result["done"] and fallbacks


@pytest.mark.parametrize("missing", [("reference_keypoints", "reference_mask"), ("reference_mask",)])
def test_what_the_client_leaves_out_perception_adds(shared_backend, example, missing):
    job_id = "perceived-" + "-".join(missing)
    arguments = {**job(example, frames=2), **{name: None for name in missing}}
    with shared_backend.client(timeout=120) as client:
        result = collect(client.submit(job_id, **arguments))
    assert result["done"] and len(result["frames"]) == 2
    stored = msgpack.unpackb((shared_backend.data / "jobs" / job_id / "input" / "perceived_people.msgpack").read_bytes())
    nose = stored["keypoints"][0][:2]
    given = example["reference_keypoints"]["frames"][0]["people"][0]["keypoints"][0]
    assert abs(nose[0] - given[0]) < 25 and abs(nose[1] - given[1]) < 25
    mask = decode_image(stored["masks"][0])[..., 0] > 0
    truth = decode_image(example["reference_mask"])[..., 0] > 0
    assert (mask & truth).sum() / (mask | truth).sum() > 0.7


def test_close_from_another_thread_ends_a_running_stream(shared_backend, example):
    client = shared_backend.client()
    seen = []

    def follow():
        for event in client.submit("closed-early", **job(example, frames=48, size=512)):
            seen.append(event)

    worker = threading.Thread(target=follow)
    worker.start()
    wait_until(lambda: any(isinstance(e, Frame) for e in seen), 60, "no frame arrived")
    client.close()
    worker.join(5)
    assert not worker.is_alive()
    assert not any(type(e).__name__ == "Done" for e in seen)


def test_a_client_that_stops_reading_never_holds_up_its_job(shared_backend, example):
    with shared_backend.client() as slow, shared_backend.client() as watcher:
        events = slow.submit("slow-reader", **job(example, frames=40, size=256))
        first = next(events)  # Accepted; then the reader pauses while the job runs to the end
        wait_until(lambda: watcher.status("slow-reader")["state"] == "done", 60, "the job did not finish", interval=0.1)
        rest = collect(events)
    assert first.total_frames == 40 and rest["done"] and sorted(rest["frames"]) == list(range(40))


def test_a_second_backend_cannot_serve_the_same_data(shared_backend):
    result = subprocess.run(
        [BACKEND, "serve", "--bind", "tcp://127.0.0.1:0", "--data", str(shared_backend.data)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"tpc-backend: error: another tpc-backend is already serving {os.path.realpath(shared_backend.data)}; "
        "stop it or pass another --data folder"
    ]
