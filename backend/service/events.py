"""News from the intake and worker threads to the ROUTER loop, over an inproc ZeroMQ socket.

The loop owns the client socket and must never wait on work, so the threads doing work tell it what
happened (a frame is on disk, a job finished, a submit was admitted or refused, a job was deleted) and the loop decides
whom to tell. Each thread creates its own sender (ZeroMQ sockets belong to one thread); the events
are small msgpack lists, and only ever come from inside this process.
"""

from __future__ import annotations

from typing import Any

import msgpack
import zmq

ADDRESS = "inproc://tpc-backend-events"

FRAME, PROGRESS, FINISHED, ADMITTED, REFUSED, DELETED = "frame", "progress", "finished", "admitted", "refused", "deleted"


class EventSender:
    """One thread's end of the channel."""

    def __init__(self, context: zmq.Context) -> None:
        self._socket = context.socket(zmq.PUSH)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(ADDRESS)

    def _send(self, *event: Any) -> None:
        self._socket.send(msgpack.packb(event, use_bin_type=True))

    def frame(self, job_id: str, index: int) -> None:
        self._send(FRAME, job_id, index)

    def progress(self, job_id: str, fraction: float, message: str) -> None:
        self._send(PROGRESS, job_id, fraction, message)

    def finished(self, job_id: str) -> None:
        self._send(FINISHED, job_id)

    def admitted(self, identity: bytes, req: int | None, job_id: str, start: int) -> None:
        self._send(ADMITTED, identity, req, job_id, start)

    def refused(self, identity: bytes | None, req: int | None, job_id: str | None, code: str, message: str) -> None:
        self._send(REFUSED, identity, req, job_id, code, message)

    def deleted(self, identity: bytes | None, req: int | None, job_id: str, status: dict, freed: int) -> None:
        self._send(DELETED, identity, req, job_id, status, freed)

    def close(self) -> None:
        self._socket.close()


def bind_receiver(context: zmq.Context) -> zmq.Socket:
    socket = context.socket(zmq.PULL)
    socket.setsockopt(zmq.LINGER, 0)
    socket.bind(ADDRESS)
    return socket


def decode(data: bytes) -> list:
    return msgpack.unpackb(data, raw=False)
