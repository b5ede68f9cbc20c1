"""JobClient: submit, follow, cancel and query jobs on a TPC Animate backend.

Made for callers that must never hang: the Blender add-on consumes a job's events from a worker
thread while Blender's UI thread may call :meth:`JobClient.close` or :meth:`JobClient.cancel` at any
time. So every request gets its own DEALER socket, created and closed by the thread that runs the
request (ZeroMQ sockets are not thread-safe; the context is); a receive waits at most 50 ms
(``ZMQ_RCVTIMEO``), so ``close()`` is noticed that soon; and silence longer than ``timeout`` (the
backend sends heartbeats on quiet streams) raises :class:`BackendUnreachable` instead of waiting forever.

Frames are handed out without copying: each :class:`Frame`'s ``png`` is a memoryview of the buffer
ZeroMQ received it into, since copying every frame into fresh ``bytes`` was most of a stream's cost.

A stream survives a backend restart: its heartbeats carry the job id and the next frame index the
client expects, and a backend that does not know the stream (it restarted, or forgot a client that
stopped reading for a while) takes such a heartbeat as a request to resume it from that frame.
Frames that arrive twice are dropped here, so the caller sees every frame once, in order.

Error behaviour: a terminal ERROR is raised from the generator as :class:`JobFailed` (``code`` and
the backend's sentence); the :class:`JobError` event itself is never yielded. ``close()`` ends a
running generator quietly, without a :class:`Done`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import zmq

from . import codec
from .errors import BackendUnreachable, ErrorCode, JobFailed, MessageError, ProtocolError, VersionMismatch
from .keys import curve_key_problem
from .limits import ACK_EVERY, HEARTBEAT_INTERVAL
from .messages import (
    Accepted,
    Attach,
    Cancel,
    Delete,
    Done,
    Event,
    Frame,
    Frames,
    Heartbeat,
    Hello,
    JobError,
    Progress,
    Report,
    Status,
    Submit,
)
from .transport import apply_limits, receive, send
from .version import PROTOCOL_VERSION

_POLL_SLICE = 0.05  # seconds: how soon a blocked wait notices close()

__all__ = ["JobClient", "BackendUnreachable", "VersionMismatch", "JobFailed", "ProtocolError"]


class JobClient:
    """A connection to one backend; safe to share between threads (one generator per thread)."""

    def __init__(
        self,
        address: str,
        server_public_key: str | None = None,
        client_keypair: tuple[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not isinstance(address, str) or "://" not in address:
            raise ValueError(f"backend address must look like tcp://HOST:PORT, got {address!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if (server_public_key is None) != (client_keypair is None):
            raise ValueError("CURVE needs both the server's public key and this client's key pair")
        keys = None
        if server_public_key is not None and client_keypair is not None:
            public, secret = client_keypair
            keys = (
                _z85_key(server_public_key, "server public key"),
                _z85_key(public, "client public key"),
                _z85_key(secret, "client secret key"),
            )
        self.address = address
        self.timeout = float(timeout)
        self._keys = keys
        self._context = zmq.Context()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open_sockets = 0
        self._request_ids = itertools.count(1)

    # -- requests -------------------------------------------------------------------------------------
    def hello(self) -> dict:
        """The backend's ``version``, ``engines`` (those jobs can use), ``unavailable`` (engine -> why
        not) and ``default_engine``; checks the versions match."""
        info = dict(self._call(Hello(client=f"tpc_protocol {PROTOCOL_VERSION}")).result)
        if info.get("version") != PROTOCOL_VERSION:
            raise VersionMismatch(
                f"the backend at {self.address} speaks protocol version {info.get('version')} but this client "
                f"speaks version {PROTOCOL_VERSION}; install the same TPC Animate release on both sides"
            )
        return info

    def submit(
        self,
        job_id: str,
        reference_image: bytes,
        poses: dict | None = None,
        settings: dict | None = None,
        reference_keypoints: dict | None = None,
        reference_mask: bytes | None = None,
        target_masks: list[bytes] | None = None,
        start_frame: int = 0,
        *,
        pose_documents: list[tuple[str, bytes]] | None = None,
        canvas: tuple[int, int] | None = None,
        fps: float | None = None,
    ) -> Iterator[Event]:
        """Send a job (or attach to it, if the id exists with the same inputs) and follow it.

        The poses are either ``poses``, a PoseSequence document, or ``pose_documents``, pose files as
        they are: ``[(file name, bytes), ...]`` of OpenPose frames (in any order; the backend orders
        them by name), one COCO keypoint file or one PoseSequence file. ``canvas`` = (width, height)
        and ``fps`` are for files that do not state them (OpenPose files never record the picture size).

        Arguments are checked now (ValueError with a sentence); the returned generator connects on
        its first ``next()`` and yields Accepted, Progress, Frame (from ``start_frame``), Report,
        then Done; it raises JobFailed on a terminal ERROR.
        """
        request = Submit(
            job_id=job_id,
            reference_image=reference_image,
            poses=None if poses is None else _json_document(poses, "poses"),
            settings=dict(settings or {}),
            reference_keypoints=None if reference_keypoints is None else _json_document(reference_keypoints, "reference_keypoints"),
            reference_mask=reference_mask,
            target_masks=None if target_masks is None else tuple(target_masks),
            start_frame=start_frame,
            pose_documents=None if pose_documents is None else _pairs(pose_documents),
            pose_canvas=None if canvas is None else tuple(canvas),
            pose_fps=fps,
        )
        codec.check(request)
        return self._stream(request, job_id, start_frame)

    def attach(self, job_id: str, start_frame: int = 0) -> Iterator[Event]:
        """Follow an existing job from ``start_frame``: the same events as :meth:`submit`."""
        request = Attach(job_id=job_id, start_frame=start_frame)
        codec.check(request)
        return self._stream(request, job_id, start_frame)

    def cancel(self, job_id: str) -> dict:
        """Cancel a job; returns its status once the backend has recorded the cancellation."""
        return self._call(Cancel(job_id=job_id)).result["job"]

    def delete(self, job_id: str) -> dict:
        """Remove a finished job from the backend (frames, report, inputs, journal); returns
        ``{"job": its last status, "freed_bytes": n}``. A queued or running job must be cancelled first
        (JobFailed with code ``job_active`` otherwise)."""
        return dict(self._call(Delete(job_id=job_id)).result)

    def status(self, job_id: str | None = None) -> dict | list[dict]:
        """One job's status dict (state, done, total, ...), or a list of the newest jobs' ones."""
        result = self._call(Status(job_id=job_id)).result
        return result["job"] if job_id is not None else result["jobs"]

    def close(self) -> None:
        """Stop every request of this client (from any thread); running generators end quietly."""
        with self._lock:
            self._closed.set()
            if self._open_sockets == 0:
                self._context.term()

    def __enter__(self) -> JobClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------------
    def _call(self, request: Any) -> Done:
        codec.check(request)
        with self._channel() as channel:
            req = channel.send(request)
            while True:
                envelope = channel.receive(req)
                if envelope is None:
                    raise ProtocolError("the client was closed before the backend answered")
                message = envelope.message
                if isinstance(message, JobError):
                    raise _failure(message)
                if isinstance(message, Done):
                    return message
                raise ProtocolError(f"the backend answered a {request.TYPE} request with a {message.TYPE} message")

    def _stream(self, request: Any, job_id: str, start_frame: int) -> Iterator[Event]:
        with self._channel() as channel:
            req = channel.send(request)
            expected = acknowledged = start_frame
            accepted = False
            while True:
                envelope = channel.receive(req, job_id, expected)
                if envelope is None:
                    return
                event = envelope.message
                if event.job_id != job_id and not (event.job_id is None and isinstance(event, JobError)):
                    raise ProtocolError(f"the backend sent a message about job {event.job_id!r} on the stream of job {job_id!r}")
                if type(event) is Frames:
                    if event.first > expected:
                        raise ProtocolError(f"the backend sent frame {event.first} while frame {expected} was due")
                    first, end = expected, event.first + len(event.pngs)
                    if end <= first:
                        continue  # frames sent again after a resume are dropped
                    expected = end
                    if expected - acknowledged >= ACK_EVERY:
                        channel.send(Heartbeat(job_id, expected), req)
                        acknowledged = expected
                    for index in range(first, end):
                        yield Frame(job_id, index, event.pngs[index - event.first])
                    continue
                if isinstance(event, JobError):
                    raise _failure(event)
                if isinstance(event, Accepted):
                    if accepted:
                        continue  # the backend restarted and confirmed the job again
                    accepted = True
                elif isinstance(event, Report):
                    event = Report(job_id, bytes(event.report_json_bytes), bytes(event.report_png))
                elif not isinstance(event, (Progress, Done)):
                    raise ProtocolError(f"the backend sent a {event.TYPE} message on a job's stream")
                yield event
                if isinstance(event, Done):
                    return

    @contextmanager
    def _channel(self) -> Iterator[_Channel]:
        with self._lock:
            if self._closed.is_set():
                raise ProtocolError("this JobClient is closed")
            socket = self._context.socket(zmq.DEALER)
            self._open_sockets += 1
        try:
            apply_limits(socket)
            socket.setsockopt(zmq.SNDTIMEO, int(self.timeout * 1000))
            socket.setsockopt(zmq.RCVTIMEO, int(_POLL_SLICE * 1000))  # one call a message: no poll, no exception
            if self._keys is not None:
                socket.curve_serverkey, socket.curve_publickey, socket.curve_secretkey = (k.encode() for k in self._keys)
            try:
                socket.connect(self.address)
            except zmq.ZMQError as error:
                raise BackendUnreachable(f"cannot connect to the backend at {self.address} ({error})") from None
            yield _Channel(self, socket)
        finally:
            socket.close(linger=0)
            with self._lock:
                self._open_sockets -= 1
                if self._closed.is_set() and self._open_sockets == 0:
                    self._context.term()


class _Channel:
    """One request's socket: sends with heartbeats, receives with the client's timeout and close()."""

    def __init__(self, client: JobClient, socket: zmq.Socket) -> None:
        self.client = client
        self.socket = socket
        self.last_sent = 0.0

    def send(self, message: Any, req: int | None = None) -> int:
        req = next(self.client._request_ids) if req is None else req
        try:
            send(self.socket, codec.encode(message, req))
        except zmq.Again:
            raise self._unreachable() from None
        self.last_sent = time.monotonic()
        return req

    def receive(self, req: int, job_id: str | None = None, ack: int | None = None) -> codec.Envelope | None:
        """The next message for ``req``, or None once the client is closed.

        Heartbeats are absorbed; on a stream (``job_id``) ours go out while the backend is quiet,
        acknowledging frames up to ``ack``.
        """
        client = self.client
        deadline = time.monotonic() + client.timeout
        while not client._closed.is_set():
            now = time.monotonic()
            if job_id is not None and now - self.last_sent >= HEARTBEAT_INTERVAL:
                self.send(Heartbeat(job_id, ack), req)
            if now >= deadline:
                raise self._unreachable()
            try:
                frames, cut = receive(self.socket, copy=False)  # waits at most _POLL_SLICE (RCVTIMEO)
            except zmq.Again:
                continue
            if cut:
                raise ProtocolError(f"the backend at {client.address} sent a message larger than the protocol allows")
            try:
                envelope = codec.decode(frames, side="client")
            except MessageError as error:
                if error.code == ErrorCode.VERSION_MISMATCH:
                    raise VersionMismatch(str(error)) from None
                raise ProtocolError(f"the backend at {client.address} sent a message this client cannot read: {error}") from None
            if envelope.req not in (req, None):
                continue  # a late answer to an earlier request on this socket
            if type(envelope.message) is not Heartbeat:
                return envelope
            deadline = time.monotonic() + client.timeout
        return None

    def _unreachable(self) -> BackendUnreachable:
        return BackendUnreachable(
            f"no answer from the backend at {self.client.address} within {self.client.timeout:g} s; check that "
            "`tpc-backend serve` runs there and the address is right (with CURVE keys, also that the server key "
            "is right and this client's public key is on the backend's allow-list)"
        )


def _failure(error: JobError) -> ProtocolError:
    if error.code == ErrorCode.VERSION_MISMATCH:
        return VersionMismatch(error.message)
    return JobFailed(error.code, error.message, error.job_id)


def _pairs(documents: Any) -> Any:
    """Pose documents as a tuple of (name, bytes) pairs; anything else is left for the codec to refuse."""
    if isinstance(documents, (list, tuple)) and all(isinstance(item, (list, tuple)) and len(item) == 2 for item in documents):
        return tuple((name, data) for name, data in documents)
    return documents


def _json_document(document: Any, what: str) -> bytes:
    if not isinstance(document, dict):
        raise ValueError(f"{what} must be a PoseSequence document (a dict), got {type(document).__name__}")
    try:
        return json.dumps(document).encode()
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} cannot be written as JSON ({error})") from None


def _z85_key(key: Any, what: str) -> str:
    problem = curve_key_problem(key)
    if problem is not None:
        raise ValueError(f"the {what} must be a 40-character Z85 CURVE key ({problem}), got {key!r}")
    return key.decode("ascii") if isinstance(key, bytes) else key
