"""The ``tpc-backend`` command: ``serve`` runs the service, ``keys`` makes CURVE key pairs, ``models``
gets the diffusion engine's weights.

Each subcommand lives in its own module with a ``register`` function, listed in SUBCOMMANDS, as for
``tpc``. User mistakes end with one sentence on stderr and exit status 2.
"""

from __future__ import annotations

import os

from ..service import MAX_IMAGE_PIXELS

# OpenCV reads this once, when it loads; it must be set before anything imports cv2.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))

import argparse  # noqa: E402
import sys  # noqa: E402
from importlib.metadata import PackageNotFoundError, version  # noqa: E402

from ..errors import UserError  # noqa: E402
from . import keys_command, models_command, serve_command  # noqa: E402

SUBCOMMANDS = (serve_command, keys_command, models_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tpc-backend", description="The TPC Animate backend service.")
    try:
        release = version("tpc-animate")
    except PackageNotFoundError:
        release = "unknown"
    parser.add_argument("--version", action="version", version=f"tpc-backend {release}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as error:
        print(f"tpc-backend: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tpc-backend: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
