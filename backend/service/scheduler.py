"""Which job runs next, and the cancel and stop signals a running job polls.

One place decides a job's state transitions between queued, running and cancelled, under one lock,
and journals each before anyone is told: a cancel is on disk before the client hears it was
accepted, so a crash right after cannot bring the job back. Jobs run in submission order.

Two signals reach a running engine through ``cancelled()``: a cancel (the job ends as cancelled)
and a stop (SIGTERM: the job stays running in the journal and resumes at the next start). A job
whose worker was lost (a Ray worker's process or node died) goes back to the head of the queue.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from tpc_protocol.errors import ErrorCode

from ..errors import UserError
from .journal import CANCELLED, QUEUED, RUNNING, UNFINISHED, JobRecord, Journal


def unknown_job(job_id: str) -> UserError:
    return UserError(f"this backend has no job {job_id}; check the job id (tpc status lists the jobs)", ErrorCode.UNKNOWN_JOB)


def check_deletable(record: JobRecord) -> None:
    """Refuse (UserError ``job_active``) to delete a job that is queued or running."""
    if not record.finished:
        job_id = record.job_id
        raise UserError(f"job {job_id} is {record.state}; cancel it first (tpc cancel {job_id}), then delete it", ErrorCode.JOB_ACTIVE)


@dataclass(frozen=True)
class WorkerPlace:
    """Which worker runs a job, and where: ``tpc status`` shows it."""

    name: str
    node: str | None = None  # a Ray node's id (None: the backend process itself)
    address: str | None = None  # the node's IP address
    pid: int | None = None  # the worker's process (None: a thread of the backend)

    def to_status(self) -> dict:
        return {"name": self.name, "node": self.node, "address": self.address, "pid": self.pid}


class RunHandle:
    """What a worker holds while it runs a job."""

    def __init__(self, job_id: str, stopping: threading.Event, worker: WorkerPlace) -> None:
        self.job_id = job_id
        self.worker = worker
        self.cancel_requested = threading.Event()
        self._stopping = stopping

    def cancelled(self) -> bool:
        """Should the engine stop now? (cancelled, or the backend is shutting down)"""
        return self.cancel_requested.is_set() or self._stopping.is_set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()


class Scheduler:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._queue: deque[str] = deque()
        self._running: dict[str, RunHandle] = {}
        self._changed = threading.Condition()
        self._stopping = threading.Event()

    def enqueue(self, job_id: str) -> None:
        """Queue a journaled job, or resume one that was cancelled, failed or interrupted."""
        with self._changed:
            handle = self._running.get(job_id)
            if handle is not None:  # cancelled but not yet stopped: let it go on
                handle.cancel_requested.clear()
                self.journal.set_state(job_id, RUNNING)
            elif job_id not in self._queue:
                self.journal.set_state(job_id, QUEUED)
                self._queue.append(job_id)
                self._changed.notify()

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when it had already finished."""
        with self._changed:
            moved = self.journal.set_state(job_id, CANCELLED, only_from=UNFINISHED)
            if job_id in self._queue:
                self._queue.remove(job_id)
            handle = self._running.get(job_id)
            if handle is not None:
                handle.cancel_requested.set()
            return moved

    def forget(self, job_id: str) -> JobRecord:
        """Remove a finished job from the journal and return its last record; refused (UserError
        ``job_active``) while the job is queued or running, or a worker is still stopping it."""
        with self._changed:
            record = self.journal.job(job_id)
            if record is None:
                raise unknown_job(job_id)
            check_deletable(record)
            if job_id in self._running:
                raise UserError(f"job {job_id} is still stopping after its cancel; delete it again in a moment", ErrorCode.JOB_ACTIVE)
            self.journal.delete(job_id)
            return record

    def queue_position(self, job_id: str) -> int | None:
        """How many jobs run or wait before this queued one (None when it is not queued)."""
        with self._changed:
            if job_id not in self._queue:
                return None
            return self._queue.index(job_id) + len(self._running)

    def worker_of(self, job_id: str) -> WorkerPlace | None:
        """The worker running this job (None when it does not run)."""
        with self._changed:
            handle = self._running.get(job_id)
            return None if handle is None else handle.worker

    def next_job(self, worker: WorkerPlace) -> RunHandle | None:
        """Block until a job is due (marking it running on ``worker``), or return None once stopping."""
        with self._changed:
            while not self._queue and not self._stopping.is_set():
                self._changed.wait()
            if self._stopping.is_set():
                return None
            job_id = self._queue.popleft()
            handle = RunHandle(job_id, self._stopping, worker)
            self._running[job_id] = handle
            self.journal.set_state(job_id, RUNNING)
            return handle

    def requeue(self, handle: RunHandle) -> bool:
        """Its worker was lost: the job waits again, at the head of the queue. False (and
        nothing changes) when it was cancelled meanwhile or the backend is stopping."""
        with self._changed:
            if self._running.get(handle.job_id) is handle:
                del self._running[handle.job_id]
            if handle.cancelled() or not self.journal.set_state(handle.job_id, QUEUED, only_from=(RUNNING,)):
                return False
            self._queue.appendleft(handle.job_id)
            self._changed.notify()
            return True

    def finished(self, handle: RunHandle) -> None:
        with self._changed:
            if self._running.get(handle.job_id) is handle:  # not a handle of the job's next run elsewhere
                del self._running[handle.job_id]

    def wait_stopping(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a stop; True once stopping."""
        return self._stopping.wait(timeout)

    def stop(self) -> None:
        """Shutting down: running jobs stop after their current frame or step, queued ones stay queued."""
        with self._changed:
            self._stopping.set()
            self._changed.notify_all()
