"""ZeroMQ settings and bounded receiving, shared by the client and the backend.

ZeroMQ delivers a multipart message whole, and ``ZMQ_MAXMSGSIZE`` bounds each part, not how many
parts there are; :func:`receive` therefore reads parts one at a time and keeps at most
:data:`~tpc_protocol.limits.MAX_PARTS` of them and :data:`~tpc_protocol.limits.MAX_MESSAGE_BYTES`,
dropping the rest of an oversized message instead of holding it.
"""

from __future__ import annotations

import zmq

from .limits import MAX_HEADER_BYTES, MAX_MESSAGE_BYTES, MAX_PART_BYTES, MAX_PARTS


def apply_limits(socket: zmq.Socket) -> None:
    """Refuse oversized parts at the transport, and never wait on unsent messages at close."""
    socket.setsockopt(zmq.MAXMSGSIZE, MAX_PART_BYTES)
    socket.setsockopt(zmq.LINGER, 0)


def receive(socket: zmq.Socket, envelope_parts: int = 0, flags: int = 0, copy: bool = True) -> tuple[list, bool]:
    """One whole message as a list of parts, and whether it was cut for exceeding the limits.

    ``envelope_parts`` are routing parts before the message (1 for a ROUTER's peer identity); they are
    kept and not counted. A cut message keeps its envelope and header so the sender can be answered.
    ``flags=zmq.NOBLOCK`` raises zmq.Again when no message is waiting. With ``copy=False`` the parts
    are memoryviews of ZeroMQ's own buffers (no copy, and no fresh memory per part).
    """
    first = socket.recv(flags, copy=copy)
    parts = [first if copy else first.buffer]
    more = socket.getsockopt(zmq.RCVMORE) if copy else first.more
    limit = envelope_parts + MAX_PARTS
    total = 0
    cut = False
    while more:
        part = socket.recv(copy=copy)
        more = socket.getsockopt(zmq.RCVMORE) if copy else part.more
        if cut:
            continue
        total += len(part)
        if len(parts) >= limit or total > MAX_MESSAGE_BYTES + MAX_HEADER_BYTES:
            cut = True
            del parts[envelope_parts + 1 :]
            continue
        parts.append(part if copy else part.buffer)
    return parts, cut
