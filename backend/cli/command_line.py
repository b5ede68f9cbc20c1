"""What ``tpc`` and ``tpc-backend`` share: subcommands from modules, and how a run ends.

A user's mistake is one sentence on stderr and exit status 2, Ctrl-C is exit 130; anything else is
a bug in TPC Animate and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from tpc import __version__

from ..errors import UserError


def build_parser(program: str, description: str, subcommands: tuple[ModuleType, ...]) -> argparse.ArgumentParser:
    """A parser whose subcommands are the modules' ``register(subparsers)``."""
    parser = argparse.ArgumentParser(prog=program, description=description)
    parser.add_argument("--version", action="version", version=f"{program} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in subcommands:
        module.register(commands)
    return parser


def run(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse ``argv`` and run the chosen subcommand's handler; the process's exit status."""
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
