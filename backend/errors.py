"""Errors that are the user's to fix, each carrying one sentence and a machine code.

The command line prints the sentence (no traceback) and exits with status 2; the service sends the
code and the sentence in its ERROR reply. Anything else that goes wrong is a bug and keeps its
traceback.
"""

from __future__ import annotations

from tpc_protocol.errors import ErrorCode


class UserError(Exception):
    """A problem with the input, the environment or a request, explained in one sentence."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code
