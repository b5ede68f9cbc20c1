"""Messages to ZeroMQ multipart frames and back: a msgpack header, then raw buffers. Never pickle.

Layout: part 0 is a msgpack map ``{"v": version, "type": name, "req": request id, <header fields>,
"buffers": {name: [size, ...]}}``; the raw buffers follow in the order of the message's ``WIRE``
(images and JSON documents travel untouched, so large ones are sent without copies). Decoding checks,
in this order and before looking inside any payload: the header's size, its msgpack structure
(bounded lengths, no extension types), the version, the type, every field against
:mod:`tpc_protocol.messages`, the declared buffer sizes against the limits and against the parts
actually received, and how the fields go together. Anything off raises :class:`MessageError` with a
sentence and, when they could be read, the request id and job id, so the reply can name what it answers.

A stream decodes one message per frame or two, so each message type's layout is worked out once, at
import, and the checks run straight through it: decoding a frame's header costs a few microseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgpack

from .errors import ErrorCode, MessageError
from .limits import MAX_FRAMES, MAX_HEADER_BYTES, MAX_MESSAGE_BYTES, MAX_PART_BYTES, MAX_REQUEST_ID, MAX_TEXT_CHARS
from .messages import BUFFER, BUFFER_LIST, HEADER, MESSAGE_TYPES, NAMED_BUFFER_LIST, OPTIONAL_BUFFER, JobError, Wire, check_job_id
from .version import PROTOCOL_VERSION

_ENVELOPE_KEYS = ("v", "type", "req", "buffers")
_BYTES = (bytes, bytearray, memoryview)
_COUNTS = {BUFFER: (1, 1), OPTIONAL_BUFFER: (0, 1), BUFFER_LIST: (0, MAX_FRAMES), NAMED_BUFFER_LIST: (0, MAX_FRAMES)}
_ABSENT = object()
_TOO_LARGE_HINTS = {
    "submit": " (the names of pose files travel in it: send fewer files, or convert them into one PoseSequence with `tpc pose`)"
}
_packers = threading.local()  # msgpack.packb builds a Packer per call; each thread keeps one instead


@dataclass(frozen=True)
class Envelope:
    """A decoded message with its protocol version and request id."""

    version: int
    req: int | None
    message: Any


class _Layout(NamedTuple):
    """One message type's wire layout, worked out once."""

    header: tuple[Wire, ...]  # fields that travel in the header
    buffers: tuple[Wire, ...]  # fields that travel as buffers (a named list's names travel in the header too)
    header_keys: frozenset[str]  # every key a header of this type may hold
    buffer_keys: frozenset[str]
    together: Callable[[dict], None] | None  # the type's rule of how its fields go together


def _layout_of(cls: type) -> _Layout:
    header = tuple(w for w in cls.WIRE if w.kind == HEADER)
    buffers = tuple(w for w in cls.WIRE if w.kind != HEADER)
    named = {w.key for w in buffers if w.kind == NAMED_BUFFER_LIST}
    keys = frozenset({*_ENVELOPE_KEYS, *(w.key for w in header), *named})
    return _Layout(header, buffers, keys, frozenset(w.key for w in buffers), getattr(cls, "check_together", None))


_LAYOUTS: dict[type, _Layout] = {cls: _layout_of(cls) for cls in MESSAGE_TYPES.values()}


# -- encoding -----------------------------------------------------------------------------------------
def check(message: Any) -> None:
    """Raise ValueError with a sentence when a message we are about to send breaks the rules."""
    encode(message)


def encode(message: Any, req: int | None = None) -> list[Any]:
    """The multipart frames of ``message`` (header first; buffers are passed through, not copied)."""
    header, buffers = _to_wire(message)
    if req is not None and (type(req) is not int or not 0 <= req <= MAX_REQUEST_ID):
        raise ValueError(f"request id must be a whole number from 0 to {MAX_REQUEST_ID}, got {req!r}")
    header["req"] = req
    packer = getattr(_packers, "packer", None)
    if packer is None:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True)
    packed = packer.pack(header)
    if len(packed) > MAX_HEADER_BYTES:
        hint = _TOO_LARGE_HINTS.get(message.TYPE, "")
        raise ValueError(f"the {message.TYPE} header takes {len(packed)} bytes, more than the {MAX_HEADER_BYTES} allowed{hint}")
    buffers.insert(0, packed)
    return buffers


