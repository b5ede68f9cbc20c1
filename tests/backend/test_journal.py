"""The journal on a real SQLite file: states, frames, and what survives closing and reopening."""

from __future__ import annotations

import sqlite3

from tpc_backend.service.journal import CANCELLED, DONE, QUEUED, RUNNING, UNFINISHED, Journal


def test_jobs_and_frames_survive_reopening(tmp_path):
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    journal.insert("a", "preview", {"seed": 1}, "digest-a", 3)
    journal.insert("b", "preview", {}, "digest-b", 2)
    assert journal.set_state("a", RUNNING)
    journal.add_frame("a", 0, 100)
    journal.add_frame("a", 1, 120)
    journal.close()

    again = Journal(path)
    record = again.job("a")
    assert (record.state, record.done, record.total, record.settings, record.digest) == (RUNNING, 2, 3, {"seed": 1}, "digest-a")
    assert again.unfinished() == ["a", "b"]
    assert [r.job_id for r in again.jobs(10)] == ["b", "a"]
    assert again.job("missing") is None
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_state_moves_only_from_the_states_named(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.insert("a", "preview", {}, "d", 1)
    assert journal.set_state("a", CANCELLED, only_from=UNFINISHED)
    assert not journal.set_state("a", DONE, only_from=(RUNNING,))  # a cancel is not overwritten by a late finish
    assert journal.job("a").state == CANCELLED
    assert journal.set_state("a", QUEUED)
    assert journal.set_state("a", "failed", error=("bad_input", "the poses are wrong"))
    failed = journal.job("a")
    assert failed.to_status()["error"] == {"code": "bad_input", "message": "the poses are wrong"}
    assert journal.set_state("a", QUEUED) and journal.job("a").error_code is None


def test_reads_see_the_last_commit_while_another_thread_writes(tmp_path):
    """The ROUTER loop reads while workers write: a write in progress (here held open in another
    thread, as a commit waiting for its fsync is) neither blocks a read nor shows through half done."""
    import threading

    journal = Journal(tmp_path / "journal.sqlite3")
    journal.insert("a", "preview", {}, "d", 3)
    journal.add_frame("a", 0, 10)
    writing, release = threading.Event(), threading.Event()

    def slow_write() -> None:
        with journal._lock:  # the writers' connection, as add_frame holds it
            journal._db.execute("BEGIN IMMEDIATE")
            journal._db.execute("INSERT INTO frames (job_id, idx, size) VALUES ('a', 1, 10)")
            writing.set()
            release.wait(10)
            journal._db.execute("COMMIT")

    writer = threading.Thread(target=slow_write)
    writer.start()
    assert writing.wait(10)
    try:
        assert journal.job("a").done == 1 and journal.frames_done("a") == 1 and journal.unfinished() == ["a"]
    finally:
        release.set()
        writer.join(10)
    assert journal.job("a").done == 2
    journal.close()
