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
