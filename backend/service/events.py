"""News from the intake and worker threads to the ROUTER loop, over an inproc ZeroMQ socket.

The loop owns the client socket and must never wait on work, so the threads doing work tell it what
happened (a frame is on disk, a job finished, a submit was admitted or refused, a job was deleted) and
the loop decides whom to tell. Each kind of news is one frozen dataclass; the loop dispatches on the
type. Each thread creates its own sender (ZeroMQ sockets belong to one thread); an event travels as a
msgpack list (its kind, then its fields in order) and only ever comes from inside this process.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import msgpack
import zmq

ADDRESS = "inproc://tpc-backend-events"


@dataclass(frozen=True)
class FrameWritten:
    """Frame ``index`` of a job is on disk and journaled."""

    job_id: str
    index: int


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    fraction: float
    message: str


@dataclass(frozen=True)
class JobFinished:
    """A worker let go of a job (done, failed, cancelled, paused or handed back to the queue)."""

    job_id: str


@dataclass(frozen=True)
class SubmitAdmitted:
    """The intake journaled (or found) the job of a submit; its client can follow it from ``start``."""

    identity: bytes
    req: int | None
    job_id: str
    start: int


@dataclass(frozen=True)
class RequestRefused:
    """The intake refused a submit or a delete; ``identity`` None: a delete the backend asked itself."""

    identity: bytes | None
    req: int | None
    job_id: str | None
    code: str
    message: str


@dataclass(frozen=True)
class JobDeleted:
    identity: bytes | None
    req: int | None
    job_id: str
    status: dict
    freed: int


Event = FrameWritten | JobProgress | JobFinished | SubmitAdmitted | RequestRefused | JobDeleted
_KINDS: dict[str, type] = {
    kind.__name__: kind for kind in (FrameWritten, JobProgress, JobFinished, SubmitAdmitted, RequestRefused, JobDeleted)
}
_FIELDS: dict[type, tuple[str, ...]] = {kind: tuple(f.name for f in fields(kind)) for kind in _KINDS.values()}


def encode(event: Event) -> bytes:
    kind = type(event)
    return msgpack.packb([kind.__name__, *(getattr(event, name) for name in _FIELDS[kind])], use_bin_type=True)


def decode(data: bytes) -> Event:
    kind, *values = msgpack.unpackb(data, raw=False)
    return _KINDS[kind](*values)


class EventSender:
    """One thread's end of the channel."""

    def __init__(self, context: zmq.Context) -> None:
        self._socket = context.socket(zmq.PUSH)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(ADDRESS)

    def send(self, event: Event) -> None:
        self._socket.send(encode(event))

    def close(self) -> None:
        self._socket.close()


def bind_receiver(context: zmq.Context) -> zmq.Socket:
    socket = context.socket(zmq.PULL)
    socket.setsockopt(zmq.LINGER, 0)
    socket.bind(ADDRESS)
    return socket
