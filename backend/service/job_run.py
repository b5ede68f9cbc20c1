"""Rendering one job's frames with its report, wherever that runs: in a worker thread or on a Ray worker.

This is the part of a job that needs the engine and nothing of the service: no journal, no data
folder, no clients. Frames go out, PNG-encoded and in order, through a :class:`JobOutput`; the
gateway's side of it (worker.py) writes and journals them. The calibration report is built alongside
from each frame's fits (those the engine's calibration found, or a search without warping), with
full calibrations only for the few frames its picture shows; on resume the earlier frames' fits are
found again, so the report is always complete and identical to an uninterrupted run's.
"""

from __future__ import annotations

import json
import math
import time
from functools import partial
from typing import Protocol

import numpy as np

from tpc.image_io import encode_png
from tpc.report import CalibrationReport
from tpc_protocol.limits import MAX_TEXT_CHARS

from ..engines.base import Cancelled, Engine, PreparedJob
from ..progress import ProgressCallback

PROGRESS_INTERVAL = 0.1  # seconds between progress messages of one job


class JobOutput(Protocol):
    """Where a running job's frames go."""

    def frame(self, index: int, png: bytes) -> None:
        """Frame ``index`` (they come in order, each once)."""


def render_frames(
    job: PreparedJob, engine: Engine, start: int, output: JobOutput, cancelled: Cancelled, progress: ProgressCallback
) -> tuple[bytes, bytes] | None:
    """Render frames ``start`` onwards into ``output``; the report (JSON, PNG) once every frame is out,
    None when ``cancelled`` stopped the job first."""
    total = len(job)
    report = CalibrationReport(
        job.reference_image, job.reference_people, job.poses.size, total, job.calibration_config,
        hands_face=job.poses.hands_face_of,
    )  # fmt: skip
    for index in range(start):  # the report entries of frames finished before an interruption
        if cancelled():
            return None
        add_to_report(report, job, index)
    expected = start

    def emit(index: int, rgb: np.ndarray) -> None:
        nonlocal expected
        if index != expected:
            raise RuntimeError(f"the engine emitted frame {index} while frame {expected} was due")
        width, height = job.size
        if rgb.dtype != np.uint8 or rgb.shape != (height, width, 3):
            raise RuntimeError(f"the engine emitted a {rgb.shape} {rgb.dtype} frame; ({height}, {width}, 3) uint8 was due")
        output.frame(index, encode_png(rgb))
        add_to_report(report, job, index)
        expected += 1

    engine.render(job, start, emit, cancelled, progress)
    if expected < total:
        if cancelled():
            return None
        raise RuntimeError(f"the engine returned after frame {expected} of {total} without being cancelled")
    return json.dumps(report.to_json(), indent=1).encode(), encode_png(report.render(), compression=6)


def add_to_report(report: CalibrationReport, job: PreparedJob, index: int) -> None:
    """Frame ``index``'s report entry: its fits (kept from the engine's calibration, or found without
    warping), and a full calibration only if the report's picture shows the frame."""
    report.add_fits(index, job.fits(index), job.poses.frames[index], partial(job.calibration, index))


class ProgressThrottle:
    """An engine's progress callback: clamped, shortened and passed on at most every PROGRESS_INTERVAL."""

    def __init__(self, send: ProgressCallback) -> None:
        self._send = send
        self._last = -math.inf

    def __call__(self, fraction: float, message: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        fraction = min(1.0, max(0.0, float(fraction))) if math.isfinite(fraction) else 0.0
        self._send(fraction, str(message)[:MAX_TEXT_CHARS])
