"""Writing files so that a reader, a crash or a power cut never leaves half of one.

Frames, reports, pose files and a backend's stored inputs are all written here: to a temporary name
in the same folder, then renamed into place.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes, *, durable: bool = False) -> None:
    """Write bytes to ``path`` through a temporary file in the same folder and a rename.

    The temporary file is opened with mode 0o666 so the result gets the usual umask permissions
    (``tempfile.mkstemp`` would leave every output readable by its owner only). With ``durable`` the
    file also survives a power cut once this returns: it is flushed to disk before the rename, and
    its folder after it (where the OS lets a folder be opened; on Windows the rename is what counts).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:  # folders cannot be opened on Windows
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
