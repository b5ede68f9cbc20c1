"""The add-on's job worker without Blender: a real backend process, real sockets, real files.

:mod:`job_worker` and :mod:`job_messages` import no bpy, so they load here as parts of the add-on
package (see addon_without_blender.py), and a job is followed through its events exactly as the
add-on's timer would see them.
"""

from __future__ import annotations

import errno
import json
import queue
import socket
import time
from pathlib import Path

import pytest
from addon_without_blender import addon_module

from tests.support.backend import Backend
from tests.support.example_jobs import example_files, make_poses
from tests.support.waiting import wait_until

job_worker = addon_module("job_worker")
job_messages = addon_module("job_messages")


def _events(job, timeout: float = 120.0) -> list:
    """Every event of a job, up to and including the one that ends it."""
    events = []

    def ended() -> bool:
        try:
            events.append(job.events.get(timeout=0.1))
        except queue.Empty:
            return False
        return isinstance(events[-1], job_worker.JobFinished)

    wait_until(ended, timeout, lambda: f"the job did not end; events so far: {events}", interval=0.0)
    return events


def _job(tmp_path: Path, address: str, submission, timeout: float = 60.0, folder: Path | None = None):
    folder = folder or tmp_path / "out" / "take"
    job = job_worker.Job(
        scene_key=1, job_id=f"worker-{time.monotonic_ns()}", folder=str(folder) + "/", folder_path=folder,
        connection=job_worker.Connection(address, timeout), submission=submission,
    )  # fmt: skip
    job.connect()
    job.start()
    return job


def _submission(frames: int = 4) -> object:
    example = example_files()
    return job_worker.Submission(
        reference_image=example["reference_image"], settings={"engine": "preview"}, poses=make_poses(example, frames, size=96)
    )


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    server = Backend(tmp_path_factory.mktemp("worker-backend") / "data").start()
    yield server
    server.stop()


@pytest.mark.slow
def test_a_job_reports_acceptance_every_frame_in_order_and_done_and_keeps_its_files(backend, tmp_path):
    submission = _submission(frames=5)
    job = _job(tmp_path, backend.address, submission)
    events = _events(job)
    job.join(10)

    assert events[-1] == job_worker.JobFinished(job_worker.JobState.DONE, "")
    assert [event for event in events if isinstance(event, job_worker.JobAccepted)] == [job_worker.JobAccepted(5)]
    assert [event.index for event in events if isinstance(event, job_worker.FrameSaved)] == [0, 1, 2, 3, 4]
    accepted = next(i for i, event in enumerate(events) if isinstance(event, job_worker.JobAccepted))
    assert accepted < next(i for i, event in enumerate(events) if isinstance(event, job_worker.FrameSaved))
    folder = job.folder_path
    assert sorted(path.name for path in folder.glob("frame_*.png")) == [f"frame_{i:06d}.png" for i in range(5)]
    assert json.loads((folder / "poses.json").read_text()) == submission.poses, "what was sent is kept"
    assert (folder / "report.json").is_file() and (folder / "report.png").is_file()


@pytest.mark.slow
def test_a_folder_that_cannot_be_made_fails_with_a_sentence(backend, tmp_path):
    (tmp_path / "taken").write_text("a file where the output folder should be")
    job = _job(tmp_path, backend.address, _submission(frames=2), folder=tmp_path / "taken" / "take")
    finished = _events(job)[-1]
    assert finished.state is job_worker.JobState.FAILED
    assert finished.message.startswith(f"Cannot write frames to {tmp_path / 'taken' / 'take'}: ")
    assert finished.message.endswith("then press Re-attach to collect the remaining frames.") and "\n" not in finished.message


def test_an_unreachable_backend_fails_with_what_to_do_and_leaves_nothing(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    job = _job(tmp_path, f"tcp://127.0.0.1:{port}", _submission(frames=2), timeout=1.0)
    finished = _events(job, timeout=30)[-1]
    assert finished.state is job_worker.JobState.FAILED
    assert "tpc-backend serve" in finished.message and finished.message.endswith("Then press Animate.")
    assert not (tmp_path / "out").exists(), "a job the backend never accepted leaves no folder"


def test_the_job_states_are_the_identifiers_saved_in_blend_files():
    assert [state.value for state in job_worker.JobState] == ["NONE", "RUNNING", "DETACHED", "DONE", "CANCELLED", "FAILED"]
    assert job_worker.JobState("DONE").status == "Done" and job_worker.JobState.FAILED.status == "Stopped"


def test_error_sentences():
    folder = Path("/renders/take")
    assert job_messages.sentence(ValueError("no answer from the backend")) == "No answer from the backend."
    full = job_messages.disk_problem(folder, OSError(errno.ENOSPC, "No space left on device"))
    assert (
        full == f"Cannot write frames to {folder}: the disk is full. Free some space, then press Re-attach to collect the remaining frames."
    )
    assert job_messages.kept(folder, 0) == "" and job_messages.kept(folder, 3) == f"The frames that arrived are kept in {folder}."
    assert job_messages.backend_stopped("j1", RuntimeError("bad poses."), "") == "The backend stopped job j1: bad poses."
    assert job_messages.join("", " A. ", "", "B.") == "A. B."
