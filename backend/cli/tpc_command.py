"""The ``tpc`` command. Each subcommand lives in its own module with a ``register`` function.

User mistakes (missing files, wrong formats, mismatched sizes) end with one sentence on stderr and
exit status 2; a traceback means a bug in TPC Animate.
"""

from __future__ import annotations

import argparse
import sys

from . import (
    calibrate_command,
    cancel_command,
    command_line,
    delete_command,
    demo_command,
    pose_command,
    status_command,
    submit_command,
)

SUBCOMMANDS = (calibrate_command, demo_command, pose_command, submit_command, status_command, cancel_command, delete_command)


def build_parser() -> argparse.ArgumentParser:
    return command_line.build_parser("tpc", "Test-time Procrustes Calibration for human image animation.", SUBCOMMANDS)


def main(argv: list[str] | None = None) -> int:
    return command_line.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
