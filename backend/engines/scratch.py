"""A job's scratch: named byte strings an engine keeps so that an interrupted job need not start over.

The diffusion engine keeps each finished denoising step there. Where the bytes live is the service's
choice, not the engine's: in the job's folder when the engine runs in the backend process
(:class:`FolderScratch`), or sent back to the gateway when it runs on another machine (scale-out on
Ray), where a worker has no access to the gateway's disk and a resumed job may run on another worker.
Either way a write that returned survives the engine's process; what is kept outlives a restart
until the service removes it once the job is done.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from pathlib import Path

from tpc.files import write_atomic


class JobScratch(ABC):
    """Byte strings by name (a relative path such as ``denoising/step_00000.npy``)."""

    @abstractmethod
    def names(self) -> set[str]:
        """The names kept."""

    @abstractmethod
    def read(self, name: str) -> bytes:
        """The bytes kept under ``name`` (KeyError when there are none)."""

    @abstractmethod
    def write(self, name: str, data: bytes) -> None:
        """Keep ``data`` under ``name``, replacing what was there."""

    @abstractmethod
    def clear(self) -> None:
        """Forget everything kept."""


class FolderScratch(JobScratch):
    """A scratch in a folder of its own; every write is durable (on disk before ``write`` returns)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def names(self) -> set[str]:
        if not self.folder.is_dir():
            return set()
        return {
            path.relative_to(self.folder).as_posix()
            for path in self.folder.rglob("*")
            if path.is_file() and not (path.name.startswith(".") and path.name.endswith(".tmp"))  # a write cut short
        }

    def read(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            raise KeyError(name) from None

    def write(self, name: str, data: bytes) -> None:
        write_atomic(self._path(name), data, durable=True)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _path(self, name: str) -> Path:
        parts = name.split("/")
        if not name or name.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"{name!r} is not a scratch name (a relative path without . or ..)")
        return self.folder.joinpath(*parts)
