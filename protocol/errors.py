"""Errors of the protocol and of the client, and the machine codes ERROR replies carry.

Every ERROR reply has a code (below, or one of the backend's input codes such as ``bad_input``) and one
human sentence that says what is wrong and what to do. The client turns them into exceptions that
all derive from :class:`ProtocolError`.
"""

from __future__ import annotations

BAD_MESSAGE = "bad_message"  # not a message of this protocol (types, fields, layout)
TOO_LARGE = "too_large"  # a size or count above tpc_protocol.limits
VERSION_MISMATCH = "version_mismatch"
BAD_JOB_ID = "bad_job_id"
UNKNOWN_JOB = "unknown_job"
JOB_CONFLICT = "job_conflict"  # the job id exists with other inputs or settings
UNKNOWN_ENGINE = "unknown_engine"
CANCELLED = "cancelled"
JOB_ACTIVE = "job_active"  # delete refused: the job is queued, running or still being submitted
DELETED = "deleted"  # the job a stream followed was deleted
SHUTTING_DOWN = "shutting_down"
INTERNAL = "internal"  # a bug or a crash in the backend; its log has the traceback


class ProtocolError(Exception):
    """Base of everything tpc_protocol raises."""


class MessageError(ProtocolError):
    """A message that breaks the protocol. ``req`` and ``job_id`` are set when they could be read,
    so the reply can name the request it answers."""

    def __init__(self, message: str, code: str = BAD_MESSAGE, req: int | None = None, job_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.req = req
        self.job_id = job_id


class BackendUnreachable(ProtocolError):
    """No message from the backend within the client's timeout."""


class VersionMismatch(ProtocolError):
    """The backend speaks another protocol version; the message names both."""


class JobFailed(ProtocolError):
    """The backend answered a request with an ERROR: ``code`` for programs, the message for people."""

    def __init__(self, code: str, message: str, job_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.job_id = job_id
