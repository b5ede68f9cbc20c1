"""The backend service: one ROUTER loop that talks to clients, while threads do the work.

Patterns from the zguide, written for this service: an asynchronous ROUTER/DEALER server; heartbeats
both ways on quiet streams (Paranoid Pirate); journal before acknowledging (Titanic); credit-based
flow control for frames (FileMQ). The loop is single-threaded and never waits on work: submits are
checked and journaled by the intake thread, frames made by worker threads, and both report back
over an inproc socket.

A client stream follows one job. Frames and reports come from a bounded cache or from the job's
folder, frames batched when a client catches up, and at most a window of them is in flight to each
client until it acknowledges (its heartbeats carry the next frame it expects), so a slow client
costs at most a window of memory and never slows a job.
Sends never block: a client whose queue is full waits for the next tick, and one that is gone is
forgotten (ROUTER_MANDATORY) while its job goes on; it can come back, and a heartbeat naming a job
and a frame the backend does not stream (after a restart, or once the stream expired) resumes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from tpc import __version__
from tpc.image_io import write_atomic
from tpc_protocol import codec
from tpc_protocol.errors import (
    BAD_MESSAGE,
    CANCELLED as CANCELLED_CODE,
    DELETED as DELETED_CODE,
    INTERNAL,
    JOB_ACTIVE,
    SHUTTING_DOWN,
    TOO_LARGE,
    UNKNOWN_JOB,
    MessageError,
)
from tpc_protocol.limits import (
    DEFAULT_ADDRESS,
    HEARTBEAT_INTERVAL,
    MAX_STATUS_JOBS,
    MAX_TEXT_CHARS,
    SUBSCRIBER_EXPIRY,
    WINDOW_BYTES,
    WINDOW_FRAMES,
)
from tpc_protocol.messages import (
    Accepted,
    Attach,
    Cancel,
    Delete,
    Done,
    Frames,
    Heartbeat,
    Hello,
    JobError,
    Progress,
    Report,
    Status,
    Submit,
)
from tpc_protocol.transport import apply_limits, receive, send
from tpc_protocol.version import PROTOCOL_VERSION

from ..engines.registry import DEFAULT_ENGINE, EngineOptions, EngineRegistry
from ..errors import UserError
from . import events as ev
from .data_folder import DataFolder, default_data_folder
from .frame_cache import FrameCache
from .intake import Intake
from .journal import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Journal, JobRecord
from .scheduler import Scheduler, check_deletable, unknown_job
from .security import load_curve, make_server_socket_secure, start_authenticator
from .worker import Worker

log = logging.getLogger("tpc_backend.service")

MAX_STREAMS_PER_CLIENT = 64
# Frames per message when a client catches up: batching spares a header and a round of per-message
# work at both ends, but a message reaches the client only once all its parts have arrived, and
# multi-megabyte messages stream slower (measured: benchmarks/streaming_throughput.py), so a batch
# also stops once it holds BATCH_BYTES (about four 512x512 PNGs).
BATCH_FRAMES = 16
BATCH_BYTES = 512 << 10
SEND_QUEUE = 1000  # messages queued per client before sends to it are refused (ZMQ_SNDHWM)
STOP_GRACE = 5.0  # seconds workers get to finish their current frame on SIGTERM
_TICK = 0.25  # seconds between housekeeping passes (heartbeats, expiry)
_RETRY_TICK = 0.02  # the same while some client's queue is full
_RECENT = 60.0  # seconds a finished request is remembered, so a late heartbeat cannot revive it
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
    workers: int = 1
    keep_days: float | None = None  # finished jobs are deleted this long after their last change
    secret_key: Path | None = None  # the server's .key_secret (CURVE)
    allow: Path | None = None  # folder of allowed client public keys (CURVE)
    ready_file: Path | None = None  # written with the bound endpoint once serving


@dataclass
class _Stream:
    """One request following one job."""

    identity: bytes
    req: int | None
    job_id: str
    cursor: int  # next frame to send
    last_heard: float
    last_sent: float = 0.0
    acked: int = 0
    in_flight: deque = field(default_factory=deque)  # (index, size) sent but not acknowledged
    in_flight_bytes: int = 0
    report_sent: bool = False
    blocked: bool = False

    @property
    def key(self) -> tuple[bytes, int | None]:
        return (self.identity, self.req)

    def acknowledge(self, ack: int) -> None:
        self.acked = max(self.acked, min(ack, self.cursor))
        while self.in_flight and self.in_flight[0][0] < self.acked:
            self.in_flight_bytes -= self.in_flight.popleft()[1]

    @property
    def window_open(self) -> bool:
        return not self.in_flight or (len(self.in_flight) < WINDOW_FRAMES and self.in_flight_bytes < WINDOW_BYTES)


@dataclass
class _Pending:
    """A submit the intake thread is checking; it gets heartbeats so its client keeps waiting."""

    job_id: str
    last_sent: float


@dataclass
class _JobView:
    """What the loop knows of a job that someone is following."""

    record: JobRecord
    done: int
    streams: set = field(default_factory=set)


class BackendService:
    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.endpoint: str | None = None
        self._stop = threading.Event()
        self._streams: dict[tuple[bytes, int | None], _Stream] = {}
        self._pending: dict[tuple[bytes, int | None], _Pending] = {}
        self._cancel_when_admitted: set[str] = set()  # jobs cancelled while the intake still checked their submit
        self._deleting: dict[str, tuple[bytes | None, int | None]] = {}  # job id -> its delete request ((None, None): expiry)
        self._next_expiry = 0.0
        self._recent: dict[tuple[bytes, int | None], float] = {}
        self._views: dict[str, _JobView] = {}

    def request_stop(self) -> None:
        """Stop serving soon (safe from a signal handler or another thread)."""
        self._stop.set()

    # -- life cycle -----------------------------------------------------------------------------------
    def serve(self) -> None:
        """Serve until :meth:`request_stop`; unfinished jobs stay journaled and resume at the next start."""
        options = self.options
        if not 1 <= options.workers <= 64:
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
        self._engines.get(options.engine)  # load the default engine before taking jobs
        self._scheduler = Scheduler(self._journal)
        self._frames = FrameCache()
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
            raise UserError(f"cannot listen on {options.bind} ({error})", "bind_failed") from None
        self.endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        self._events = ev.bind_receiver(context)
        self._intake = Intake(context, self._journal, self._data, self._scheduler, self._engines, options.engine)
        workers = [
            Worker(context, self._journal, self._data, self._scheduler, self._engines, self._frames, f"tpc-worker-{i}")
            for i in range(options.workers)
        ]
        self._intake.start()
        for worker in workers:
            worker.start()
        unfinished = self._journal.unfinished()
        for job_id in unfinished:
            self._scheduler.enqueue(job_id)
        if options.ready_file is not None:
            write_atomic(options.ready_file, (self.endpoint + "\n").encode())
        log.info(
            "serving %s%s: engine %s, data %s, %d unfinished job(s) resumed",
            self.endpoint, " with CURVE" if curve else "", options.engine, self._data.root, len(unfinished),
        )  # fmt: skip
        try:
            self._loop()
        finally:
            self._shutdown(workers)
            router.close(0)
            self._events.close(0)
            if authenticator is not None:
                authenticator.stop()
            if not any(thread.is_alive() for thread in (*workers, self._intake)):
                self._journal.close()
                context.term()  # otherwise a busy thread still holds a socket: exiting ends it

    def _shutdown(self, workers: list[Worker]) -> None:
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
            blocked = any(stream.blocked for stream in self._streams.values())
            ready = dict(poller.poll(int(1000 * (_RETRY_TICK if blocked else _TICK))))
            if self._events in ready:
                for _ in range(_BATCH):
                    try:
                        data = self._events.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        self._on_event(ev.decode(data))
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
        code = code if code and len(code) <= 40 and code.replace("_", "").isalpha() and code.islower() else INTERNAL
        self._send(identity, req, JobError(job_id, code, sentence[:MAX_TEXT_CHARS]))
        self._recent[(identity, req)] = time.monotonic()

    def _forget(self, identity: bytes) -> None:
        """A client that is gone: drop its streams (its jobs go on) and pending replies."""
        for key in [key for key in self._streams if key[0] == identity]:
            self._end_stream(key)
        for key in [key for key in self._pending if key[0] == identity]:
            del self._pending[key]

    # -- client messages ------------------------------------------------------------------------------
    def _on_client_message(self, identity: bytes, frames: list, cut: bool) -> None:
        if cut:
            req, job_id = codec.peek_ids(frames[0]) if frames else (None, None)
            self._send_error(identity, req, job_id, TOO_LARGE, "the message has more parts or bytes than the protocol allows")
            return
        try:
            envelope = codec.decode(frames, side="backend")
        except MessageError as error:
            log.debug("refused a message: %s", error)
            self._send_error(identity, error.req, error.job_id, error.code, str(error))
            return
        message, req = envelope.message, envelope.req
        handler = {
            Hello: self._on_hello, Submit: self._on_submit, Attach: self._on_attach, Cancel: self._on_cancel,
            Delete: self._on_delete, Status: self._on_status, Heartbeat: self._on_heartbeat,
        }.get(type(message))  # fmt: skip
        if handler is None:
            sentence = f"a client cannot send {message.TYPE} messages"
            self._send_error(identity, req, getattr(message, "job_id", None), BAD_MESSAGE, sentence)
            return
        try:
            handler(identity, req, message)
        except UserError as error:
            self._send_error(identity, req, getattr(message, "job_id", None), error.code, str(error))
        except Exception as error:  # a bug: answer, log, keep serving everyone else
            log.exception("handling a %s request failed", message.TYPE)
            self._send_error(
                identity, req, getattr(message, "job_id", None), INTERNAL,
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
            raise UserError("the backend is shutting down; submit again once it is back", SHUTTING_DOWN)
        key = (identity, req)
        if key in self._pending or key in self._streams:
            raise UserError(f"request {req} is already in progress on this connection; use a new request id", BAD_MESSAGE)
        self._pending[key] = _Pending(message.job_id, time.monotonic())
        self._intake.put(identity, req, message)

    def _on_attach(self, identity: bytes, req: int | None, message: Attach) -> None:
        self._follow(identity, req, self._record(message.job_id), message.start_frame)

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
        self._refresh(record)
        self._send(identity, req, Done(message.job_id, {"job": self._status(record)}))
        for stream in self._job_streams(message.job_id):
            self._pump(stream)  # followers get the finished frames, then ERROR "cancelled"

    def _on_delete(self, identity: bytes, req: int | None, message: Delete) -> None:
        job_id = message.job_id
        if any(pending.job_id == job_id for pending in self._pending.values()):
            raise UserError(f"job {job_id} is still being submitted; delete it once it has finished or been cancelled", JOB_ACTIVE)
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
        busy = {pending.job_id for pending in self._pending.values()} | set(self._views) | set(self._deleting)
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
        stream = self._streams.get(key)
        if stream is not None:
            stream.last_heard = time.monotonic()
            if message.ack is not None and message.job_id == stream.job_id:
                stream.acknowledge(message.ack)
                self._pump(stream)
            return
        if key in self._pending or key in self._recent or message.job_id is None or message.ack is None:
            return
        # A stream this backend does not know: it restarted, or the stream expired. Resume it.
        record = self._journal.job(message.job_id)
        if record is None:
            raise UserError(
                f"this backend has no job {message.job_id} (it may have restarted before accepting it); submit it again",
                UNKNOWN_JOB,
            )
        self._follow(identity, req, record, min(message.ack, record.total))

    def _record(self, job_id: str) -> JobRecord:
        if job_id in self._deleting:
            raise UserError(f"job {job_id} is being deleted", UNKNOWN_JOB)
        record = self._journal.job(job_id)
        if record is None:
            raise unknown_job(job_id)
        return record

    def _status(self, record: JobRecord) -> dict:
        status = record.to_status()
        status["queue_position"] = self._scheduler.queue_position(record.job_id) if record.state == QUEUED else None
        return status

    # -- streams --------------------------------------------------------------------------------------
    def _follow(self, identity: bytes, req: int | None, record: JobRecord, start: int) -> None:
        """Start streaming ``record``'s job to a request: Accepted, where it stands, then its frames."""
        if start > record.total:
            raise UserError(f"start frame {start} is past the end of job {record.job_id} ({record.total} frames)")
        if sum(1 for key in self._streams if key[0] == identity) >= MAX_STREAMS_PER_CLIENT:
            raise UserError(f"this connection already follows {MAX_STREAMS_PER_CLIENT} jobs; open another connection", TOO_LARGE)
        now = time.monotonic()
        key = (identity, req)
        if key in self._streams:
            self._end_stream(key)
        view = self._views.get(record.job_id)
        if view is None:
            view = self._views[record.job_id] = _JobView(record, record.done)
        else:
            self._refresh(record)
        stream = _Stream(identity, req, record.job_id, cursor=start, acked=start, last_heard=now, last_sent=now)
        self._streams[key] = stream
        view.streams.add(key)
        self._send(identity, req, Accepted(record.job_id, record.total))
        if key not in self._streams:
            return  # the client is gone
        sentence = self._where(view)
        if sentence:
            self._send(identity, req, Progress(record.job_id, view.done / record.total, sentence))
        self._pump(stream)  # nothing, if the client went away meanwhile

    def _where(self, view: _JobView) -> str:
        state = view.record.state
        if state == QUEUED:
            ahead = self._scheduler.queue_position(view.record.job_id)
            return f"queued, {ahead} job(s) ahead" if ahead else "queued"
        if state == RUNNING:
            return f"running, {view.done} of {view.record.total} frames done"
        return ""

    def _refresh(self, record: JobRecord) -> None:
        view = self._views.get(record.job_id)
        if view is not None:
            view.record = record
            view.done = max(view.done, record.done)

    def _pump(self, stream: _Stream) -> None:
        """Send what the stream may have now: frames up to its window, then report and DONE, or ERROR."""
        view = self._views.get(stream.job_id)
        if view is None or self._streams.get(stream.key) is not stream:
            return  # ended: its client is gone (a send found it unreachable) or it was replaced
        folder = None  # the job's folder, for frames the cache no longer holds
        while stream.cursor < view.done and stream.window_open:
            batch: list[bytes] = []
            size = 0
            while stream.cursor + len(batch) < view.done and len(batch) < BATCH_FRAMES and size < BATCH_BYTES and stream.window_open:
                index = stream.cursor + len(batch)
                try:
                    png = self._frames.get(stream.job_id, index)
                    if png is None:
                        folder = folder or self._data.job(stream.job_id)
                        png = folder.read_frame(index)
                        self._frames.put(stream.job_id, index, png)
                except OSError as error:
                    log.error("frame %d of job %s cannot be read: %s", index, stream.job_id, error)
                    sentence = f"frame {index} of job {stream.job_id} cannot be read on the backend ({error.strerror})"
                    self._finish(stream, JobError(stream.job_id, INTERNAL, sentence))
                    return
                batch.append(png)
                size += len(png)
                stream.in_flight.append((index, len(png)))
                stream.in_flight_bytes += len(png)
            if not self._send(stream.identity, stream.req, Frames(stream.job_id, stream.cursor, tuple(batch))):
                for _ in batch:  # not sent: they are not in flight
                    stream.in_flight_bytes -= stream.in_flight.pop()[1]
                stream.blocked = stream.key in self._streams
                return
            stream.cursor += len(batch)
            stream.last_sent = time.monotonic()
        stream.blocked = False
        if stream.cursor < view.done:
            return  # waiting for acknowledgements
        record = view.record
        if record.state == DONE and stream.cursor >= record.total:
            if not stream.report_sent:
                try:
                    report = self._frames.get_report(stream.job_id)
                    if report is None:
                        report = self._data.job(stream.job_id).read_report()
                        self._frames.put_report(stream.job_id, *report)
                    report_json, report_png = report
                except OSError as error:
                    sentence = f"the report of job {stream.job_id} cannot be read on the backend ({error.strerror})"
                    self._finish(stream, JobError(stream.job_id, INTERNAL, sentence))
                    return
                if not self._send(stream.identity, stream.req, Report(stream.job_id, report_json, report_png)):
                    stream.blocked = stream.key in self._streams
                    return
                stream.report_sent = True
            self._finish(stream, Done(stream.job_id))
        elif record.state == FAILED:
            self._finish(stream, JobError(stream.job_id, record.error_code or INTERNAL, record.error_message or "the job failed"))
        elif record.state == CANCELLED:
            self._finish(
                stream,
                JobError(
                    stream.job_id, CANCELLED_CODE,
                    f"job {stream.job_id} was cancelled after {view.done} of {record.total} frames; submit it again to resume it",
                ),
            )  # fmt: skip

    def _finish(self, stream: _Stream, terminal: Any) -> None:
        if self._send(stream.identity, stream.req, terminal):
            self._recent[stream.key] = time.monotonic()
            self._end_stream(stream.key)
        else:
            stream.blocked = stream.key in self._streams

    def _end_stream(self, key: tuple[bytes, int | None]) -> None:
        stream = self._streams.pop(key, None)
        if stream is None:
            return
        view = self._views.get(stream.job_id)
        if view is not None:
            view.streams.discard(key)
            if not view.streams:
                del self._views[stream.job_id]

    def _job_streams(self, job_id: str) -> list[_Stream]:
        view = self._views.get(job_id)
        return [] if view is None else [self._streams[key] for key in list(view.streams) if key in self._streams]

    # -- events from the intake and the workers -------------------------------------------------------
    def _on_event(self, event: list) -> None:
        kind = event[0]
        if kind == ev.FRAME:
            job_id, index = event[1], event[2]
            view = self._views.get(job_id)
            if view is not None:
                view.done = max(view.done, index + 1)
                for stream in self._job_streams(job_id):
                    self._pump(stream)
        elif kind == ev.PROGRESS:
            job_id, fraction, message = event[1:]
            for stream in self._job_streams(job_id):
                if self._send(stream.identity, stream.req, Progress(job_id, fraction, message)):
                    stream.last_sent = time.monotonic()
        elif kind == ev.FINISHED:
            job_id = event[1]
            record = self._journal.job(job_id)
            if record is not None and job_id in self._views:
                self._refresh(record)
                for stream in self._job_streams(job_id):
                    self._pump(stream)
        elif kind == ev.ADMITTED:
            identity, req, job_id, start = event[1:]
            if job_id in self._cancel_when_admitted:
                self._cancel_when_admitted.discard(job_id)
                self._scheduler.cancel(job_id)
            if self._pending.pop((identity, req), None) is not None:
                try:
                    self._follow(identity, req, self._record(job_id), start)
                except UserError as error:
                    self._send_error(identity, req, job_id, error.code, str(error))
        elif kind == ev.REFUSED:
            identity, req, job_id, code, message = event[1:]
            if self._deleting.get(job_id) == (identity, req):
                del self._deleting[job_id]
                if identity is None:
                    log.info("job %s was not deleted after --keep-days: %s", job_id, message)
                else:
                    self._send_error(identity, req, job_id, code, message)
                return
            self._cancel_when_admitted.discard(job_id)
            if self._pending.pop((identity, req), None) is not None:
                self._send_error(identity, req, job_id, code, message)
        elif kind == ev.DELETED:
            identity, req, job_id, status, freed = event[1:]
            self._deleting.pop(job_id, None)
            self._frames.drop(job_id)
            for stream in self._job_streams(job_id):
                self._finish(stream, JobError(job_id, DELETED_CODE, f"job {job_id} was deleted on the backend"))
                # A client whose queue is full misses that ERROR; its next heartbeat hears "no job".
                self._end_stream(stream.key)
            if identity is not None:
                self._send(identity, req, Done(job_id, {"job": status, "freed_bytes": freed}))

    # -- housekeeping ---------------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        now = time.monotonic()
        for key, stream in list(self._streams.items()):
            if key not in self._streams:
                continue  # ended while this pass ran
            if now - stream.last_heard > SUBSCRIBER_EXPIRY:
                log.debug("stream of job %s expired (client silent)", stream.job_id)
                self._end_stream(key)
            elif stream.blocked:
                self._pump(stream)
            elif now - stream.last_sent >= HEARTBEAT_INTERVAL:
                if self._send(stream.identity, stream.req, Heartbeat(stream.job_id)):
                    stream.last_sent = now
        for key, pending in list(self._pending.items()):
            if now - pending.last_sent >= HEARTBEAT_INTERVAL and self._send(key[0], key[1], Heartbeat(pending.job_id)):
                pending.last_sent = now
        if self.options.keep_days is not None:
            self._expire()
        for key in [key for key, when in self._recent.items() if now - when > _RECENT]:
            del self._recent[key]
