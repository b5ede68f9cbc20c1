"""The backend service: one ROUTER loop that talks to clients, while threads do the work.

Patterns from the zguide, written for this service: an asynchronous ROUTER/DEALER server; heartbeats
both ways on quiet streams (Paranoid Pirate); journal before acknowledging (Titanic); credit-based
flow control for frames (FileMQ, in streams.py). The loop is single-threaded and never waits on work:
submits are checked and journaled by the intake thread, frames made by worker threads, and both
report back over an inproc socket (events.py). This module routes requests and runs the service's
life cycle; what each client following a job receives, and when, is streams.py's.

Sends never block: a client whose queue is full waits for the next tick, and one that is gone is
forgotten (ROUTER_MANDATORY) while its job goes on; it can come back, and a heartbeat naming a job
and a frame the backend does not stream (after a restart, or once the stream expired) resumes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from tpc import __version__
from tpc.files import write_atomic
from tpc_protocol import codec
from tpc_protocol.errors import ErrorCode, MessageError
from tpc_protocol.limits import DEFAULT_ADDRESS, HEARTBEAT_INTERVAL, MAX_STATUS_JOBS, MAX_TEXT_CHARS
from tpc_protocol.messages import Attach, Cancel, Delete, Done, Heartbeat, Hello, JobError, Status, Submit
from tpc_protocol.transport import apply_limits, receive, send
from tpc_protocol.version import PROTOCOL_VERSION

from ..engines.registry import DEFAULT_ENGINE, EngineOptions, EngineRegistry
from ..errors import UserError
from . import events as ev
from .data_folder import DataFolder, default_data_folder
from .frame_cache import FrameCache
from .intake import Intake
from .journal import CANCELLED, QUEUED, RUNNING, JobRecord, Journal
from .scheduler import Scheduler, check_deletable, unknown_job
from .security import load_curve, make_server_socket_secure, start_authenticator
from .streams import Streams
from .worker import Worker, WorkerThread

log = logging.getLogger("tpc_backend.service")

SEND_QUEUE = 1000  # messages queued per client before sends to it are refused (ZMQ_SNDHWM)
STOP_GRACE = 5.0  # seconds workers get to finish their current frame on SIGTERM
_TICK = 0.25  # seconds between housekeeping passes (heartbeats, expiry)
_RETRY_TICK = 0.02  # the same while some client's queue is full
_BATCH = 256  # messages handled per socket before the loop looks at the other one
_NOBLOCK = int(zmq.NOBLOCK)
_EXPIRY_BATCH = 100  # expired jobs handed to the intake per pass


def _any_port(endpoint: str) -> str:
    """ZeroMQ spells "any free port" ``*``; accept the usual ``0`` too."""
    address, _, port = endpoint.rpartition(":")
    return f"{address}:*" if port == "0" else endpoint


@dataclass
class ServeOptions:
    bind: str = DEFAULT_ADDRESS
    data: Path = field(default_factory=default_data_folder)
    engine: str = DEFAULT_ENGINE
    engine_options: EngineOptions = field(default_factory=EngineOptions)
    workers: int | None = None  # jobs rendered at once; None: 1 in this process, one per GPU group on Ray
    ray: str | None = None  # a Ray cluster's address: render on TpcWorker actors there (None: in this process)
    gpus_per_worker: float = 1.0  # GPUs each Ray worker holds
    keep_days: float | None = None  # finished jobs are deleted this long after their last change
    secret_key: Path | None = None  # the server's .key_secret (CURVE)
    allow: Path | None = None  # folder of allowed client public keys (CURVE)
    ready_file: Path | None = None  # written with the bound endpoint once serving


@dataclass
class _Pending:
    """A submit the intake thread is checking; it gets heartbeats so its client keeps waiting."""

    job_id: str
    last_sent: float


class BackendService:
    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.endpoint: str | None = None
        self._stop = threading.Event()
        self._pending: dict[tuple[bytes, int | None], _Pending] = {}
        self._cancel_when_admitted: set[str] = set()  # jobs cancelled while the intake still checked their submit
        self._deleting: dict[str, tuple[bytes | None, int | None]] = {}  # job id -> its delete request ((None, None): expiry)
        self._next_expiry = 0.0
        self._fatal: UserError | None = None  # why serving stopped on its own
        self._requests: dict[type, Callable[[bytes, int | None, Any], None]] = {
            Hello: self._on_hello, Submit: self._on_submit, Attach: self._on_attach, Cancel: self._on_cancel,
            Delete: self._on_delete, Status: self._on_status, Heartbeat: self._on_heartbeat,
        }  # fmt: skip
        self._news: dict[type, Callable[[Any], None]] = {
            ev.FrameWritten: self._on_frame_written, ev.JobProgress: self._on_progress, ev.JobFinished: self._on_finished,
            ev.SubmitAdmitted: self._on_admitted, ev.RequestRefused: self._on_refused, ev.JobDeleted: self._on_deleted,
        }  # fmt: skip

    def request_stop(self) -> None:
        """Stop serving soon (safe from a signal handler or another thread)."""
        self._stop.set()

    # -- life cycle -----------------------------------------------------------------------------------
    def serve(self) -> None:
        """Serve until :meth:`request_stop`; unfinished jobs stay journaled and resume at the next start."""
        options = self.options
        if options.workers is not None and not 1 <= options.workers <= 64:
            raise UserError(f"--workers must be between 1 and 64, got {options.workers}")
        if options.keep_days is not None and not 0 < options.keep_days < 1e5:
            raise UserError(f"--keep-days must be a positive number of days, got {options.keep_days}")
        curve = load_curve(options.secret_key, options.allow, options.bind)
        self._engines = EngineRegistry(options.engine_options)  # checks each engine's options (--models)
        self._data = DataFolder(options.data)
        self._data.lock()
        self._journal = Journal(self._data.journal_path)
        swept, freed = self._data.sweep(self._journal.job_ids())
        if swept:
            log.info("removed %d folder(s), %d bytes, that no journaled job owns (a delete or a submit cut short)", swept, freed)
        if options.ray is None:
            self._engines.get(options.engine)  # load the default engine before taking jobs
        else:
            from . import ray_pool  # Ray is imported only here

            resources = ray_pool.connect(options.ray)
            ray_workers = ray_pool.worker_count(options.workers, options.gpus_per_worker, resources, options.ray)
        self._scheduler = Scheduler(self._journal)
        self._frames = FrameCache()
        self._streams = Streams(self._send, self._frames, self._data, self._scheduler.queue_position)
        context = zmq.Context()
        authenticator = start_authenticator(context, curve) if curve else None
        self._router = router = context.socket(zmq.ROUTER)
        apply_limits(router)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        router.setsockopt(zmq.SNDHWM, SEND_QUEUE)
        router.setsockopt(zmq.HEARTBEAT_IVL, 2000)  # transport-level pings find peers that vanished
        router.setsockopt(zmq.HEARTBEAT_TIMEOUT, 10000)
        if ":" in options.bind.partition("://")[2].rsplit(":", 1)[0]:
            router.setsockopt(zmq.IPV6, 1)
        if curve:
            make_server_socket_secure(router, curve)
        try:
            router.bind(_any_port(options.bind))
        except zmq.ZMQError as error:
            raise UserError(f"cannot listen on {options.bind} ({error})", ErrorCode.BIND_FAILED) from None
        self.endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        self._events = ev.bind_receiver(context)
        self._intake = Intake(context, self._journal, self._data, self._scheduler, self._engines, options.engine)
        parts = {"context": context, "journal": self._journal, "data": self._data, "scheduler": self._scheduler, "frames": self._frames}
        if options.ray is None:
            pool = None
            workers = [Worker(f"tpc-worker-{i}", self._engines, **parts) for i in range(options.workers or 1)]
        else:
            pool = ray_pool.RayWorkers(ray_workers, options.gpus_per_worker, options.engine_options, options.engine, parts, self._stop_for)
            workers = pool.threads
        self._intake.start()
        for worker in workers:
            worker.start()
        unfinished = self._journal.unfinished()
        for job_id in unfinished:
            self._scheduler.enqueue(job_id)
        if options.ready_file is not None:
            write_atomic(options.ready_file, (self.endpoint + "\n").encode())
        on_ray = "" if pool is None else f" on Ray at {options.ray}"
        log.info(
            "serving %s%s: engine %s, %d worker(s)%s, data %s, %d unfinished job(s) resumed",
            self.endpoint, " with CURVE" if curve else "", options.engine, len(workers), on_ray, self._data.root, len(unfinished),
        )  # fmt: skip
        try:
            self._loop()
        finally:
            self._shutdown(workers)
            router.close(0)
            self._events.close(0)
            if authenticator is not None:
                authenticator.stop()
            if pool is not None:
                pool.close()
            if not any(thread.is_alive() for thread in (*workers, self._intake)):
                self._journal.close()
                context.term()  # otherwise a busy thread still holds a socket: exiting ends it
        if self._fatal is not None:
            raise self._fatal

    def _stop_for(self, reason: UserError) -> None:
        """Stop serving because the backend cannot work (no worker can render); ``serve`` raises ``reason``."""
        self._fatal = reason
        self._stop.set()

    def _shutdown(self, workers: list[WorkerThread]) -> None:
        log.info("stopping: running jobs pause after their current frame and resume at the next start")
        self._scheduler.stop()
        self._intake.stop()
        deadline = time.monotonic() + STOP_GRACE
        for thread in (*workers, self._intake):
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(worker.is_alive() for worker in workers):
            log.warning("a worker is still busy after %.0f s; its job resumes at the next start", STOP_GRACE)

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._events, zmq.POLLIN)
        last_housekeeping = 0.0
        while not self._stop.is_set():
            ready = dict(poller.poll(int(1000 * (_RETRY_TICK if self._streams.any_blocked else _TICK))))
            if self._events in ready:
                for _ in range(_BATCH):
                    try:
                        data = self._events.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        event = ev.decode(data)
                        self._news[type(event)](event)
                    except Exception:  # a bug: log it and keep serving everyone else
                        log.exception("handling a worker event failed")
            if self._router in ready:
                for _ in range(_BATCH):
                    if not self._router.poll(0):
                        break
                    frames, cut = receive(self._router, envelope_parts=1)
                    self._on_client_message(frames[0], frames[1:], cut)
            if time.monotonic() - last_housekeeping >= _RETRY_TICK:
                self._housekeeping()
                last_housekeeping = time.monotonic()

    # -- sending --------------------------------------------------------------------------------------
    def _send(self, identity: bytes, req: int | None, message: Any) -> bool:
        """Send without waiting; False when the client's queue is full or the client is gone."""
        parts = codec.encode(message, req)
        parts.insert(0, identity)
        try:
            send(self._router, parts, _NOBLOCK)
        except zmq.Again:
            return False
        except zmq.ZMQError as error:
            if error.errno != zmq.EHOSTUNREACH:
                raise
            self._forget(identity)
            return False
        return True

    def _send_error(self, identity: bytes, req: int | None, job_id: str | None, code: str, sentence: str) -> None:
        code = code if code and len(code) <= 40 and code.replace("_", "").isalpha() and code.islower() else ErrorCode.INTERNAL
        self._send(identity, req, JobError(job_id, code, sentence[:MAX_TEXT_CHARS]))
        self._streams.remember((identity, req))

    def _forget(self, identity: bytes) -> None:
        """A client that is gone: drop its streams (its jobs go on) and pending replies."""
        self._streams.forget(identity)
        for key in [key for key in self._pending if key[0] == identity]:
            del self._pending[key]

    # -- client messages ------------------------------------------------------------------------------
    def _on_client_message(self, identity: bytes, frames: list, cut: bool) -> None:
        if cut:
            req, job_id = codec.peek_ids(frames[0]) if frames else (None, None)
            sentence = "the message has more parts or bytes than the protocol allows"
            self._send_error(identity, req, job_id, ErrorCode.TOO_LARGE, sentence)
            return
        try:
            envelope = codec.decode(frames, side="backend")
        except MessageError as error:
            log.debug("refused a message: %s", error)
            self._send_error(identity, error.req, error.job_id, error.code, str(error))
            return
        message, req = envelope.message, envelope.req
        handler = self._requests.get(type(message))
        if handler is None:
            sentence = f"a client cannot send {message.TYPE} messages"
            self._send_error(identity, req, getattr(message, "job_id", None), ErrorCode.BAD_MESSAGE, sentence)
            return
        try:
            handler(identity, req, message)
        except UserError as error:
            self._send_error(identity, req, getattr(message, "job_id", None), error.code, str(error))
        except Exception as error:  # a bug: answer, log, keep serving everyone else
            log.exception("handling a %s request failed", message.TYPE)
            self._send_error(
                identity, req, getattr(message, "job_id", None), ErrorCode.INTERNAL,
                f"the backend failed on this {message.TYPE} request ({type(error).__name__}); its log has the details",
            )  # fmt: skip

    def _on_hello(self, identity: bytes, req: int | None, message: Hello) -> None:
        info = {
            "version": PROTOCOL_VERSION,
            "server": f"tpc-backend {__version__}",
            "engines": self._engines.names(),  # those a job can use here
            "unavailable": self._engines.unavailable(),  # the others: engine name -> why, and what to do
            "default_engine": self.options.engine,
        }
        self._send(identity, req, Done(None, info))

    def _on_submit(self, identity: bytes, req: int | None, message: Submit) -> None:
        if self._stop.is_set():
            raise UserError("the backend is shutting down; submit again once it is back", ErrorCode.SHUTTING_DOWN)
        key = (identity, req)
        if key in self._pending or key in self._streams:
            raise UserError(f"request {req} is already in progress on this connection; use a new request id", ErrorCode.BAD_MESSAGE)
        self._pending[key] = _Pending(message.job_id, time.monotonic())
        self._intake.put(identity, req, message)

    def _on_attach(self, identity: bytes, req: int | None, message: Attach) -> None:
        self._streams.follow(identity, req, self._record(message.job_id), message.start_frame)

    def _on_cancel(self, identity: bytes, req: int | None, message: Cancel) -> None:
        job_id = message.job_id
        if any(pending.job_id == job_id for pending in self._pending.values()):
            # Its submit is still being checked (perception can take seconds): the cancel applies the
            # moment the job is journaled, so the job never runs on although its cancel came first.
            self._cancel_when_admitted.add(job_id)
            log.info("job %s cancelled while its submit is checked", job_id)
            record = self._journal.job(job_id)
            if record is None:  # a new job: nothing of it exists yet
                status = {"job_id": job_id, "state": CANCELLED, "done": 0, "total": None, "queue_position": None}
                self._send(identity, req, Done(job_id, {"job": status}))
                return
        self._record(job_id)
        if self._scheduler.cancel(job_id):
            log.info("job %s cancelled", job_id)
        record = self._record(job_id)
        self._send(identity, req, Done(message.job_id, {"job": self._status(record)}))
        self._streams.changed(record)  # followers get the finished frames, then ERROR "cancelled"

    def _on_delete(self, identity: bytes, req: int | None, message: Delete) -> None:
        job_id = message.job_id
        if any(pending.job_id == job_id for pending in self._pending.values()):
            raise UserError(
                f"job {job_id} is still being submitted; delete it once it has finished or been cancelled", ErrorCode.JOB_ACTIVE
            )
        check_deletable(self._record(job_id))
        # The intake removes it (after any submit already queued there); until it reports back, the
        # job answers as unknown, so nobody starts following files that are going away.
        self._deleting[job_id] = (identity, req)
        self._intake.put(identity, req, message)

    def _expire(self) -> None:
        """--keep-days: hand finished jobs older than that to the intake for deletion, except those
        someone is following or resubmitting right now (they get another chance at the next pass)."""
        keep = self.options.keep_days * 86400.0
        now = time.monotonic()
        if now < self._next_expiry:
            return
        self._next_expiry = now + min(600.0, max(1.0, keep / 10))
        busy = {pending.job_id for pending in self._pending.values()} | self._streams.followed_jobs | set(self._deleting)
        for job_id in self._journal.finished_before(time.time() - keep, _EXPIRY_BATCH + len(busy)):
            if job_id not in busy:
                self._deleting[job_id] = (None, None)
                self._intake.put(None, None, Delete(job_id))

    def _on_status(self, identity: bytes, req: int | None, message: Status) -> None:
        if message.job_id is not None:
            result = {"job": self._status(self._record(message.job_id))}
        else:
            result = {"jobs": [self._status(record) for record in self._journal.jobs(MAX_STATUS_JOBS)]}
        self._send(identity, req, Done(message.job_id, result))

    def _on_heartbeat(self, identity: bytes, req: int | None, message: Heartbeat) -> None:
        key = (identity, req)
        if self._streams.heard(key, message.job_id, message.ack):
            return
        if key in self._pending or self._streams.recently_finished(key) or message.job_id is None or message.ack is None:
            return
        # A stream this backend does not know: it restarted, or the stream expired. Resume it.
        record = self._journal.job(message.job_id)
        if record is None:
            raise UserError(
                f"this backend has no job {message.job_id} (it may have restarted before accepting it); submit it again",
                ErrorCode.UNKNOWN_JOB,
            )
        self._streams.follow(identity, req, record, min(message.ack, record.total))

    def _record(self, job_id: str) -> JobRecord:
        if job_id in self._deleting:
            raise UserError(f"job {job_id} is being deleted", ErrorCode.UNKNOWN_JOB)
        record = self._journal.job(job_id)
        if record is None:
            raise unknown_job(job_id)
        return record

    def _status(self, record: JobRecord) -> dict:
        status = record.to_status()
        status["queue_position"] = self._scheduler.queue_position(record.job_id) if record.state == QUEUED else None
        worker = self._scheduler.worker_of(record.job_id) if record.state == RUNNING else None
        status["worker"] = None if worker is None else worker.to_status()
        return status

    # -- events from the intake and the workers -------------------------------------------------------
    def _on_frame_written(self, event: ev.FrameWritten) -> None:
        self._streams.frame_written(event.job_id, event.index)

    def _on_progress(self, event: ev.JobProgress) -> None:
        self._streams.progress(event.job_id, event.fraction, event.message)

    def _on_finished(self, event: ev.JobFinished) -> None:
        record = self._journal.job(event.job_id)
        if record is not None:
            self._streams.changed(record)

    def _on_admitted(self, event: ev.SubmitAdmitted) -> None:
        identity, req, job_id = event.identity, event.req, event.job_id
        if job_id in self._cancel_when_admitted:
            self._cancel_when_admitted.discard(job_id)
            self._scheduler.cancel(job_id)
        if self._pending.pop((identity, req), None) is not None:
            try:
                self._streams.follow(identity, req, self._record(job_id), event.start)
            except UserError as error:
                self._send_error(identity, req, job_id, error.code, str(error))

    def _on_refused(self, event: ev.RequestRefused) -> None:
        identity, req, job_id = event.identity, event.req, event.job_id
        if self._deleting.get(job_id) == (identity, req):
            del self._deleting[job_id]
            if identity is None:
                log.info("job %s was not deleted after --keep-days: %s", job_id, event.message)
            else:
                self._send_error(identity, req, job_id, event.code, event.message)
            return
        self._cancel_when_admitted.discard(job_id)
        if self._pending.pop((identity, req), None) is not None:
            self._send_error(identity, req, job_id, event.code, event.message)

    def _on_deleted(self, event: ev.JobDeleted) -> None:
        self._deleting.pop(event.job_id, None)
        self._frames.drop(event.job_id)
        self._streams.deleted(event.job_id)
        if event.identity is not None:
            self._send(event.identity, event.req, Done(event.job_id, {"job": event.status, "freed_bytes": event.freed}))

    # -- housekeeping ---------------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        self._streams.housekeeping()
        now = time.monotonic()
        for key, pending in list(self._pending.items()):
            if now - pending.last_sent >= HEARTBEAT_INTERVAL and self._send(key[0], key[1], Heartbeat(pending.job_id)):
                pending.last_sent = now
        if self.options.keep_days is not None:
            self._expire()
