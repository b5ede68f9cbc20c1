"""The wire protocol between TPC Animate's clients (Blender add-on, ``tpc submit``) and its backend.

ZeroMQ DEALER clients talk to a ROUTER backend; a message is a msgpack header plus raw buffers
(:mod:`.codec`), its fields and their rules are in :mod:`.messages`, the bounds in :mod:`.limits`,
and :mod:`.client` is the client programs use. This package imports only the standard library,
msgpack, pyzmq and numpy, and only relatively inside itself, so the Blender add-on can vendor it
under its own name and run it in Blender's bundled Python.
"""

from .errors import BackendUnreachable, ErrorCode, JobFailed, MessageError, ProtocolError, VersionMismatch
from .version import PROTOCOL_VERSION

__all__ = ["PROTOCOL_VERSION", "BackendUnreachable", "ErrorCode", "JobFailed", "MessageError", "ProtocolError", "VersionMismatch"]
