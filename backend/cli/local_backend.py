"""A backend in a child process on a free loopback port, for commands that bring their own (``tpc demo``).

It runs the real ``tpc-backend serve`` (so the demo exercises the same service a render farm does),
waits until the address it bound is written to its ready file, and stops it with SIGTERM on exit.
Its log goes to a file beside its data, and the last lines are shown if it fails to start.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tpc_protocol.errors import ErrorCode

from ..errors import UserError

START_TIMEOUT = 120.0  # seconds; a cold start imports OpenCV and NumPy


class LocalBackend:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log_path = folder / "backend.log"
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> str:
        """Start the backend; returns its address."""
        ready = self.folder / "ready"
        command = [
            sys.executable, "-m", "tpc_backend.cli.backend_command", "serve",
            "--bind", "tcp://127.0.0.1:0", "--data", str(self.folder / "data"), "--ready-file", str(ready),
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.is_file():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
                raise UserError(f"the local backend did not start: {tail[0]}", ErrorCode.BACKEND_FAILED)
            time.sleep(0.05)
        return ready.read_text().strip()

    def __exit__(self, *exc_info: object) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
