"""Errors of the protocol and of the client, and the machine codes ERROR replies carry.

Every ERROR reply has a code (one of :class:`ErrorCode`) and one human sentence that says what is
wrong and what to do. The client turns them into exceptions that all derive from
:class:`ProtocolError`.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """Every machine code of TPC Animate: in ERROR replies, the job status and the backend's UserErrors.

    The members are ``str``: they go over the wire as the plain strings below (msgpack writes a str
    subclass as a string), and a code read from the wire, or from an older backend's journal, compares
    equal to its member. A newer backend may send a code this release does not know; clients keep
    such a code as text. The codes marked "not sent" stop a command or ``serve`` before any client
    talks to it.
    """

    # The message or request itself
    BAD_MESSAGE = "bad_message"  # not a message of this protocol (types, fields, layout), or one a client cannot send
    TOO_LARGE = "too_large"  # a size or count above tpc_protocol.limits
    VERSION_MISMATCH = "version_mismatch"  # the two sides speak different protocol versions
    BAD_JOB_ID = "bad_job_id"  # a job id that is not 1 to 64 safe characters
    SHUTTING_DOWN = "shutting_down"  # the backend is stopping and takes no new submits
    INTERNAL = "internal"  # a bug or a crash in the backend; its log has the traceback

    # Jobs
    UNKNOWN_JOB = "unknown_job"  # the backend has no job with this id (or is deleting it)
    JOB_CONFLICT = "job_conflict"  # the job id exists with other inputs or settings
    JOB_ACTIVE = "job_active"  # delete refused: the job is queued, running or still being submitted
    CANCELLED = "cancelled"  # the job a stream followed was cancelled
    DELETED = "deleted"  # the job a stream followed was deleted
    UNKNOWN_ENGINE = "unknown_engine"  # the job names an engine this backend does not know
    ENGINE_UNAVAILABLE = "engine_unavailable"  # the Ray worker cannot load its engine
    WORKER_LOST = "worker_lost"  # the job lost its Ray worker too many times in a row

    # Inputs and the environment
    BAD_INPUT = "bad_input"  # an input, option or setting that cannot be used (UserError's default)
    NOT_FOUND = "not_found"  # a file or folder that was named does not exist
    IO_ERROR = "io_error"  # a file or folder cannot be written or created
    MISSING_INPUT = "missing_input"  # reference keypoints and mask are needed: person detection cannot run here
    NO_PERSON = "no_person"  # person detection found nobody
    UNKNOWN_ESTIMATOR = "unknown_estimator"  # a perception estimator name that does not exist
    MISSING_PACKAGE = "missing_package"  # a perception estimator's package is not installed
    MISSING_CHECKPOINT = "missing_checkpoint"  # a perception model's checkpoint file is not there
    MISSING_MODELS = "missing_models"  # the diffusion engine has no models folder
    MISSING_DEPENDENCY = "missing_dependency"  # the diffusion engine's packages (torch, diffusers...) are not installed

    # Commands and serve's start (not sent)
    UNREACHABLE = "unreachable"  # no answer from the backend within the client's timeout
    PROTOCOL = "protocol"  # the backend's answer broke the protocol
    BACKEND_FAILED = "backend_failed"  # the local backend of `tpc demo` did not start
    NETWORK = "network"  # a model download failed
    INSECURE_BIND = "insecure_bind"  # serve refuses a network address without CURVE keys
    BIND_FAILED = "bind_failed"  # serve cannot listen on its address
    BUSY = "busy"  # another backend serves the data folder
    RAY_UNREACHABLE = "ray_unreachable"  # serve cannot join the Ray cluster


class ProtocolError(Exception):
    """Base of everything tpc_protocol raises."""


class MessageError(ProtocolError):
    """A message that breaks the protocol. ``req`` and ``job_id`` are set when they could be read,
    so the reply can name the request it answers."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.BAD_MESSAGE, req: int | None = None, job_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.req = req
        self.job_id = job_id


class BackendUnreachable(ProtocolError):
    """No message from the backend within the client's timeout."""


class VersionMismatch(ProtocolError):
    """The backend speaks another protocol version; the message names both."""


class JobFailed(ProtocolError):
    """The backend answered a request with an ERROR: ``code`` for programs, the message for people.

    ``code`` is the text the backend sent: it compares equal to its :class:`ErrorCode` member.
    """

    def __init__(self, code: str, message: str, job_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.job_id = job_id
