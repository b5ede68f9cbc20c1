"""A worker takes a journaled job and produces its frames; it knows nothing about clients.

For each job it prepares the inputs, picks up where the journal says the job stopped, and hands the
rest to the engine. Every frame the engine emits is encoded, written durably, journaled and only
then announced to the ROUTER loop, so a frame a client has seen is never lost, and a crash at any
point resumes at the first frame that is not on disk. The calibration report is built alongside
from each frame's fits (those the engine's calibration found, or a search without warping), with
full calibrations only for the few frames its picture shows; on resume the earlier frames' fits are
found again, so the report is always complete and identical to an uninterrupted run's.

This narrow boundary (job id in; frame files, journal rows and events out) is what a remote worker
will implement when rendering scales out to other machines.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import threading
import time
from functools import partial

import numpy as np
import zmq

from tpc.image_io import encode_png
from tpc.report import CalibrationReport
from tpc_protocol.errors import INTERNAL
from tpc_protocol.limits import MAX_TEXT_CHARS

from ..engines.base import PreparedJob, RenderSettings
from ..engines.registry import EngineRegistry
from ..errors import UserError
from .data_folder import DataFolder
from .events import EventSender
from .frame_cache import FrameCache
from .job_inputs import prepare_job
from .journal import DONE, FAILED, RUNNING, Journal
from .scheduler import RunHandle, Scheduler

log = logging.getLogger("tpc_backend.service")

PROGRESS_INTERVAL = 0.1  # seconds between progress events of one job


class Worker(threading.Thread):
    def __init__(
        self,
        context: zmq.Context,
        journal: Journal,
        data: DataFolder,
        scheduler: Scheduler,
        engines: EngineRegistry,
        frames: FrameCache,
        name: str = "tpc-worker",
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._context = context
        self._journal = journal
        self._data = data
        self._scheduler = scheduler
        self._engines = engines
        self._frames = frames

    def run(self) -> None:
        events = EventSender(self._context)
        try:
            while (handle := self._scheduler.next_job()) is not None:
                try:
                    self._run(handle, events)
                finally:
                    self._scheduler.finished(handle)
                    events.finished(handle.job_id)
        finally:
            events.close()

    def _run(self, handle: RunHandle, events: EventSender) -> None:
        record = self._journal.job(handle.job_id)
        if record is None:
            return
        try:
            self._render(handle, RenderSettings(**record.settings), events)
        except UserError as error:
            log.info("job %s failed: %s", handle.job_id, error)
            self._journal.set_state(handle.job_id, FAILED, only_from=(RUNNING,), error=(error.code, str(error)))
        except Exception as error:
            log.exception("job %s failed in the %s engine", handle.job_id, record.engine)
            message = f"the {record.engine} engine failed ({type(error).__name__}: {error}); the backend's log has the details"
            self._journal.set_state(handle.job_id, FAILED, only_from=(RUNNING,), error=(INTERNAL, message[:MAX_TEXT_CHARS]))

    def _render(self, handle: RunHandle, settings: RenderSettings, events: EventSender) -> None:
        job_id = handle.job_id
        progress = _ProgressSender(events, job_id)
        progress(0.0, "preparing the inputs")
        folder = self._data.job(job_id)
        job = prepare_job(job_id, folder, settings)
        progress(0.0, f"loading the {settings.engine} engine")
        engine = self._engines.get(settings.engine)
        total = len(job)
        start = self._journal.frames_done(job_id)
        report = CalibrationReport(
            job.reference_image,
            job.reference_people,
            job.poses.size,
            total,
            job.calibration_config,
            hands_face=job.poses.hands_face_of,
        )
        for index in range(start):  # the report entries of frames finished before an interruption
            if handle.cancelled():
                return
            add_to_report(report, job, index)
        if start:
            log.info("job %s resumes at frame %d of %d", job_id, start, total)
        expected = start

        def emit(index: int, rgb: np.ndarray) -> None:
            nonlocal expected
            if index != expected:
                raise RuntimeError(f"the engine emitted frame {index} while frame {expected} was due")
            width, height = job.size
            if rgb.dtype != np.uint8 or rgb.shape != (height, width, 3):
                raise RuntimeError(f"the engine emitted a {rgb.shape} {rgb.dtype} frame; ({height}, {width}, 3) uint8 was due")
            png = encode_png(rgb)
            folder.write_frame(index, png)
            self._journal.add_frame(job_id, index, len(png))
            self._frames.put(job_id, index, png)
            events.frame(job_id, index)
            add_to_report(report, job, index)
            expected += 1

        engine.render(job, start, emit, handle.cancelled, progress)
        if expected < total:
            if handle.cancelled():
                log.info("job %s %s after frame %d of %d", job_id, "paused" if handle.stopping else "cancelled", expected, total)
                return
            raise RuntimeError(f"the engine returned after frame {expected} of {total} without being cancelled")
        report_json, report_png = json.dumps(report.to_json(), indent=1).encode(), encode_png(report.render(), compression=6)
        folder.write_report(report_json, report_png)
        self._frames.put_report(job_id, report_json, report_png)
        if self._journal.set_state(job_id, DONE, only_from=(RUNNING,)):
            log.info("job %s done: %d frames", job_id, total)
        shutil.rmtree(folder.scratch, ignore_errors=True)  # every frame is on disk: nothing left to resume
        progress(1.0, "done", force=True)


def add_to_report(report: CalibrationReport, job: PreparedJob, index: int) -> None:
    """Frame ``index``'s report entry: its fits (kept from the engine's calibration, or found without
    warping), and a full calibration only if the report's picture shows the frame."""
    report.add_fits(index, job.fits(index), job.poses.frames[index], partial(job.calibration, index))


class _ProgressSender:
    """The engine's progress callback: clamped, shortened and sent at most every PROGRESS_INTERVAL."""

    def __init__(self, events: EventSender, job_id: str) -> None:
        self._events = events
        self._job_id = job_id
        self._last = -math.inf

    def __call__(self, fraction: float, message: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        fraction = min(1.0, max(0.0, float(fraction))) if math.isfinite(fraction) else 0.0
        self._events.progress(self._job_id, fraction, str(message)[:MAX_TEXT_CHARS])
