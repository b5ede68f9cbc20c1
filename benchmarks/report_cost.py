"""What does the calibration report cost a backend job?

The worker builds the report beside the frames: it needs every frame's fits (report.json, the
curves) but images only for the few frames report.png shows. Two measurements on a 120-frame
512x512 job made from the bundled example (median of ``--repeats`` runs each):

1. The report's own work, in-process, as the worker does it now (``add_to_report``: kept or searched
   fits, full calibrations for the pictured frames only) and as it did before (``report.add`` of a
   full ``job.calibration(i)`` per frame), in three situations: the engine calibrated the frame just
   before (the preview engine with TPC), nothing was calibrated (TPC off, or the frames before a
   resumed job's first missing one), every frame was calibrated before the first was emitted (the
   diffusion engine's order, which left only the last one cached).
2. A preview job through a real backend process, submit to DONE, with TPC on and off.

    .venv/bin/python -m benchmarks.report_cost [--frames 120] [--size 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.backend import Backend
from tests.support.example_jobs import collect, example_files, job
from tpc.report import CalibrationReport
from tpc_backend.engines.base import PreparedJob
from tpc_backend.service.data_folder import DataFolder
from tpc_backend.service.job_inputs import JobInputs, prepare_job, render_settings
from tpc_backend.service.job_run import add_to_report


def report_seconds(make_job: Callable[[], PreparedJob], add, engine: str) -> float:
    """Seconds of report work (every frame added, then the picture); what the engine calibrated is
    not counted: ``engine`` is "each" (frame i just before it is added), "all" (every frame before the
    first is added) or "none"."""
    prepared = make_job()
    if engine == "all":
        for index in range(len(prepared)):
            prepared.calibration(index)
    report = CalibrationReport(prepared.reference_image, prepared.reference_people, prepared.poses.size, len(prepared))
    seconds = 0.0
    for index in range(len(prepared)):
        if engine == "each":
            prepared.calibration(index)
        started = time.perf_counter()
        add(report, prepared, index)
        seconds += time.perf_counter() - started
    started = time.perf_counter()
    report.render()
    return seconds + time.perf_counter() - started


def full_calibration(report: CalibrationReport, prepared: PreparedJob, index: int) -> None:
    """The worker's report line before: the frame's full calibration, whatever the engine left cached."""
    report.add(prepared.calibration(index), prepared.poses.frames[index])


def service_seconds(backend: Backend, arguments: dict, job_id: str) -> float:
    with backend.client(timeout=120) as client:
        started = time.perf_counter()
        result = collect(client.submit(job_id, **arguments))
        elapsed = time.perf_counter() - started
    assert result["done"] and len(result["frames"]) == len(arguments["poses"]["frames"])
    return elapsed


def _median(times: list[float]) -> str:
    return f"{statistics.median(times):6.2f} s  ({', '.join(f'{t:.2f}' for t in times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    example = example_files()
    arguments = job(example, frames=args.frames, size=args.size)
    with tempfile.TemporaryDirectory() as folder:
        stored = DataFolder(Path(folder) / "inputs").job("report-cost")
        JobInputs(
            arguments["reference_image"], json.dumps(arguments["poses"]).encode(),
            json.dumps(arguments["reference_keypoints"]).encode(), arguments["reference_mask"],
        ).write(stored)  # fmt: skip

        def make_job() -> PreparedJob:
            return prepare_job("report-cost", stored, render_settings({}, "preview"))

        situations = {
            "each": "the engine calibrated each frame just before (preview, TPC on)",
            "none": "nothing calibrated (TPC off; a resumed job's earlier frames)",
            "all": "every frame calibrated before the first was emitted (diffusion)",
        }
        print(f"report work of a {args.frames}-frame {args.size}x{args.size} job, in-process (median of {args.repeats}):")
        for engine, label in situations.items():
            print(f"  {label}:")
            for name, add in (("before", full_calibration), ("now   ", add_to_report)):
                print(f"    {name} {_median([report_seconds(make_job, add, engine) for _ in range(args.repeats)])}")

    print(f"{args.frames}-frame {args.size}x{args.size} preview job, submit to DONE through a real backend "
          f"(median of {args.repeats}):")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        backend = Backend(Path(folder) / "data").start()
        try:
            for label, settings in (("TPC on ", {}), ("TPC off", {"tpc": False})):
                submitted = job(example, frames=args.frames, size=args.size, **settings)
                times = [service_seconds(backend, submitted, f"{label.strip().replace(' ', '-')}-{i}") for i in range(args.repeats)]
                print(f"  {label}: {_median(times)}")
        finally:
            backend.stop()


if __name__ == "__main__":
    main()