def _to_wire(message: Any) -> tuple[dict, list]:
    cls = type(message)
    layout = _LAYOUTS.get(cls)
    if layout is None:
        raise ValueError(f"{cls.__name__} is not a tpc_protocol message")
    kind = cls.TYPE
    header: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": kind}
    for wire in layout.header:
        try:
            header[wire.key] = wire.check(getattr(message, wire.attr))
        except ValueError as error:
            raise ValueError(f"{kind} {wire.attr} {error}") from None
    sizes: dict[str, list[int]] = {}
    buffers: list[Any] = []
    total = 0
    for wire in layout.buffers:
        value = getattr(message, wire.attr)
        what = f"{kind} {wire.attr}"
        if value is None and wire.kind != BUFFER:
            continue
        if wire.kind == NAMED_BUFFER_LIST:
            if not isinstance(value, (list, tuple)) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
                raise ValueError(f"{what} must be a list of (file name, bytes) pairs, got {type(value).__name__}")
            try:
                header[wire.key] = wire.check([name for name, _ in value])
            except ValueError as error:
                raise ValueError(f"{what} {error}") from None
            items = [data for _, data in value]
        elif wire.kind == BUFFER_LIST:
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"{what} must be a list of bytes, got {type(value).__name__}")
            items = list(value)
        else:
            items = [value]
        if len(items) > MAX_FRAMES:
            raise ValueError(f"{what} has {len(items)} buffers; at most {MAX_FRAMES} are allowed")
        item_sizes = []
        for item in items:
            if not isinstance(item, _BYTES):
                raise ValueError(f"{what} must be bytes, got {type(item).__name__}")
            size = len(item) if type(item) is bytes else memoryview(item).nbytes
            if size > MAX_PART_BYTES:
                raise ValueError(f"{what} is {size} bytes; at most {MAX_PART_BYTES} are allowed per buffer")
            item_sizes.append(size)
        together = sum(item_sizes)
        if wire.most_bytes is not None and together > wire.most_bytes:
            raise ValueError(f"{what} take {together} bytes together; at most {wire.most_bytes} are allowed")
        total += together
        sizes[wire.key] = item_sizes
        buffers += items
    if total > MAX_MESSAGE_BYTES:
        raise ValueError(f"the {kind} message is larger than {MAX_MESSAGE_BYTES} bytes")
    if layout.together is not None:
        try:
            layout.together({wire.attr: getattr(message, wire.attr) for wire in cls.WIRE})
        except ValueError as error:
            raise ValueError(f"the {kind} message {error}") from None
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

    def fail(sentence: str, code: ErrorCode = ErrorCode.BAD_MESSAGE) -> MessageError:
        return MessageError(sentence, code, req, _job_id(header))

    version = header.get("v")
    if version != PROTOCOL_VERSION or type(version) is not int:
        if type(version) is not int:
            raise fail(f"the header's 'v' must be the protocol version number, got {_short(version)}")
        error = _lenient_error(header)
        if error is not None:  # the other side's sentence is the most useful thing to show
            return Envelope(version, req, error)
        other = "client" if side == "backend" else "backend"
        raise fail(
            f"the {other} speaks protocol version {version} but this {side} speaks version {PROTOCOL_VERSION}; "
            "install the same TPC Animate release on both sides",
            ErrorCode.VERSION_MISMATCH,
        )
    kind = header.get("type")
    cls = MESSAGE_TYPES.get(kind) if type(kind) is str else None
    if cls is None:
        raise fail(f"unknown message type {_short(kind)} (known: {', '.join(MESSAGE_TYPES)})")
    if req is None and header.get("req") is not None:
        raise fail(f"the header's 'req' must be a whole number from 0 to {MAX_REQUEST_ID}, got {_short(header['req'])}")
    layout = _LAYOUTS[cls]
    if not layout.header_keys.issuperset(header):
        unknown = next(key for key in header if key not in layout.header_keys)
        raise fail(f"a {kind} message has no field {_short(unknown)}")

    fields: dict[str, Any] = {}
    for wire in layout.header:
        try:
            fields[wire.attr] = wire.check(header.get(wire.key))
        except ValueError as error:
            code = ErrorCode.BAD_JOB_ID if wire.check is check_job_id else ErrorCode.BAD_MESSAGE
            raise fail(f"the {kind} field {wire.key!r} {error}", code) from None
    _buffers(kind, layout, header, parts, fields, fail)
    if layout.together is not None:
        try:
            layout.together(fields)
        except ValueError as error:
            raise fail(f"the {kind} message {error}") from None
    return Envelope(version, req, cls(**fields))


