"""The backend's data folder: the journal, and one folder per job whose paths only the server chooses.

Layout::

    DATA/journal.sqlite3          jobs and finished frames (see journal.py)
    DATA/backend.lock             held while a backend serves this folder
    DATA/jobs/<job id>/input/     the submitted inputs, as received
    DATA/jobs/<job id>/frames/00000.png ...
    DATA/jobs/<job id>/report.json, report.png
    DATA/jobs/<job id>/scratch/   an engine's work in progress (diffusion: finished denoising steps)
    DATA/trash/                   folders of deleted jobs while they are removed

A job id reaches a path only after matching the protocol's job-id pattern (letters, digits, '_',
'.', '-', not starting with '.'), so no request can name a file outside its job's folder. Every file
is written durably (``tpc.files.write_atomic(..., durable=True)``: a temporary name, flushed to
disk, renamed), so a crash leaves either the old file or the whole new one, never half of it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

from tpc.files import write_atomic
from tpc_protocol.errors import ErrorCode
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
            raise UserError(f"cannot create the data folder {self.root} ({error.strerror})", ErrorCode.IO_ERROR) from None
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
                f"another tpc-backend is already serving {self.root}; stop it or pass another --data folder", ErrorCode.BUSY
            ) from None

    def job(self, job_id: str) -> JobFolder:
        return JobFolder(self.root / "jobs" / check_job_id(job_id))

    def remove_job(self, job_id: str) -> int:
        """Remove a deleted job's folder; returns the bytes freed. The folder is first renamed into
        ``trash/`` (one atomic step), so the job id is free at once even if removing the files fails
        half-way; :meth:`sweep` finishes the work at the next start."""
        folder = self.job(job_id).root
        if not folder.exists():
            return 0
        trash = self.root / "trash"
        trash.mkdir(exist_ok=True, mode=0o700)
        doomed = trash / f"{job_id}.{uuid.uuid4().hex}"
        folder.rename(doomed)
        freed = _size(doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        return freed

    def sweep(self, job_ids: Iterable[str]) -> tuple[int, int]:
        """Remove what no journaled job owns: ``trash/``, and job folders whose job was never journaled
        (a crash between writing a submit's inputs and journaling it) or whose removal was cut short.
        Only while nothing else uses the folder (at start, before the intake runs); returns how many
        folders went and the bytes freed."""
        known = set(job_ids)
        doomed = [path for path in (self.root / "jobs").iterdir() if path.name not in known]
        trash = self.root / "trash"
        if trash.exists():
            doomed.extend(trash.iterdir())
        freed = 0
        for path in doomed:
            freed += _size(path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if trash.exists():
            trash.rmdir()
        return len(doomed), freed


class JobFolder:
    """Paths and file operations of one job."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inputs = root / "input"
        self.frames = root / "frames"
        self._frames = str(self.frames)  # read_frame runs for many frames: no pathlib there
        self.report_json = root / "report.json"
        self.report_png = root / "report.png"
        self.scratch = root / "scratch"

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


def _size(path: Path) -> int:
    """Bytes in the files under ``path`` (what removing it frees)."""
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total
