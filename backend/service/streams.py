"""Client streams: each request that follows a job gets its frames, then the report and DONE, or ERROR.

Frames and reports come from a bounded cache or from the job's folder, batched when a client catches
up, and at most a window of them is in flight to each client until it acknowledges (its heartbeats
carry the next frame it expects), so a slow client costs at most a window of memory and never slows a
job (credit-based flow control, as the zguide's FileMQ). Quiet streams get heartbeats, silent clients'
streams expire.

Everything goes out through one ``send(identity, req, message) -> bool`` callable that never waits:
False means the client's queue is full (the stream is *blocked* and retried at the next tick) or the
client is gone; in that case the sender has already called :meth:`Streams.forget`, so a stream checks
that it still exists after every send. The ROUTER loop owns the socket; this module owns no socket
and no thread.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tpc_protocol.errors import ErrorCode
from tpc_protocol.limits import HEARTBEAT_INTERVAL, SUBSCRIBER_EXPIRY, WINDOW_BYTES, WINDOW_FRAMES
from tpc_protocol.messages import Accepted, Done, Frames, Heartbeat, JobError, Progress, Report

from ..errors import UserError
from .data_folder import DataFolder
from .frame_cache import FrameCache
from .journal import CANCELLED, DONE, FAILED, QUEUED, RUNNING, JobRecord

log = logging.getLogger("tpc_backend.service")

Key = tuple[bytes, "int | None"]  # (client identity, request id)
Send = Callable[[bytes, "int | None", Any], bool]

MAX_STREAMS_PER_CLIENT = 64
# Frames per message when a client catches up: batching spares a header and a round of per-message
# work at both ends, but a message reaches the client only once all its parts have arrived, and
# multi-megabyte messages stream slower (measured: benchmarks/streaming_throughput.py), so a batch
# also stops once it holds BATCH_BYTES (about four 512x512 PNGs).
BATCH_FRAMES = 16
BATCH_BYTES = 512 << 10
RECENT = 60.0  # seconds a finished request is remembered, so a late heartbeat cannot revive it


@dataclass
class Stream:
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
    def key(self) -> Key:
        return (self.identity, self.req)

    def acknowledge(self, ack: int) -> None:
        self.acked = max(self.acked, min(ack, self.cursor))
        while self.in_flight and self.in_flight[0][0] < self.acked:
            self.in_flight_bytes -= self.in_flight.popleft()[1]

    @property
    def window_open(self) -> bool:
        return not self.in_flight or (len(self.in_flight) < WINDOW_FRAMES and self.in_flight_bytes < WINDOW_BYTES)


@dataclass
class _JobView:
    """What the loop knows of a job that someone is following."""

    record: JobRecord
    done: int
    streams: set = field(default_factory=set)


class Streams:
    """Every open stream, by request, and the followed jobs' state as far as streaming needs it."""

    def __init__(self, send: Send, frames: FrameCache, data: DataFolder, queue_position: Callable[[str], int | None]) -> None:
        self._send = send
        self._frames = frames
        self._data = data
        self._queue_position = queue_position
        self._streams: dict[Key, Stream] = {}
        self._views: dict[str, _JobView] = {}
        self._recent: dict[Key, float] = {}

    def __contains__(self, key: Key) -> bool:
        return key in self._streams

    @property
    def followed_jobs(self) -> set[str]:
        return set(self._views)

    @property
    def any_blocked(self) -> bool:
        return any(stream.blocked for stream in self._streams.values())

    def remember(self, key: Key) -> None:
        """``key``'s request got its terminal reply: a late heartbeat must not start it again."""
        self._recent[key] = time.monotonic()

    def recently_finished(self, key: Key) -> bool:
        return key in self._recent

    # -- opening and closing --------------------------------------------------------------------------
    def follow(self, identity: bytes, req: int | None, record: JobRecord, start: int) -> None:
        """Start streaming ``record``'s job to a request: Accepted, where it stands, then its frames."""
        if start > record.total:
            raise UserError(f"start frame {start} is past the end of job {record.job_id} ({record.total} frames)")
        if sum(1 for key in self._streams if key[0] == identity) >= MAX_STREAMS_PER_CLIENT:
            raise UserError(f"this connection already follows {MAX_STREAMS_PER_CLIENT} jobs; open another connection", ErrorCode.TOO_LARGE)
        now = time.monotonic()
        key = (identity, req)
        if key in self._streams:
            self._end(key)
        view = self._views.get(record.job_id)
        if view is None:
            view = self._views[record.job_id] = _JobView(record, record.done)
        else:
            self._refresh(record)
        stream = Stream(identity, req, record.job_id, cursor=start, acked=start, last_heard=now, last_sent=now)
        self._streams[key] = stream
        view.streams.add(key)
        self._send(identity, req, Accepted(record.job_id, record.total))
        if key not in self._streams:
            return  # the client is gone
        sentence = self._where(view)
        if sentence:
            self._send(identity, req, Progress(record.job_id, view.done / record.total, sentence))
        self._pump(stream)  # nothing, if the client went away meanwhile

    def forget(self, identity: bytes) -> None:
        """A client that is gone: drop its streams (its jobs go on)."""
        for key in [key for key in self._streams if key[0] == identity]:
            self._end(key)

    def heard(self, key: Key, job_id: str | None, ack: int | None) -> bool:
        """A heartbeat on ``key``; False when no stream has that key."""
        stream = self._streams.get(key)
        if stream is None:
            return False
        stream.last_heard = time.monotonic()
        if ack is not None and job_id == stream.job_id:
            stream.acknowledge(ack)
            self._pump(stream)
        return True

    # -- news of jobs ---------------------------------------------------------------------------------
    def frame_written(self, job_id: str, index: int) -> None:
        view = self._views.get(job_id)
        if view is not None:
            view.done = max(view.done, index + 1)
            for stream in self._job_streams(job_id):
                self._pump(stream)

    def progress(self, job_id: str, fraction: float, message: str) -> None:
        for stream in self._job_streams(job_id):
            if self._send(stream.identity, stream.req, Progress(job_id, fraction, message)):
                stream.last_sent = time.monotonic()

    def changed(self, record: JobRecord) -> None:
        """The job's state changed (finished, cancelled): followers get what it means for them."""
        if record.job_id in self._views:
            self._refresh(record)
            for stream in self._job_streams(record.job_id):
                self._pump(stream)

    def deleted(self, job_id: str) -> None:
        for stream in self._job_streams(job_id):
            self._finish(stream, JobError(job_id, ErrorCode.DELETED, f"job {job_id} was deleted on the backend"))
            # A client whose queue is full misses that ERROR; its next heartbeat hears "no job".
            self._end(stream.key)

    def housekeeping(self) -> None:
        """Expire silent streams, retry blocked ones, send heartbeats on quiet ones."""
        now = time.monotonic()
        for key, stream in list(self._streams.items()):
            if key not in self._streams:
                continue  # ended while this pass ran
            if now - stream.last_heard > SUBSCRIBER_EXPIRY:
                log.debug("stream of job %s expired (client silent)", stream.job_id)
                self._end(key)
            elif stream.blocked:
                self._pump(stream)
            elif now - stream.last_sent >= HEARTBEAT_INTERVAL:
                if self._send(stream.identity, stream.req, Heartbeat(stream.job_id)):
                    stream.last_sent = now
        for key in [key for key, when in self._recent.items() if now - when > RECENT]:
            del self._recent[key]

    # -- sending ----------------------------------------------------------------------------------------
    def _where(self, view: _JobView) -> str:
        state = view.record.state
        if state == QUEUED:
            ahead = self._queue_position(view.record.job_id)
            return f"queued, {ahead} job(s) ahead" if ahead else "queued"
        if state == RUNNING:
            return f"running, {view.done} of {view.record.total} frames done"
        return ""

    def _refresh(self, record: JobRecord) -> None:
        view = self._views.get(record.job_id)
        if view is not None:
            view.record = record
            view.done = max(view.done, record.done)

    def _pump(self, stream: Stream) -> None:
        """Send what the stream may have now: frames up to its window, then report and DONE, or ERROR."""
        view = self._views.get(stream.job_id)
        if view is None or self._streams.get(stream.key) is not stream:
            return  # ended: its client is gone (a send found it unreachable) or it was replaced
        if not self._send_frames(stream, view):
            return
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
                    self._finish(stream, JobError(stream.job_id, ErrorCode.INTERNAL, sentence))
                    return
                if not self._send(stream.identity, stream.req, Report(stream.job_id, report_json, report_png)):
                    stream.blocked = stream.key in self._streams
                    return
                stream.report_sent = True
            self._finish(stream, Done(stream.job_id))
        elif record.state == FAILED:
            code, sentence = record.error_code or ErrorCode.INTERNAL, record.error_message or "the job failed"
            self._finish(stream, JobError(stream.job_id, code, sentence))
        elif record.state == CANCELLED:
            self._finish(
                stream,
                JobError(
                    stream.job_id, ErrorCode.CANCELLED,
                    f"job {stream.job_id} was cancelled after {view.done} of {record.total} frames; submit it again to resume it",
                ),
            )  # fmt: skip

    def _send_frames(self, stream: Stream, view: _JobView) -> bool:
        """Frames up to the window, in batches; True when every frame done so far is sent."""
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
                    self._finish(stream, JobError(stream.job_id, ErrorCode.INTERNAL, sentence))
                    return False
                batch.append(png)
                size += len(png)
                stream.in_flight.append((index, len(png)))
                stream.in_flight_bytes += len(png)
            if not self._send(stream.identity, stream.req, Frames(stream.job_id, stream.cursor, tuple(batch))):
                for _ in batch:  # not sent: they are not in flight
                    stream.in_flight_bytes -= stream.in_flight.pop()[1]
                stream.blocked = stream.key in self._streams
                return False
            stream.cursor += len(batch)
            stream.last_sent = time.monotonic()
        stream.blocked = False
        return stream.cursor >= view.done  # otherwise: waiting for acknowledgements

    def _finish(self, stream: Stream, terminal: Any) -> None:
        if self._send(stream.identity, stream.req, terminal):
            self.remember(stream.key)
            self._end(stream.key)
        else:
            stream.blocked = stream.key in self._streams

    def _end(self, key: Key) -> None:
        stream = self._streams.pop(key, None)
        if stream is None:
            return
        view = self._views.get(stream.job_id)
        if view is not None:
            view.streams.discard(key)
            if not view.streams:
                del self._views[stream.job_id]

    def _job_streams(self, job_id: str) -> list[Stream]:
        view = self._views.get(job_id)
        return [] if view is None else [self._streams[key] for key in list(view.streams) if key in self._streams]
