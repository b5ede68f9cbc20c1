"""The messages clients and the backend exchange, as plain dataclasses, with the rules their fields follow.

Requests (client to backend): :class:`Hello`, :class:`Submit`, :class:`Attach`, :class:`Cancel`,
:class:`Delete`, :class:`Status`. Replies and stream events (backend to client): :class:`Accepted`,
:class:`Progress`, :class:`Frames` (the client yields one :class:`Frame` per frame), :class:`Report`,
and exactly one terminal :class:`Done` or :class:`JobError` per request. :class:`Heartbeat` goes both ways on a
stream and is never answered; the client's heartbeats also acknowledge the frames it has received
(flow control, and the point a stream resumes from after a reconnect).

Each class lists its wire layout in ``WIRE``: which fields travel in the msgpack header and which as
raw buffers (a named buffer list has its names in the header and its bytes as buffers). The checks
here are the single definition of what a valid field is, and ``check_together`` (where a message has
one) of how its fields go together; the codec applies them to everything it decodes and encodes, and
the client applies them before sending.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, NamedTuple

from .limits import MAX_CANVAS, MAX_FRAMES, MAX_NAME_CHARS, MAX_POSE_DOCUMENT_BYTES, MAX_POSE_DOCUMENTS, MAX_TEXT_CHARS

JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
ENGINE_NAME_PATTERN = re.compile(r"[a-z0-9_-]{1,32}")
MAX_SEED = (1 << 63) - 1
MAX_SIZE = 8192
MAX_FPS = 1000.0
_NOT_IN_NAMES = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029/\\]")  # control characters, line breaks, path separators


# -- field checks: return the value (normalised) or raise ValueError with the end of a sentence ---------
def check_job_id(value: Any) -> str:
    if not isinstance(value, str) or not JOB_ID_PATTERN.fullmatch(value):
        raise ValueError(
            f"must be a job id: 1 to 64 letters, digits, '_', '.' or '-', starting with a letter, digit or '_', got {_show(value)}"
        )
    return value


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}, got {_show(value)}")
        return value

    return check


def _number(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"must be a number from {low:g} to {high:g}, got {_show(value)}")
        return float(value)

    return check


def _text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"must be text of at most {MAX_TEXT_CHARS} characters, got {_show(value)}")
    return value


def _code(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z_]{1,40}", value):
        raise ValueError(f"must be an error code (lower-case letters and '_'), got {_show(value)}")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {_show(value)}")
    return value


def _engine_name(value: Any) -> str:
    if not isinstance(value, str) or not ENGINE_NAME_PATTERN.fullmatch(value):
        raise ValueError(f"must be an engine name (lower-case letters, digits, '_' or '-'), got {_show(value)}")
    return value


def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (value == 0 or 16 <= value <= MAX_SIZE):
        raise ValueError(f"must be 0 (the poses' canvas) or a size from 16 to {MAX_SIZE} pixels, got {_show(value)}")
    return value


SETTINGS: dict[str, Callable[[Any], Any]] = {
    "engine": _engine_name,
    "seed": _whole(0, MAX_SEED),
    "steps": _whole(1, 1000),
    "guidance": _number(0.0, 100.0),
    "groups": _whole(1, MAX_FRAMES),
    "tpc": _boolean,
    "person_tokens": _boolean,
    "independent": _boolean,  # calibrate every frame on its own (the paper); default false: as a sequence
    "width": _size,
    "height": _size,
}


def check_settings(value: Any) -> dict:
    """A job's settings: any of :data:`SETTINGS`, each checked; what is left out takes the backend's default."""
    if not isinstance(value, dict):
        raise ValueError(f"must be a map of settings, got {_show(value)}")
    checked = {}
    for key, item in value.items():
        if key not in SETTINGS:
            raise ValueError(f"has an unknown setting {_show(key)} (known: {', '.join(SETTINGS)})")
        try:
            checked[key] = SETTINGS[key](item)
        except ValueError as error:
            raise ValueError(f"setting {key!r} {error}") from None
    if ("width" in checked) != ("height" in checked) or bool(checked.get("width")) != bool(checked.get("height")):
        raise ValueError("must set width and height together (both 0 for the poses' canvas)")
    return checked


def _file_names(value: Any) -> tuple[str, ...]:
    """The names of pose documents: file names (not paths), at most :data:`MAX_POSE_DOCUMENTS` of them."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"must be a list of file names, got {_show(value)}")
    if not 1 <= len(value) <= MAX_POSE_DOCUMENTS:
        raise ValueError(f"must name 1 to {MAX_POSE_DOCUMENTS} pose files, got {len(value)}")
    for name in value:
        if (
            not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_CHARS
            or name in (".", "..") or _NOT_IN_NAMES.search(name)
        ):  # fmt: skip
            raise ValueError(
                f"must hold file names of 1 to {MAX_NAME_CHARS} characters without control characters, '/' or '\\', got {_show(name)}"
            )
    return tuple(value)


