"""Deleting finished jobs frees their files and their ids; active jobs, followers and restarts stay safe."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest

from tests.support.backend import BACKEND
from tests.support.example_jobs import collect, job
from tests.support.waiting import wait_until
from tpc_protocol import codec
from tpc_protocol.client import JobFailed
from tpc_protocol.limits import WINDOW_FRAMES
from tpc_protocol.messages import Attach, Delete, Done, Frame, Frames, JobError


def journal_rows(backend, job_id: str) -> tuple[int, int]:
    with sqlite3.connect(backend.data / "journal.sqlite3") as db:
        jobs = db.execute("SELECT COUNT(*) FROM jobs WHERE job_id = ?", (job_id,)).fetchone()[0]
        frames = db.execute("SELECT COUNT(*) FROM frames WHERE job_id = ?", (job_id,)).fetchone()[0]
    return jobs, frames


def test_deleting_a_finished_job_frees_its_files_and_its_id(shared_backend, example):
    folder = shared_backend.data / "jobs" / "old-shot"
    with shared_backend.client() as client:
        collect(client.submit("old-shot", **job(example, frames=6)))
        on_disk = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
        result = client.delete("old-shot")
        assert result["job"]["state"] == "done" and result["job"]["done"] == 6
        assert result["freed_bytes"] == on_disk
        assert not folder.exists() and not any((shared_backend.data / "trash").iterdir())
        assert journal_rows(shared_backend, "old-shot") == (0, 0)
        with pytest.raises(JobFailed, match="this backend has no job old-shot") as unknown:
            client.status("old-shot")
        assert unknown.value.code == "unknown_job"
        with pytest.raises(JobFailed, match="this backend has no job old-shot"):
            client.delete("old-shot")
        # The id is free: other inputs under it make a new job (before, they were a conflict).
        again = collect(client.submit("old-shot", **job(example, frames=4, shift=5.0)))
    assert again["done"] and sorted(again["frames"]) == [0, 1, 2, 3]
    assert "job old-shot deleted: 6 frames" in shared_backend.log()


def test_a_queued_or_running_job_is_deleted_only_once_cancelled(shared_backend, example):
    with shared_backend.client() as client:
        events = client.submit("busy-shot", **job(example, frames=240, size=256))
        next(event for event in events if isinstance(event, Frame))
        with pytest.raises(JobFailed, match="job busy-shot is running; cancel it first") as refused:
            client.delete("busy-shot")
        assert refused.value.code == "job_active"
        assert client.status("busy-shot")["state"] == "running"
        client.cancel("busy-shot")

        def deleted() -> dict | None:
            try:
                return client.delete("busy-shot")
            except JobFailed as error:  # the worker may still be finishing the frame it was on
                assert error.code == "job_active" and "still stopping" in str(error), error
                return None

        result = wait_until(deleted, 60, "the cancelled job never became deletable", interval=0.05)
        with pytest.raises(JobFailed) as ended:
            collect(events)
    assert ended.value.code in ("cancelled", "deleted")
    assert result["job"]["state"] == "cancelled" and 1 <= result["job"]["done"] < 240
    assert not (shared_backend.data / "jobs" / "busy-shot").exists()


def test_a_stream_following_a_deleted_job_ends_with_an_error(shared_backend, peer, example):
    total = WINDOW_FRAMES + 40
    with shared_backend.client() as client:
        collect(client.submit("followed-shot", **job(example, frames=total, size=64)))
    peer.send(codec.encode(Attach("followed-shot"), 1))
    received = 0
    while received < WINDOW_FRAMES:  # a reader that never acknowledges: the backend stops at its window
        message = peer.reply().message
        if isinstance(message, Frames):
            received += len(message.pngs)
    peer.send(codec.encode(Delete("followed-shot"), 2))
    answers: dict[int, Done | JobError] = {}
    while len(answers) < 2:
        envelope = peer.reply()
        if isinstance(envelope.message, (Done, JobError)):
            answers[envelope.req] = envelope.message
    assert isinstance(answers[2], Done) and answers[2].result["job"]["done"] == total
    assert isinstance(answers[1], JobError) and answers[1].code == "deleted", answers[1]
    assert answers[1].message == "job followed-shot was deleted on the backend"


def test_the_next_start_removes_files_no_journaled_job_owns(backends, example):
    backend = backends("sweep")
    with backend.client() as client:
        collect(client.submit("kept-shot", **job(example, frames=2)))
    assert backend.stop() == 0
    orphan = backend.data / "jobs" / "never-journaled" / "input"
    orphan.mkdir(parents=True)
    (orphan / "inputs.msgpack").write_bytes(bytes(1000))  # a crash between storing a submit and journaling it
    cut_short = backend.data / "trash" / "deleted-shot.0123" / "frames"
    cut_short.mkdir(parents=True)
    (cut_short / "00000.png").write_bytes(bytes(500))  # a crash while a deleted job's files were removed

    backend.start()
    with backend.client() as client:
        assert client.status("kept-shot")["state"] == "done"
    assert sorted(path.name for path in (backend.data / "jobs").iterdir()) == ["kept-shot"]
    assert not (backend.data / "trash").exists()
    assert "removed 2 folder(s), 1500 bytes, that no journaled job owns" in backend.log()


def test_keep_days_deletes_finished_jobs_once_they_are_that_old(backends, example):
    backend = backends("expiring", "--keep-days", str(2.0 / 86400))  # two seconds
    with backend.client() as client:
        collect(client.submit("short-lived", **job(example, frames=2)))

        def gone() -> bool:
            try:
                client.status("short-lived")
            except JobFailed as error:
                assert error.code == "unknown_job", error
                return True
            return False

        wait_until(gone, 60, lambda: f"the expired job was never deleted:\n{backend.log()}", interval=0.2)
    assert not (backend.data / "jobs" / "short-lived").exists()
    assert "job short-lived deleted (older than --keep-days): 2 frames" in backend.log()


@pytest.mark.parametrize("days", ["0", "-1", "nan"])
def test_keep_days_must_be_a_positive_number(days, tmp_path):
    result = subprocess.run(
        [BACKEND, "serve", "--bind", "tcp://127.0.0.1:0", "--data", str(tmp_path / "data"), "--keep-days", days],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"tpc-backend: error: --keep-days must be a positive number of days, got {float(days)}"]
