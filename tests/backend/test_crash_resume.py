"""kill -9, SIGTERM and restarts mid-job: nothing is lost, nothing is done twice, the bytes do not change
(with frames calibrated as a sequence, whose windows reach back before the frame a job resumes at)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.support.backend import TPC, Backend
from tests.support.example_jobs import collect, job
from tests.support.waiting import wait_until
from tpc_protocol.messages import Frame

FRAMES = 120  # long enough that each kill lands mid-job even on a loaded machine
JOB = "crash-test"


@pytest.fixture(scope="module")
def arguments(example):
    return job(example, frames=FRAMES, size=256)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, arguments):
    """The job's frames and report from a backend nobody disturbs."""
    backend = Backend(tmp_path_factory.mktemp("uninterrupted") / "data").start()
    with backend.client() as client:
        result = collect(client.submit(JOB, **arguments))
    assert backend.stop() == 0
    assert sorted(result["frames"]) == list(range(FRAMES))
    people = [person for frame in json.loads(result["report"].report_json_bytes)["frames"] for person in frame["people"]]
    assert sum(p["score"] != p["candidate_score"] for p in people) > FRAMES // 2, "frames are calibrated as a smoothed sequence"
    return result


def journaled_frames(backend: Backend, job_id: str) -> int:
    with sqlite3.connect(backend.data / "journal.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM frames WHERE job_id = ?", (job_id,)).fetchone()[0]


def test_kill_9_mid_job_then_restart_and_resubmit(backends, arguments, uninterrupted):
    backend = backends("crashing")
    received: dict[int, bytes] = {}
    with backend.client() as client:
        for event in client.submit(JOB, **arguments):
            if isinstance(event, Frame):
                assert event.index not in received
                received[event.index] = event.png
                if len(received) == 12:
                    backend.kill()
                    break
    journaled = journaled_frames(backend, JOB)
    assert 12 <= journaled < FRAMES, "the kill must land mid-job"
    stamps = {p.name: p.stat().st_mtime_ns for p in backend.frame_files(JOB)[:journaled]}

    backend.start()  # same data folder, new process
    with backend.client() as client:
        assert client.status(JOB)["state"] in ("queued", "running", "done")
        resumed = collect(client.submit(JOB, **arguments, start_frame=len(received)))

    assert not set(received) & set(resumed["frames"]), "a frame arrived twice"
    assert set(received) | set(resumed["frames"]) == set(range(FRAMES)), "a frame never arrived"
    assert {**received, **resumed["frames"]} == uninterrupted["frames"]
    assert resumed["report"].report_json_bytes == uninterrupted["report"].report_json_bytes
    assert resumed["report"].report_png == uninterrupted["report"].report_png
    assert {p.name: p.stat().st_mtime_ns for p in backend.frame_files(JOB)[:journaled]} == stamps, "finished frames were computed again"
    assert "1 unfinished job(s) resumed" in backend.log() and f"resumes at frame {journaled}" in backend.log()


def test_a_stream_survives_a_backend_restart_on_the_same_address(backends, arguments, uninterrupted):
    backend = backends("restarting")
    received: dict[int, bytes] = {}
    with backend.client(timeout=60) as client:
        for event in client.submit(JOB, **arguments):
            if isinstance(event, Frame):
                assert event.index not in received
                received[event.index] = event.png
                if len(received) == 10:
                    backend.kill()
                    backend.args = ("--bind", backend.address)
                    backend.start()
    assert received == uninterrupted["frames"]


def test_sigterm_pauses_the_job_and_the_next_start_finishes_it(backends, arguments, uninterrupted):
    backend = backends("terminated")
    with backend.client() as client:
        for event in client.submit(JOB, **arguments):
            if isinstance(event, Frame) and event.index == 8:
                break
    assert backend.stop() == 0  # within Backend.stop's 20 s
    paused_at = journaled_frames(backend, JOB)
    assert paused_at < FRAMES
    with sqlite3.connect(backend.data / "journal.sqlite3") as db:
        assert db.execute("SELECT state FROM jobs WHERE job_id = ?", (JOB,)).fetchone()[0] == "running"

    backend.start()
    with backend.client() as client:
        finished = collect(client.attach(JOB))
    assert finished["frames"] == uninterrupted["frames"]


def test_tpc_submit_after_kill_9_fetches_only_the_missing_frames(backends, arguments, uninterrupted, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "reference.jpg").write_bytes(arguments["reference_image"])
    (inputs / "poses.json").write_text(json.dumps(arguments["poses"]))
    (inputs / "keypoints.json").write_text(json.dumps(arguments["reference_keypoints"]))
    (inputs / "mask.png").write_bytes(arguments["reference_mask"])
    out = tmp_path / "frames"
    backend = backends("cli")

    def submit(timeout: str) -> subprocess.Popen:
        return subprocess.Popen(
            [TPC, "submit", "--backend", backend.address, "--job-id", JOB, "--timeout", timeout, "--out", str(out),
             "--reference", str(inputs / "reference.jpg"), "--poses", str(inputs / "poses.json"),
             "--reference-keypoints", str(inputs / "keypoints.json"), "--reference-mask", str(inputs / "mask.png")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    first = submit("2")

    def ten_frames_written() -> bool:
        assert first.poll() is None, first.communicate()
        return len(list(out.glob("*.png"))) >= 10

    wait_until(ten_frames_written, 60, "tpc submit wrote fewer than 10 frames")
    backend.kill()
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 2
    assert stderr.strip().splitlines()[-1].startswith(f"tpc: error: no answer from the backend at {backend.address}")
    already = len(list(out.glob("0*.png")))
    assert 10 <= already < FRAMES

    backend.start()
    second = submit("20")
    _, stderr = second.communicate(timeout=120)
    assert second.returncode == 0, stderr
    assert f"{FRAMES - already} received now, {already} were already there" in stderr
    frames = sorted(out.glob("0*.png"))
    assert [p.name for p in frames] == [f"{i:05d}.png" for i in range(FRAMES)]
    assert {i: p.read_bytes() for i, p in enumerate(frames)} == uninterrupted["frames"]
    assert (out / "report.json").read_bytes() == uninterrupted["report"].report_json_bytes
    assert Path(out / ".tpc-job").read_text().strip() == JOB
