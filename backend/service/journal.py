"""The durable record of jobs and their finished frames, in SQLite (WAL, synchronous FULL).

A job is journaled before the client hears it was accepted, and a frame after its file is in place,
so after a crash or a kill the journal says exactly what exists: unfinished jobs resume from their
first missing frame and nothing acknowledged is lost. Frames of a job are journaled in order, so
their count is also the index of the first missing one.

Writers share one connection behind a lock (SQLite would serialise them anyway). Each thread reads
through a connection of its own: in WAL mode a reader sees the last committed state without waiting
for a writer, so the ROUTER loop's lookups never stall behind a worker's commit and its fsync.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
STATES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
UNFINISHED = (QUEUED, RUNNING)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    engine TEXT NOT NULL,
    settings TEXT NOT NULL,
    digest TEXT NOT NULL,
    total INTEGER NOT NULL,
    error_code TEXT,
    error_message TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS frames (
    job_id TEXT NOT NULL REFERENCES jobs (job_id),
    idx INTEGER NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created);
"""
_COLUMNS = "job_id, state, engine, settings, digest, total, error_code, error_message, created, updated"


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    state: str
    engine: str
    settings: dict
    digest: str
    total: int
    done: int
    error_code: str | None
    error_message: str | None
    created: float
    updated: float

    @property
    def finished(self) -> bool:
        return self.state not in UNFINISHED

    def to_status(self) -> dict:
        """What ``status`` replies carry for this job."""
        return {
            "job_id": self.job_id,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "engine": self.engine,
            "settings": self.settings,
            "created": self.created,
            "updated": self.updated,
            "error": None if self.error_code is None else {"code": self.error_code, "message": self.error_message},
        }


class Journal:
    """Jobs and frames of one data folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript(_SCHEMA)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()
        with self._readers_lock:
            for reader in self._readers:
                reader.close()

    def _read(self, sql: str, parameters: Iterable = ()) -> list[tuple]:
        """Rows of a query, through this thread's own connection (never waits for a writer)."""
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self._local.reader = reader
            with self._readers_lock:  # not the writers' lock: a first read must not wait for a commit either
                self._readers.append(reader)
        return reader.execute(sql, tuple(parameters)).fetchall()

    # -- reading --------------------------------------------------------------------------------------
    def job(self, job_id: str) -> JobRecord | None:
        rows = self._records("WHERE job_id = ?", (job_id,))
        return rows[0] if rows else None

    def jobs(self, limit: int) -> list[JobRecord]:
        """The newest ``limit`` jobs, newest first."""
        return self._records("ORDER BY created DESC LIMIT ?", (limit,))

    def unfinished(self) -> list[str]:
        """Ids of queued or running jobs, oldest first: what a restart resumes."""
        rows = self._read("SELECT job_id FROM jobs WHERE state IN (?, ?) ORDER BY created", UNFINISHED)
        return [row[0] for row in rows]

    def job_ids(self) -> set[str]:
        return {row[0] for row in self._read("SELECT job_id FROM jobs")}

    def finished_before(self, when: float, limit: int) -> list[str]:
        """Ids of finished jobs last changed before ``when`` (seconds since the epoch), oldest first."""
        rows = self._read(
            "SELECT job_id FROM jobs WHERE state NOT IN (?, ?) AND updated < ? ORDER BY updated LIMIT ?", (*UNFINISHED, when, limit)
        )
        return [row[0] for row in rows]

    def frames_done(self, job_id: str) -> int:
        return self._read("SELECT COUNT(*) FROM frames WHERE job_id = ?", (job_id,))[0][0]

    def _records(self, clause: str, parameters: Iterable) -> list[JobRecord]:
        rows = self._read(f"SELECT {_COLUMNS}, (SELECT COUNT(*) FROM frames f WHERE f.job_id = jobs.job_id) FROM jobs {clause}", parameters)
        return [
            JobRecord(
                job_id=r[0],
                state=r[1],
                engine=r[2],
                settings=json.loads(r[3]),
                digest=r[4],
                total=r[5],
                error_code=r[6],
                error_message=r[7],
                created=r[8],
                updated=r[9],
                done=r[10],
            )
            for r in rows
        ]

    # -- writing --------------------------------------------------------------------------------------
    def insert(self, job_id: str, engine: str, settings: dict, digest: str, total: int) -> None:
        """Record a new queued job (its input files must already be in place)."""
        now = time.time()
        with self._lock:
            self._db.execute(
                f"INSERT INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)",
                (job_id, QUEUED, engine, json.dumps(settings, sort_keys=True), digest, total, now, now),
            )

    def set_state(
        self,
        job_id: str,
        state: str,
        *,
        only_from: tuple[str, ...] = STATES,
        error: tuple[str, str] | None = None,
    ) -> bool:
        """Move a job to ``state`` if it is in one of ``only_from``; True when it moved."""
        code, message = error if error is not None else (None, None)
        with self._lock:
            cursor = self._db.execute(
                f"UPDATE jobs SET state = ?, error_code = ?, error_message = ?, updated = ? "
                f"WHERE job_id = ? AND state IN ({', '.join('?' * len(only_from))})",
                (state, code, message, time.time(), job_id, *only_from),
            )
            return cursor.rowcount == 1

    def add_frame(self, job_id: str, index: int, size: int) -> None:
        """Record a finished frame whose file is already in place."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT OR REPLACE INTO frames (job_id, idx, size) VALUES (?, ?, ?)", (job_id, index, size))
                self._db.execute("UPDATE jobs SET updated = ? WHERE job_id = ?", (time.time(), job_id))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def delete(self, job_id: str) -> None:
        """Forget a job and its frames in one transaction (its files go after: see DataFolder.remove_job)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM frames WHERE job_id = ?", (job_id,))
                self._db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
