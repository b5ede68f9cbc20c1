"""Admitting submitted jobs and deleting finished ones, off the ROUTER loop; then tell the loop.

Decoding a photo and a few thousand target masks takes long enough to stall every other client, so
submits queue here, on one thread, which also makes "does this job id exist?" and "create it" one
step with no race between two clients submitting the same id. Deletes queue here too (removing
thousands of frame files takes a while), so a submit and a delete of one id always happen one after
the other, never interleaved.

A job id that exists with the same inputs and settings (same digest) is attached to, not computed
again; a cancelled or failed one is resumed. The same id with other inputs is refused: frames of two
different jobs must never mix under one id.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import asdict

import zmq

from tpc_protocol.errors import ErrorCode
from tpc_protocol.messages import Delete, Submit

from ..engines.registry import EngineRegistry
from ..errors import UserError
from .data_folder import DataFolder
from .events import EventSender, JobDeleted, RequestRefused, SubmitAdmitted
from .job_inputs import JobInputs, check_inputs, perception_available, render_settings
from .journal import CANCELLED, FAILED, Journal
from .scheduler import Scheduler

log = logging.getLogger("tpc_backend.service")


class Intake(threading.Thread):
    def __init__(
        self,
        context: zmq.Context,
        journal: Journal,
        data: DataFolder,
        scheduler: Scheduler,
        engines: EngineRegistry,
        default_engine: str,
    ) -> None:
        super().__init__(name="tpc-intake", daemon=True)
        self._context = context
        self._journal = journal
        self._data = data
        self._scheduler = scheduler
        self._engines = engines
        self._default_engine = default_engine
        self._queue: queue.Queue[tuple[bytes | None, int | None, Submit | Delete] | None] = queue.Queue()

    def put(self, identity: bytes | None, req: int | None, request: Submit | Delete) -> None:
        """Queue a request; a Delete with no ``identity`` comes from the backend itself (--keep-days)."""
        self._queue.put((identity, req, request))

    def stop(self) -> None:
        self._queue.put(None)

    def run(self) -> None:
        events = EventSender(self._context)
        try:
            while (item := self._queue.get()) is not None:
                identity, req, request = item
                deleting = isinstance(request, Delete)
                try:
                    if deleting:
                        status, freed = self._remove(request.job_id, expired=identity is None)
                    else:
                        self._admit(request)
                except UserError as error:
                    events.send(RequestRefused(identity, req, request.job_id, error.code, str(error)))
                except Exception as error:  # a bug: keep serving, tell the client, keep the traceback
                    log.exception("%s job %s failed", "deleting" if deleting else "admitting", request.job_id)
                    sentence = (
                        f"the backend failed to {'delete' if deleting else 'accept'} the job ({type(error).__name__}); "
                        "its log has the details"
                    )
                    events.send(RequestRefused(identity, req, request.job_id, ErrorCode.INTERNAL, sentence))
                else:
                    if deleting:
                        events.send(JobDeleted(identity, req, request.job_id, status, freed))
                    else:
                        events.send(SubmitAdmitted(identity, req, request.job_id, request.start_frame))
        finally:
            events.close()

    def _admit(self, submit: Submit) -> None:
        settings = render_settings(submit.settings, self._default_engine)
        self._engines.check(settings.engine)
        inputs = JobInputs.from_submit(submit)
        digest = inputs.digest(settings)
        existing = self._journal.job(submit.job_id)
        if existing is not None:
            if existing.digest != digest:
                raise UserError(
                    f"job {submit.job_id} already exists with other inputs or settings; "
                    "submit under a new job id, or attach to the existing job",
                    ErrorCode.JOB_CONFLICT,
                )
            _check_start(submit, existing.total)
            if existing.state in (CANCELLED, FAILED):
                log.info("job %s resubmitted: resuming from frame %d of %d", submit.job_id, existing.done, existing.total)
                self._scheduler.enqueue(submit.job_id)
            return
        poses = check_inputs(inputs, perception_available())
        _check_start(submit, len(poses))
        inputs.write(self._data.job(submit.job_id))
        self._journal.insert(submit.job_id, settings.engine, asdict(settings), digest, len(poses))
        log.info("job %s accepted: %d frames, engine %s", submit.job_id, len(poses), settings.engine)
        self._scheduler.enqueue(submit.job_id)

    def _remove(self, job_id: str, expired: bool) -> tuple[dict, int]:
        """Journal first, files after: once the journal forgets the job nothing reads its folder, and
        a crash before the files are gone leaves an orphan folder the next start sweeps away."""
        record = self._scheduler.forget(job_id)
        freed = self._data.remove_job(job_id)
        why = " (older than --keep-days)" if expired else ""
        log.info("job %s deleted%s: %d frames, %.1f MB freed", job_id, why, record.done, freed / 1e6)
        return record.to_status(), freed


def _check_start(submit: Submit, total: int) -> None:
    if submit.start_frame > total:
        raise UserError(f"start frame {submit.start_frame} is past the end of job {submit.job_id} ({total} frames)")
