"""Messages to ZeroMQ multipart frames and back: a msgpack header, then raw buffers. Never pickle.

Layout: part 0 is a msgpack map ``{"v": version, "type": name, "req": request id, <header fields>,
"buffers": {name: [size, ...]}}``; the raw buffers follow in the order of the message's ``WIRE``
(images and JSON documents travel untouched, so large ones are sent without copies). Decoding checks,
in this order and before looking inside any payload: the header's size, its msgpack structure
(bounded lengths, no extension types), the version, the type, every field against
:mod:`tpc_protocol.messages`, and the declared buffer sizes against the limits and against the
parts actually received. Anything off raises :class:`MessageError` with a sentence and, when they
could be read, the request id and job id, so the reply can name what it answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import msgpack

from .errors import BAD_JOB_ID, BAD_MESSAGE, TOO_LARGE, VERSION_MISMATCH, MessageError
from .limits import MAX_FRAMES, MAX_HEADER_BYTES, MAX_MESSAGE_BYTES, MAX_PART_BYTES, MAX_REQUEST_ID, MAX_TEXT_CHARS
from .messages import BUFFER, BUFFER_LIST, HEADER, MESSAGE_TYPES, OPTIONAL_BUFFER, JobError, check_job_id
from .version import PROTOCOL_VERSION

_ENVELOPE_KEYS = ("v", "type", "req", "buffers")
_BYTES = (bytes, bytearray, memoryview)


@dataclass(frozen=True)
class Envelope:
    """A decoded message with its protocol version and request id."""

    version: int
    req: int | None
    message: Any


# -- encoding -----------------------------------------------------------------------------------------
def check(message: Any) -> None:
    """Raise ValueError with a sentence when a message we are about to send breaks the rules."""
    _layout(message)


def encode(message: Any, req: int | None = None) -> list[Any]:
    """The multipart frames of ``message`` (header first; buffers are passed through, not copied)."""
    header, buffers = _layout(message)
    if req is not None and (isinstance(req, bool) or not isinstance(req, int) or not 0 <= req <= MAX_REQUEST_ID):
        raise ValueError(f"request id must be a whole number from 0 to {MAX_REQUEST_ID}, got {req!r}")
    header["req"] = req
    packed = msgpack.packb(header, use_bin_type=True)
    if len(packed) > MAX_HEADER_BYTES:
        raise ValueError(f"the {message.TYPE} header takes {len(packed)} bytes, more than the {MAX_HEADER_BYTES} allowed")
    return [packed, *buffers]


def _layout(message: Any) -> tuple[dict, list]:
    cls = type(message)
    if MESSAGE_TYPES.get(getattr(cls, "TYPE", None)) is not cls:
        raise ValueError(f"{cls.__name__} is not a tpc_protocol message")
    header: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": cls.TYPE}
    sizes: dict[str, list[int]] = {}
    buffers: list[Any] = []
    for wire in cls.WIRE:
        value = getattr(message, wire.attr)
        what = f"{cls.TYPE} {wire.attr}"
        if wire.kind == HEADER:
            try:
                header[wire.key] = wire.check(value)
            except ValueError as error:
                raise ValueError(f"{what} {error}") from None
            continue
        if value is None and wire.kind in (OPTIONAL_BUFFER, BUFFER_LIST):
            continue
        items = list(value) if wire.kind == BUFFER_LIST else [value]
        if wire.kind == BUFFER_LIST and not isinstance(value, (list, tuple)):
            raise ValueError(f"{what} must be a list of bytes, got {type(value).__name__}")
        if len(items) > MAX_FRAMES:
            raise ValueError(f"{what} has {len(items)} buffers; at most {MAX_FRAMES} are allowed")
        for item in items:
            if not isinstance(item, _BYTES):
                raise ValueError(f"{what} must be bytes, got {type(item).__name__}")
            if len(item) > MAX_PART_BYTES:
                raise ValueError(f"{what} is {len(item)} bytes; at most {MAX_PART_BYTES} are allowed per buffer")
        sizes[wire.key] = [len(item) for item in items]
        buffers += items
    if sum(len(b) for b in buffers) > MAX_MESSAGE_BYTES:
        raise ValueError(f"the {cls.TYPE} message is larger than {MAX_MESSAGE_BYTES} bytes")
    if sizes:
        header["buffers"] = sizes
    return header, buffers


# -- decoding -----------------------------------------------------------------------------------------
def decode(parts: Sequence[Any], *, side: str = "backend") -> Envelope:
    """Check and decode received parts; ``side`` names us in version sentences.

    Buffers come out as the parts went in (bytes, or memoryviews for zero-copy receiving).
    """
    if not parts:
        raise MessageError("the message is empty")
    header = _unpack_header(parts[0])
    req = _request_id(header)
    job_id = _job_id(header)

    def fail(sentence: str, code: str = BAD_MESSAGE) -> MessageError:
        return MessageError(sentence, code, req, job_id)

    version = header.get("v")
    if isinstance(version, bool) or not isinstance(version, int):
        raise fail(f"the header's 'v' must be the protocol version number, got {_short(version)}")
    if version != PROTOCOL_VERSION:
        error = _lenient_error(header)
        if error is not None:  # the other side's sentence is the most useful thing to show
            return Envelope(version, req, error)
        other = "client" if side == "backend" else "backend"
        raise fail(
            f"the {other} speaks protocol version {version} but this {side} speaks version {PROTOCOL_VERSION}; "
            "install the same TPC Animate release on both sides",
            VERSION_MISMATCH,
        )
    kind = header.get("type")
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise fail(f"unknown message type {_short(kind)} (known: {', '.join(MESSAGE_TYPES)})")
    if "req" in header and header["req"] is not None and req is None:
        raise fail(f"the header's 'req' must be a whole number from 0 to {MAX_REQUEST_ID}, got {_short(header['req'])}")
    allowed = set(_ENVELOPE_KEYS) | {w.key for w in cls.WIRE if w.kind == HEADER}
    unknown = [key for key in header if key not in allowed]
    if unknown:
        raise fail(f"a {kind} message has no field {_short(unknown[0])}")

    fields: dict[str, Any] = {}
    for wire in cls.WIRE:
        if wire.kind == HEADER:
            try:
                fields[wire.attr] = wire.check(header.get(wire.key))
            except ValueError as error:
                code = BAD_JOB_ID if wire.check is check_job_id else BAD_MESSAGE
                raise fail(f"the {kind} field {wire.key!r} {error}", code) from None
    fields.update(_buffers(cls, header.get("buffers", {}), parts[1:], fail))
    return Envelope(version, req, cls(**fields))


def peek_ids(header: Any) -> tuple[int | None, str | None]:
    """Request id and job id of a header part, when they can be read (for replies to broken messages)."""
    try:
        unpacked = _unpack_header(header)
    except MessageError:
        return None, None
    return _request_id(unpacked), _job_id(unpacked)


def _unpack_header(part: Any) -> dict:
    size = len(part)
    if size > MAX_HEADER_BYTES:
        raise MessageError(f"the header is {size} bytes; at most {MAX_HEADER_BYTES} are allowed", TOO_LARGE)
    data = part if isinstance(part, bytes) else bytes(part)
    try:
        header = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_ext_len=0,
            max_map_len=64,
            max_array_len=MAX_FRAMES + 8,
            max_str_len=MAX_HEADER_BYTES,
            max_bin_len=0,
        )
    except Exception:  # msgpack raises several types (ExtraData, StackError, ValueError, ...)
        raise MessageError("the header is not a msgpack map (is this client speaking the TPC Animate protocol?)") from None
    if not isinstance(header, dict):
        raise MessageError(f"the header must be a msgpack map, got {type(header).__name__}")
    return header


def _request_id(header: dict) -> int | None:
    req = header.get("req")
    if isinstance(req, int) and not isinstance(req, bool) and 0 <= req <= MAX_REQUEST_ID:
        return req
    return None


def _job_id(header: dict) -> str | None:
    try:
        return check_job_id(header.get("job"))
    except ValueError:
        return None


def _lenient_error(header: dict) -> JobError | None:
    """An ERROR from another protocol version, read by the fields every version keeps."""
    if header.get("type") != "error":
        return None
    code, message = header.get("code"), header.get("message")
    if isinstance(code, str) and isinstance(message, str):
        return JobError(_job_id(header), code[:40], message[:MAX_TEXT_CHARS])
    return None


def _buffers(cls: type, declared: Any, parts: Sequence[Any], fail) -> dict[str, Any]:
    wires = [w for w in cls.WIRE if w.kind != HEADER]
    if not isinstance(declared, dict):
        raise fail(f"the header's 'buffers' must map buffer names to lists of sizes, got {_short(declared)}")
    names = {w.key for w in wires}
    for key in declared:
        if key not in names:
            raise fail(f"a {cls.TYPE} message has no buffer {_short(key)}")
    plan: list[tuple[Any, list[int]]] = []
    total = 0
    for wire in wires:
        sizes = declared.get(wire.key, [])
        if not isinstance(sizes, list):
            raise fail(f"buffer {wire.key!r} must be declared as a list of sizes, got {_short(sizes)}")
        low, high = {BUFFER: (1, 1), OPTIONAL_BUFFER: (0, 1), BUFFER_LIST: (0, MAX_FRAMES)}[wire.kind]
        if not low <= len(sizes) <= high:
            wanted = low if low == high else f"{low} to {high}"
            raise fail(f"a {cls.TYPE} message needs {wanted} {wire.key!r} buffer(s), got {len(sizes)}")
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise fail(f"buffer {wire.key!r} declares a size that is not a byte count: {_short(size)}")
            if size > MAX_PART_BYTES:
                raise fail(f"buffer {wire.key!r} declares {size} bytes; at most {MAX_PART_BYTES} are allowed", TOO_LARGE)
            total += size
        plan.append((wire, sizes))
    if total > MAX_MESSAGE_BYTES:
        raise fail(f"the buffers declare {total} bytes together; at most {MAX_MESSAGE_BYTES} are allowed", TOO_LARGE)
    count = sum(len(sizes) for _, sizes in plan)
    if count != len(parts):
        raise fail(f"the header declares {count} buffers but {len(parts)} followed it (a truncated or padded message)")
    fields: dict[str, Any] = {}
    at = 0
    for wire, sizes in plan:
        values = []
        for size in sizes:
            part = parts[at]
            if len(part) != size:
                raise fail(f"buffer {wire.key!r} declares {size} bytes but carries {len(part)}")
            values.append(part)
            at += 1
        if wire.kind == BUFFER:
            fields[wire.attr] = values[0]
        elif wire.kind == OPTIONAL_BUFFER:
            fields[wire.attr] = values[0] if values else None
        elif wire.key in declared:
            fields[wire.attr] = tuple(values)
        else:
            fields[wire.attr] = None
    return fields


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
