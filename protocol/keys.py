"""CURVE keys as ZeroMQ takes them: 40 characters of Z85 text that decode to 32 bytes.

One check for every place a user hands us a key (the command line's files and flags, the Blender
add-on's preferences), so a pasted key with a stray character is refused with the same reason
everywhere, before ZeroMQ sees it and fails with an opaque socket error.
"""

from __future__ import annotations

import struct
from typing import Any

from zmq.utils import z85

KEY_CHARACTERS = 40


def curve_key_problem(key: Any) -> str | None:
    """Why ``key`` (text or ASCII bytes) is not a CURVE key, in a few words; None when it is one."""
    if isinstance(key, bytes):
        key = key.decode("ascii", "replace")
    if not isinstance(key, str):
        return f"it is a {type(key).__name__}, not text"
    if len(key) != KEY_CHARACTERS:
        return f"it has {len(key)} characters, a key has {KEY_CHARACTERS}"
    try:
        z85.decode(key.encode("ascii"))
    except (UnicodeEncodeError, ValueError, KeyError, struct.error):  # KeyError: outside Z85's alphabet; struct.error: past its range
        return "it is not Z85 text"
    return None
