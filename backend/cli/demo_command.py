"""``tpc demo``: the bundled example end to end, on any machine, without weights."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .progress import ProgressBar


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="run the bundled example end to end (no weights, CPU)",
        description="Calibrate the bundled example (a NASA portrait and a synthetic motion) and write its report.",
    )
    parser.add_argument("--out", default="tpc-demo", metavar="DIR", help="output folder (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..calibration_job import calibrate_to_folder, load_poses, load_reference
    from ..examples import ASTRONAUT

    out = Path(args.out)
    reference = load_reference(
        ASTRONAUT / "reference.jpg", ASTRONAUT / "reference_keypoints.json", ASTRONAUT / "reference_mask.png"
    )
    poses = load_poses(ASTRONAUT / "poses.json")
    report = calibrate_to_folder(reference, poses, out, progress=None if args.quiet else ProgressBar("calibrate"))
    summary = report["summary"]
    print(
        f"demo: calibrated {summary['frames']} frames (mean IoU {summary['mean_score']:.3f}) into {out}/calibrated; "
        f"report: {out / 'report.png'}",
        file=sys.stderr,
    )
    return 0
