"""Real backends and small jobs from the bundled example, shared by the service tests and benchmarks.

:class:`Backend` runs the real ``tpc-backend serve`` console script on a free loopback port with its
own data folder, and can SIGTERM it, kill -9 it and start it again on the same data.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tpc_backend.examples import ASTRONAUT
from tpc_protocol.client import JobClient
from tpc_protocol.messages import Accepted, Done, Frame, Progress, Report

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

    def start(self, timeout: float = 60.0) -> "Backend":
        ready = self.data.with_name(self.data.name + ".ready")
        ready.unlink(missing_ok=True)
        command = [BACKEND, "serve", "--bind", "tcp://127.0.0.1:0", "--data", str(self.data), "--ready-file", str(ready), *self.args]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not ready.is_file():
            if self.process.poll() is not None:
                raise RuntimeError(f"backend exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"backend did not start:\n{self.log()}")
            time.sleep(0.05)
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



def example_files() -> dict[str, Any]:
    """The bundled example's files: reference photo, keypoints, mask and 48 poses at 512x512."""
    return {
        "reference_image": (ASTRONAUT / "reference.jpg").read_bytes(),
        "poses": json.loads((ASTRONAUT / "poses.json").read_text()),
        "reference_keypoints": json.loads((ASTRONAUT / "reference_keypoints.json").read_text()),
        "reference_mask": (ASTRONAUT / "reference_mask.png").read_bytes(),
    }


def make_poses(example: dict, frames: int, size: int = 128, shift: float = 0.0) -> dict:
    """The example motion, looped to ``frames`` frames on a ``size`` canvas, moved ``shift`` px right."""
    source = example["poses"]
    zoom = size / source["width"]
    chosen = [source["frames"][i % len(source["frames"])] for i in range(frames)]
    return {
        "format": "coco17",
        "width": size,
        "height": size,
        "fps": source["fps"],
        "frames": [{"people": [_moved(person, zoom, shift) for person in frame["people"]]} for frame in chosen],
    }


def _moved(person: dict, zoom: float, shift: float) -> dict:
    return {"keypoints": [[x * zoom + shift, y * zoom, c] for x, y, c in person["keypoints"]]}


def job(example: dict, frames: int = 6, size: int = 128, shift: float = 0.0, **settings: Any) -> dict:
    """Keyword arguments of JobClient.submit for a small job made from the example."""
    return {
        "reference_image": example["reference_image"],
        "poses": make_poses(example, frames, size, shift),
        "settings": settings,
        "reference_keypoints": example["reference_keypoints"],
        "reference_mask": example["reference_mask"],
    }


def collect(events) -> dict[str, Any]:
    """Consume a job's events: frames by index (each must come once), report, and the event order."""
    result: dict[str, Any] = {"frames": {}, "report": None, "accepted": None, "progress": 0, "done": False, "order": []}
    for event in events:
        result["order"].append(type(event).__name__)
        if isinstance(event, Accepted):
            result["accepted"] = event
        elif isinstance(event, Frame):
            if event.index in result["frames"]:
                raise AssertionError(f"frame {event.index} arrived twice")
            result["frames"][event.index] = event.png
        elif isinstance(event, Report):
            result["report"] = event
        elif isinstance(event, Progress):
            result["progress"] += 1
        elif isinstance(event, Done):
            result["done"] = True
    return result
