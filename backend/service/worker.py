"""Workers take journaled jobs from the scheduler and get their frames made; they know nothing about clients.

A local :class:`Worker` is a thread of the backend that renders in this process; on a Ray cluster a
thread of the same kind hands each job to a ``TpcWorker`` actor instead (ray_pool.py). Either way the
frames come back to a :class:`JobWriter`, the gateway's end of a running job: every frame is written
durably, journaled and only then announced to the ROUTER loop, so a frame a client has seen is never
lost, and a crash at any point (of the backend, or of the machine that rendered) resumes at the first
frame that is not on disk. The boundary is narrow on purpose: job id in; frame files, journal rows
and events out.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import zmq

from tpc_protocol.errors import ErrorCode
from tpc_protocol.limits import MAX_TEXT_CHARS

from ..engines.base import RenderSettings
from ..engines.registry import EngineRegistry
from ..engines.scratch import FolderScratch
from ..errors import UserError
from .data_folder import DataFolder
from .events import EventSender, FrameWritten, JobFinished, JobProgress
from .frame_cache import FrameCache
from .job_inputs import prepare_job
from .job_run import ProgressThrottle, render_frames
from .journal import DONE, FAILED, RUNNING, JobRecord, Journal
from .scheduler import RunHandle, Scheduler, WorkerPlace

log = logging.getLogger("tpc_backend.service")


class WorkerLost(Exception):
    """The process or machine rendering a job went away mid-job; the job can go on elsewhere."""


class JobWriter:
    """The gateway's end of one run of a job: frames and report on disk and in the journal, news to the loop."""

    def __init__(self, journal: Journal, data: DataFolder, frames: FrameCache, events: EventSender, record: JobRecord) -> None:
        self._journal = journal
        self._frames = frames
        self._events = events
        self.job_id = record.job_id
        self.total = record.total
        self.folder = data.job(self.job_id)
        self.scratch = FolderScratch(self.folder.scratch)
        self.start = journal.frames_done(self.job_id)  # the first frame not on disk
        self.expected = self.start
        self.progress = ProgressThrottle(self.send_progress)
        if self.start:
            log.info("job %s resumes at frame %d of %d", self.job_id, self.start, self.total)

    def send_progress(self, fraction: float, message: str) -> None:
        self._events.send(JobProgress(self.job_id, fraction, message))

    def frame(self, index: int, png: bytes) -> None:
        if index != self.expected:  # exactly once, in order: anything else is a bug worth stopping on
            raise RuntimeError(f"frame {index} of job {self.job_id} arrived while frame {self.expected} was due")
        self.folder.write_frame(index, png)
        self._journal.add_frame(self.job_id, index, len(png))
        self._frames.put(self.job_id, index, png)
        self._events.send(FrameWritten(self.job_id, index))
        self.expected += 1

    def finish(self, report_json: bytes, report_png: bytes) -> None:
        """Every frame is on disk: the report, the journal's DONE, and no scratch left to resume from."""
        self.folder.write_report(report_json, report_png)
        self._frames.put_report(self.job_id, report_json, report_png)
        if self._journal.set_state(self.job_id, DONE, only_from=(RUNNING,)):
            log.info("job %s done: %d frames", self.job_id, self.expected)
        self.scratch.clear()
        self.progress(1.0, "done", force=True)

    def stopped(self, handle: RunHandle) -> None:
        """The render stopped early because ``handle`` was cancelled or the backend is stopping."""
        state = "paused" if handle.stopping else "cancelled"
        log.info("job %s %s after frame %d of %d", self.job_id, state, self.expected, self.total)


class WorkerThread(threading.Thread):
    """One worker's loop: wait until it can render, take the next job in submission order, render it,
    let go of it and tell the ROUTER loop. Subclasses say where they render (:meth:`_render`)."""

    def __init__(
        self, name: str, context: zmq.Context, journal: Journal, data: DataFolder, scheduler: Scheduler, frames: FrameCache
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._context = context
        self._journal = journal
        self._data = data
        self._scheduler = scheduler
        self._frames = frames

    def run(self) -> None:
        events = EventSender(self._context)
        try:
            while (place := self._ready()) is not None and (handle := self._scheduler.next_job(place)) is not None:
                try:
                    self._run(handle, place, events)
                finally:
                    self._scheduler.finished(handle)
                    events.send(JobFinished(handle.job_id))
        finally:
            events.close()

    def _ready(self) -> WorkerPlace | None:
        """Where the next job will run, once this worker can take one (None: never again)."""
        return WorkerPlace(self.name)

    def _run(self, handle: RunHandle, place: WorkerPlace, events: EventSender) -> None:
        """Render the job; a failure ends it as failed, with its sentence."""
        record = self._journal.job(handle.job_id)
        if record is None:
            return
        try:
            self._render(handle, record, events)
        except UserError as error:
            log.info("job %s failed: %s", handle.job_id, error)
            self._journal.set_state(handle.job_id, FAILED, only_from=(RUNNING,), error=(error.code, str(error)))
        except WorkerLost:
            raise
        except Exception as error:
            log.exception("job %s failed in the %s engine", handle.job_id, record.engine)
            message = f"the {record.engine} engine failed ({type(error).__name__}: {error}); the backend's log has the details"
            failure = (ErrorCode.INTERNAL, message[:MAX_TEXT_CHARS])
            self._journal.set_state(handle.job_id, FAILED, only_from=(RUNNING,), error=failure)

    def _render(self, handle: RunHandle, record: JobRecord, events: EventSender) -> None:
        """Get the job's frames made into a :class:`JobWriter`; raise :class:`WorkerLost` if the
        renderer went away (the job is not at fault)."""
        raise NotImplementedError


class Worker(WorkerThread):
    """Renders jobs one at a time in this process."""

    def __init__(self, name: str, engines: EngineRegistry, **parts: Any) -> None:
        super().__init__(name, **parts)
        self._engines = engines

    def _render(self, handle: RunHandle, record: JobRecord, events: EventSender) -> None:
        settings = RenderSettings(**record.settings)
        writer = JobWriter(self._journal, self._data, self._frames, events, record)
        writer.progress(0.0, "preparing the inputs")
        job = prepare_job(handle.job_id, writer.folder, settings, writer.scratch)
        writer.progress(0.0, f"loading the {settings.engine} engine")
        engine = self._engines.get(settings.engine)
        report = render_frames(job, engine, writer.start, writer, handle.cancelled, writer.progress)
        if report is None:
            writer.stopped(handle)
        else:
            writer.finish(*report)
