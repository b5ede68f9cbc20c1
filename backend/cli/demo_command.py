"""``tpc demo``: the whole chain on the bundled example, on any machine, without weights.

It starts a backend on a free loopback port with a temporary data folder, submits the bundled
example (a NASA portrait and a synthetic motion) over ZeroMQ exactly as ``tpc submit`` does, writes
the preview frames and the calibration report into --out, and stops the backend.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

DEMO_JOB = "astronaut-demo"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="run the bundled example end to end through a local backend (no weights, CPU)",
        description="Start a local backend, submit the bundled example to it over ZeroMQ, and write the "
        "preview frames (OUT/00000.png...) and the calibration report (OUT/report.json, OUT/report.png).",
    )
    parser.add_argument("--out", default="tpc-demo", metavar="DIR", help="output folder (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tpc_protocol.client import JobClient

    from ..examples import ASTRONAUT
    from .local_backend import LocalBackend
    from .submit_command import JobFiles, submit_to_folder

    out = Path(args.out)
    files = JobFiles.read(
        ASTRONAUT / "reference.jpg", ASTRONAUT / "poses.json", ASTRONAUT / "reference_keypoints.json", ASTRONAUT / "reference_mask.png"
    )
    with tempfile.TemporaryDirectory(prefix="tpc-demo-backend-") as folder:
        with LocalBackend(Path(folder)) as address:
            with JobClient(address, timeout=60.0) as client:
                outcome = submit_to_folder(client, DEMO_JOB, files, {}, out, quiet=args.quiet, fresh=True)
    summary = (outcome.report or {}).get("summary", {})
    mean = summary.get("mean_score")
    print(
        f"demo: {outcome.total} preview frames in {out}/ (calibration mean IoU {mean:.3f}); report: {out / 'report.png'}"
        if mean is not None
        else f"demo: {outcome.total} preview frames in {out}/; report: {out / 'report.png'}",
        file=sys.stderr,
    )
    return 0
