"""The ``tpc`` command. Each subcommand lives in its own module with a ``register`` function.

User mistakes (missing files, wrong formats, mismatched sizes) end with one sentence on stderr and
exit status 2; a traceback means a bug in TPC Animate.
"""

from __future__ import annotations

import argparse
import sys

from tpc import __version__

from ..errors import UserError
from . import calibrate_command, cancel_command, demo_command, pose_command, status_command, submit_command

SUBCOMMANDS = (calibrate_command, demo_command, pose_command, submit_command, status_command, cancel_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tpc", description="Test-time Procrustes Calibration for human image animation.")
    parser.add_argument("--version", action="version", version=f"tpc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as error:
        print(f"tpc: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tpc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
