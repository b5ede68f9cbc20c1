"""The flags for pose files that `tpc pose`, `tpc submit` and `tpc calibrate` share.

OpenPose files never record the size of the picture their points are in, and some formats no frame
rate; these flags supply them, and the files that do state them keep their own.
"""

from __future__ import annotations

import argparse

from ..errors import UserError


def add_pose_file_arguments(parser: argparse.ArgumentParser) -> None:
    files = parser.add_argument_group("pose files")
    files.add_argument("--width", type=int, metavar="W", help="canvas width in pixels, for OpenPose files that do not state it")
    files.add_argument("--height", type=int, metavar="H", help="canvas height in pixels, for OpenPose files that do not state it")
    files.add_argument("--fps", type=float, metavar="F", help="frame rate for pose files that do not state it (default 30)")


def canvas_of(args: argparse.Namespace) -> tuple[int, int] | None:
    """(--width, --height), or None when neither is given."""
    if (args.width is None) != (args.height is None):
        raise UserError("give both --width and --height, or neither")
    return (args.width, args.height) if args.width is not None else None