def _canvas(value: Any) -> tuple[int, int]:
    if (
        not isinstance(value, (list, tuple)) or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_CANVAS for v in value)
    ):  # fmt: skip
        raise ValueError(f"must be [width, height], whole numbers of pixels from 1 to {MAX_CANVAS}, got {_show(value)}")
    return (value[0], value[1])


def _fps(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= MAX_FPS:
        raise ValueError(f"must be a frame rate above 0 and at most {MAX_FPS:g}, got {_show(value)}")
    return float(value)


def _result(value: Any) -> dict:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ValueError(f"must be a map with text keys, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- wire layout --------------------------------------------------------------------------------------
HEADER, BUFFER, OPTIONAL_BUFFER, BUFFER_LIST = "header", "buffer", "optional buffer", "buffer list"
NAMED_BUFFER_LIST = "named buffer list"  # (name, bytes) pairs: names in the header under ``key``, bytes as buffers


class Wire(NamedTuple):
    """One field on the wire: where it travels (``kind``), under which ``key``, and its check.

    A named buffer list's check applies to its names; ``most_bytes`` bounds its buffers together.
    """

    attr: str
    key: str
    kind: str
    check: Callable[[Any], Any] | None = None
    most_bytes: int | None = None


# -- requests -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hello:
    """First contact: the reply (DONE) carries the backend's version, the engines jobs can use there,
    the ``unavailable`` ones (name -> the sentence saying why) and the default engine."""

    TYPE: ClassVar[str] = "hello"
    WIRE: ClassVar[tuple[Wire, ...]] = (Wire("client", "client", HEADER, _text),)
    client: str = ""


@dataclass(frozen=True)
class Submit:
    """A job with everything it needs. Idempotent: an existing job id with the same inputs attaches.

    The poses come either as one PoseSequence document (``poses``) or as the user's pose files as
    they are (``pose_documents``: OpenPose frames, a COCO keypoint file, a PoseSequence file), which
    the backend converts; ``pose_canvas`` and ``pose_fps`` are for files that do not state them
    (OpenPose files never record the picture size).
    """

    TYPE: ClassVar[str] = "submit"
    WIRE: ClassVar[tuple[Wire, ...]] = (
        Wire("job_id", "job", HEADER, check_job_id),
        Wire("settings", "settings", HEADER, check_settings),
        Wire("start_frame", "start", HEADER, _whole(0, MAX_FRAMES)),
        Wire("pose_canvas", "pose_canvas", HEADER, _optional(_canvas)),
        Wire("pose_fps", "pose_fps", HEADER, _optional(_fps)),
        Wire("reference_image", "reference_image", BUFFER),
        Wire("poses", "poses", OPTIONAL_BUFFER),
        Wire("reference_keypoints", "reference_keypoints", OPTIONAL_BUFFER),
        Wire("reference_mask", "reference_mask", OPTIONAL_BUFFER),
        Wire("target_masks", "target_masks", BUFFER_LIST),
        Wire("pose_documents", "pose_documents", NAMED_BUFFER_LIST, _file_names, MAX_POSE_DOCUMENT_BYTES),
    )
    job_id: str
    reference_image: bytes  # PNG/JPEG/... bytes of the photo
    poses: bytes | None = None  # PoseSequence JSON document, UTF-8
    settings: dict = field(default_factory=dict)
    reference_keypoints: bytes | None = None  # PoseSequence JSON with one frame
    reference_mask: bytes | None = None  # PNG, 0 background, 255 person
    target_masks: tuple[bytes, ...] | None = None  # PNG per frame
    start_frame: int = 0  # frames before this are not streamed back
    pose_documents: tuple[tuple[str, bytes], ...] | None = None  # (file name, bytes) of pose files
    pose_canvas: tuple[int, int] | None = None  # (width, height) for pose files that do not state it
    pose_fps: float | None = None  # frame rate for pose files that do not state one

    @staticmethod
    def check_together(fields: dict) -> None:
        if (fields["poses"] is None) == (fields["pose_documents"] is None):
            given = "both" if fields["poses"] is not None else "neither"
            raise ValueError(
                f"must carry its poses either as a PoseSequence document (poses) or as pose files (pose_documents), it carries {given}"
            )
        if fields["pose_documents"] is None and (fields["pose_canvas"] is not None or fields["pose_fps"] is not None):
            raise ValueError("sets pose_canvas or pose_fps, which only pose files use; a PoseSequence states its own")


@dataclass(frozen=True)
class Attach:
    """Follow an existing job: its frames from ``start_frame`` on, then its report and DONE."""

    TYPE: ClassVar[str] = "attach"
    WIRE: ClassVar[tuple[Wire, ...]] = (
        Wire("job_id", "job", HEADER, check_job_id),
        Wire("start_frame", "start", HEADER, _whole(0, MAX_FRAMES)),
    )
    job_id: str
    start_frame: int = 0


@dataclass(frozen=True)
class Cancel:
    """Stop a job within one frame or step; frames already finished stay. DONE carries its status."""

    TYPE: ClassVar[str] = "cancel"
    WIRE: ClassVar[tuple[Wire, ...]] = (Wire("job_id", "job", HEADER, check_job_id),)
    job_id: str


@dataclass(frozen=True)
class Delete:
    """Remove a finished (done, failed or cancelled) job: its frames, report, inputs and journal rows.
    DONE carries the job's last status and the bytes freed; the id is free for a new job afterwards."""

    TYPE: ClassVar[str] = "delete"
    WIRE: ClassVar[tuple[Wire, ...]] = (Wire("job_id", "job", HEADER, check_job_id),)
    job_id: str


@dataclass(frozen=True)
class Status:
    """One job's status (``job_id``) or the newest jobs' (None); DONE carries ``job`` or ``jobs``."""

    TYPE: ClassVar[str] = "status"
    WIRE: ClassVar[tuple[Wire, ...]] = (Wire("job_id", "job", HEADER, _optional(check_job_id)),)
    job_id: str | None = None


@dataclass(frozen=True)
class Heartbeat:
    """I am alive. From a client on a stream, ``ack`` = the next frame index it expects."""

    TYPE: ClassVar[str] = "heartbeat"
    WIRE: ClassVar[tuple[Wire, ...]] = (
        Wire("job_id", "job", HEADER, _optional(check_job_id)),
        Wire("ack", "ack", HEADER, _optional(_whole(0, MAX_FRAMES))),
    )
    job_id: str | None = None
    ack: int | None = None


# -- replies and stream events ------------------------------------------------------------------------
@dataclass(frozen=True)
class Accepted:
    """The job is journaled (it will not be lost) and this request now follows it."""

    TYPE: ClassVar[str] = "accepted"
    WIRE: ClassVar[tuple[Wire, ...]] = (
        Wire("job_id", "job", HEADER, check_job_id),
        Wire("total_frames", "total", HEADER, _whole(1, MAX_FRAMES)),
    )
    job_id: str
    total_frames: int


@dataclass(frozen=True)
class Progress:
    """How far the whole job is (0..1), with a short sentence of what it is doing."""

    TYPE: ClassVar[str] = "progress"
    WIRE: ClassVar[tuple[Wire, ...]] = (
        Wire("job_id", "job", HEADER, check_job_id),
        Wire("fraction", "fraction", HEADER, _number(0.0, 1.0)),
        Wire("message", "message", HEADER, _text),
    )
    job_id: str
    fraction: float
    message: str = ""


@dataclass(frozen=True)
class Frame:
    """One finished frame as PNG data; a stream yields them in increasing ``index`` order.

    The event the client yields. On the wire frames travel in :class:`Frames` batches. ``png`` is a
    read-only ``memoryview`` of the buffer ZeroMQ received it into: files, hashes, ``np.frombuffer``
    and comparisons with bytes take it as it is, and ``bytes(png)`` copies it when bytes are needed.
    """

    job_id: str
    index: int
    png: memoryview


@dataclass(frozen=True)
class Frames:
    """Consecutive finished frames ``first``, ``first + 1``, ... as PNG buffers, in one message.

    A client catching up on a finished job gets many frames at once; batching them spares a header
    and a round of per-message work for most of them. A live job's frames usually come one by one.
    """

    TYPE: ClassVar[str] = "frames"
    WIRE: ClassVar[tuple[Wire, ...]] = (
        Wire("job_id", "job", HEADER, check_job_id),
        Wire("first", "first", HEADER, _whole(0, MAX_FRAMES - 1)),
        Wire("pngs", "png", BUFFER_LIST),
    )
    job_id: str
    first: int
    pngs: tuple[bytes, ...]


@dataclass(frozen=True)
class Report:
    """The calibration report of a finished job (report.json as bytes, and report.png)."""

    TYPE: ClassVar[str] = "report"
    WIRE: ClassVar[tuple[Wire, ...]] = (
        Wire("job_id", "job", HEADER, check_job_id),
        Wire("report_json_bytes", "json", BUFFER),
        Wire("report_png", "png", BUFFER),
    )
    job_id: str
    report_json_bytes: bytes
    report_png: bytes

    @cached_property
    def report_json(self) -> dict:
        """report.json as a dict (parsed on first use)."""
        return json.loads(self.report_json_bytes)


@dataclass(frozen=True)
class Done:
    """Terminal success. ``result`` answers hello, status and cancel; it is empty for streams."""

    TYPE: ClassVar[str] = "done"
    WIRE: ClassVar[tuple[Wire, ...]] = (
        Wire("job_id", "job", HEADER, _optional(check_job_id)),
        Wire("result", "result", HEADER, _result),
    )
    job_id: str | None
    result: dict = field(default_factory=dict)


@dataclass(frozen=True)
class JobError:
    """Terminal failure: a machine ``code`` (an :class:`~tpc_protocol.errors.ErrorCode`) and one sentence for people."""

    TYPE: ClassVar[str] = "error"
    WIRE: ClassVar[tuple[Wire, ...]] = (
        Wire("job_id", "job", HEADER, _optional(check_job_id)),
        Wire("code", "code", HEADER, _code),
        Wire("message", "message", HEADER, _text),
    )
    job_id: str | None
    code: str
    message: str


REQUESTS = (Hello, Submit, Attach, Cancel, Delete, Status, Heartbeat)
REPLIES = (Accepted, Progress, Frames, Report, Done, JobError, Heartbeat)
MESSAGE_TYPES: dict[str, type] = {cls.TYPE: cls for cls in (*REQUESTS, *REPLIES)}
Event = Accepted | Progress | Frame | Report | Done | JobError