def peek_ids(header: Any) -> tuple[int | None, str | None]:
    """Request id and job id of a header part, when they can be read (for replies to broken messages)."""
    try:
        unpacked = _unpack_header(header)
    except MessageError:
        return None, None
    return _request_id(unpacked), _job_id(unpacked)


def _unpack_header(part: Any) -> dict:
    size = len(part) if type(part) is bytes else memoryview(part).nbytes
    if size > MAX_HEADER_BYTES:
        raise MessageError(f"the header is {size} bytes; at most {MAX_HEADER_BYTES} are allowed", ErrorCode.TOO_LARGE)
    try:
        header = msgpack.unpackb(
            part,
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
    if type(header) is not dict:
        raise MessageError(f"the header must be a msgpack map, got {type(header).__name__}")
    return header


def _request_id(header: dict) -> int | None:
    req = header.get("req")
    if type(req) is int and 0 <= req <= MAX_REQUEST_ID:
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


def _buffers(kind: str, layout: _Layout, header: dict, parts: Sequence[Any], fields: dict, fail) -> None:
    """Check the declared buffers against the limits and the parts, then put them into ``fields``."""
    declared = header.get("buffers", {})
    if type(declared) is not dict:
        raise fail(f"the header's 'buffers' must map buffer names to lists of sizes, got {_short(declared)}")
    if not layout.buffer_keys.issuperset(declared):
        unknown = next(key for key in declared if key not in layout.buffer_keys)
        raise fail(f"a {kind} message has no buffer {_short(unknown)}")
    plan: list[tuple[Wire, list, Any]] = []
    total = count = 0
    for wire in layout.buffers:
        sizes = declared.get(wire.key, _ABSENT)
        present = sizes is not _ABSENT
        if not present:
            sizes = []
        elif type(sizes) is not list:
            raise fail(f"buffer {wire.key!r} must be declared as a list of sizes, got {_short(sizes)}")
        names = None
        if wire.kind == NAMED_BUFFER_LIST:
            names = header.get(wire.key)
            if names is not None:
                try:
                    names = wire.check(names)
                except ValueError as error:
                    raise fail(f"the {kind} field {wire.key!r} {error}") from None
            named = 0 if names is None else len(names)
            if len(sizes) != named:
                raise fail(f"a {kind} message names {named} {wire.key!r} but declares {len(sizes)} buffers for them")
        low, high = _COUNTS[wire.kind]
        if not low <= len(sizes) <= high:
            wanted = low if low == high else f"{low} to {high}"
            raise fail(f"a {kind} message needs {wanted} {wire.key!r} buffer(s), got {len(sizes)}")
        together = 0
        for size in sizes:
            if type(size) is not int or size < 0:
                raise fail(f"buffer {wire.key!r} declares a size that is not a byte count: {_short(size)}")
            if size > MAX_PART_BYTES:
                sentence = f"buffer {wire.key!r} declares {size} bytes; at most {MAX_PART_BYTES} are allowed"
                raise fail(sentence, ErrorCode.TOO_LARGE)
            together += size
        if wire.most_bytes is not None and together > wire.most_bytes:
            sentence = f"the {wire.key!r} buffers declare {together} bytes together; at most {wire.most_bytes} are allowed"
            raise fail(sentence, ErrorCode.TOO_LARGE)
        total += together
        count += len(sizes)
        plan.append((wire, sizes, names if wire.kind == NAMED_BUFFER_LIST else present))
    if total > MAX_MESSAGE_BYTES:
        raise fail(f"the buffers declare {total} bytes together; at most {MAX_MESSAGE_BYTES} are allowed", ErrorCode.TOO_LARGE)
    if count != len(parts) - 1:
        raise fail(f"the header declares {count} buffers but {len(parts) - 1} followed it (a truncated or padded message)")
    at = 1
    for wire, sizes, extra in plan:
        values = parts[at : at + len(sizes)]
        at += len(sizes)
        for part, size in zip(values, sizes):
            if (len(part) if type(part) is bytes else memoryview(part).nbytes) != size:
                raise fail(f"buffer {wire.key!r} declares {size} bytes but carries {len(part)}")
        if wire.kind == BUFFER:
            fields[wire.attr] = values[0]
        elif wire.kind == OPTIONAL_BUFFER:
            fields[wire.attr] = values[0] if values else None
        elif wire.kind == BUFFER_LIST:
            fields[wire.attr] = tuple(values) if extra else None
        else:
            fields[wire.attr] = None if extra is None else tuple(zip(extra, values))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
