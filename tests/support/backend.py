"""A real ``tpc-backend serve`` process for tests and benchmarks, and where the console scripts are.

:class:`Backend` runs the real console script on a free loopback port with its own data folder, and
can SIGTERM it, kill -9 it and start it again on the same data.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tpc_protocol.client import JobClient

from .waiting import wait_until

BACKEND = str(Path(sys.executable).with_name("tpc-backend"))
TPC = str(Path(sys.executable).with_name("tpc"))


class Backend:
    """One `tpc-backend serve` process; ``start`` again after ``kill`` to restart on the same data."""

    def __init__(self, data: Path, *args: str) -> None:
        self.data = data
        self.args = args
        self.log_path = data.with_name(data.name + ".log")
        self.process: subprocess.Popen | None = None
        self.address = ""

    def start(self, timeout: float = 60.0) -> Backend:
        ready = self.data.with_name(self.data.name + ".ready")
        ready.unlink(missing_ok=True)
        command = [BACKEND, "serve", "--bind", "tcp://127.0.0.1:0", "--data", str(self.data), "--ready-file", str(ready), *self.args]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def listening() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"backend exited with {self.process.returncode}:\n{self.log()}")
            return ready.is_file()

        wait_until(listening, timeout, lambda: f"the backend did not start:\n{self.log()}", interval=0.05)
        self.address = ready.read_text().strip()
        return self

    def __repr__(self) -> str:  # pytest prints fixtures this way: a failing test then shows the backend's side
        state = "running" if self.alive else f"exited {self.process.returncode}" if self.process else "not started"
        tail = "\n".join(self.log().splitlines()[-20:])
        return f"<Backend {self.address or '-'} {state}; last lines of {self.log_path}:\n{tail}\n>"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, and the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """kill -9: no chance to clean up."""
        self.process.kill()
        self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, timeout: float = 20.0) -> JobClient:
        return JobClient(self.address, timeout=timeout)

    def frame_files(self, job_id: str) -> list[Path]:
        return sorted((self.data / "jobs" / job_id / "frames").glob("*.png"))
