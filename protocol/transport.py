"""ZeroMQ settings, sending, and bounded receiving, shared by the client and the backend.

ZeroMQ delivers a multipart message whole, and ``ZMQ_MAXMSGSIZE`` bounds each part, not how many
parts there are; :func:`receive` therefore reads parts one at a time and keeps at most
:data:`~tpc_protocol.limits.MAX_PARTS` of them and :data:`~tpc_protocol.limits.MAX_MESSAGE_BYTES`,
dropping the rest of an oversized message instead of holding it.

:func:`send` is ``send_multipart`` without its per-part work (flag arithmetic on enums costs about
2 us a part, which a stream of frames pays for every frame).
"""

from __future__ import annotations

import zmq

from .limits import MAX_HEADER_BYTES, MAX_MESSAGE_BYTES, MAX_PART_BYTES, MAX_PARTS


def apply_limits(socket: zmq.Socket) -> None:
    """Refuse oversized parts at the transport, and never wait on unsent messages at close."""
    socket.setsockopt(zmq.MAXMSGSIZE, MAX_PART_BYTES)
    socket.setsockopt(zmq.LINGER, 0)


_MORE = int(zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)


def send(socket: zmq.Socket, parts: list, flags: int = 0) -> None:
    """Send a multipart message; buffers of pyzmq's ``copy_threshold`` (64 KiB) or more are not copied.

    As with ``send_multipart``, ZeroMQ accepts the remaining parts once it has accepted the first,
    so a full queue (``zmq.Again`` with ``zmq.NOBLOCK``) or a vanished peer raises before anything is sent.
    """
    flags = int(flags)
    more = flags | _MORE
    last = len(parts) - 1
    for index in range(last):
        socket.send(parts[index], more, copy=False)
    socket.send(parts[last], flags, copy=False)


def receive(socket: zmq.Socket, envelope_parts: int = 0, flags: int = 0, copy: bool = True) -> tuple[list, bool]:
    """One whole message as a list of parts, and whether it was cut for exceeding the limits.

    ``envelope_parts`` are routing parts before the message (1 for a ROUTER's peer identity); they are
    kept and not counted. A cut message keeps its envelope and header so the sender can be answered.
    ``flags=zmq.NOBLOCK`` raises zmq.Again when no message is waiting. With ``copy=False`` the parts
    are memoryviews of ZeroMQ's own buffers (no copy, and no fresh memory per part).
    """
    first = socket.recv(flags, copy=copy)
    parts = [first if copy else first.buffer]
    more = socket.getsockopt(_RCVMORE) if copy else first.more
    limit = envelope_parts + MAX_PARTS
    total = 0
    cut = False
    while more:
        part = socket.recv(copy=copy)
        more = socket.getsockopt(_RCVMORE) if copy else part.more
        if cut:
            continue
        total += len(part)
        if len(parts) >= limit or total > MAX_MESSAGE_BYTES + MAX_HEADER_BYTES:
            cut = True
            del parts[envelope_parts + 1 :]
            continue
        parts.append(part if copy else part.buffer)
    return parts, cut
