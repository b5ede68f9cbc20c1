"""The backend's data folder: the journal, and one folder per job whose paths only the server chooses.

Layout::

    DATA/journal.sqlite3          jobs and finished frames (see journal.py)
    DATA/backend.lock             held while a backend serves this folder
    DATA/jobs/<job id>/input/     the submitted inputs, as received
    DATA/jobs/<job id>/frames/00000.png ...
    DATA/jobs/<job id>/report.json, report.png

A job id reaches a path only after matching the protocol's job-id pattern (letters, digits, '_',
'.', '-', not starting with '.'), so no request can name a file outside its job's folder. Every file
is written durably (``tpc.image_io.write_atomic(..., durable=True)``: a temporary name, flushed to
disk, renamed), so a crash leaves either the old file or the whole new one, never half of it.
"""

from __future__ import annotations

import os
from pathlib import Path

from tpc.image_io import write_atomic
from tpc_protocol.messages import check_job_id

from ..errors import UserError

FRAME_NAME = "{:05d}.png"


def default_data_folder() -> Path:
    """$XDG_DATA_HOME/tpc-animate/backend (~/.local/share/tpc-animate/backend when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "tpc-animate" / "backend"


class DataFolder:
    """One backend's data folder; :meth:`lock` keeps a second backend from serving it at once."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser().resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.root / "jobs").mkdir(exist_ok=True, mode=0o700)
        except OSError as error:
            raise UserError(f"cannot create the data folder {self.root} ({error.strerror})", "io_error") from None
        self._lock_file = None

    @property
    def journal_path(self) -> Path:
        return self.root / "journal.sqlite3"

    def lock(self) -> None:
        """Hold the folder's lock for the life of this process (released by the OS, even on kill -9)."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; one backend per folder is then the user's care
            return
        self._lock_file = open(self.root / "backend.lock", "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UserError(
                f"another tpc-backend is already serving {self.root}; stop it or pass another --data folder", "busy"
            ) from None

    def job(self, job_id: str) -> "JobFolder":
        return JobFolder(self.root / "jobs" / check_job_id(job_id))


class JobFolder:
    """Paths and file operations of one job."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inputs = root / "input"
        self.frames = root / "frames"
        self._frames = str(self.frames)  # read_frame runs for many frames: no pathlib there
        self.report_json = root / "report.json"
        self.report_png = root / "report.png"

    def frame_path(self, index: int) -> Path:
        return self.frames / FRAME_NAME.format(index)

    def write_frame(self, index: int, png: bytes) -> None:
        write_atomic(self.frame_path(index), png, durable=True)

    def read_frame(self, index: int) -> bytes:
        with open(os.path.join(self._frames, FRAME_NAME.format(index)), "rb") as file:
            return file.read()

    def write_report(self, report_json: bytes, report_png: bytes) -> None:
        write_atomic(self.report_png, report_png, durable=True)
        write_atomic(self.report_json, report_json, durable=True)

    def read_report(self) -> tuple[bytes, bytes]:
        return self.report_json.read_bytes(), self.report_png.read_bytes()
