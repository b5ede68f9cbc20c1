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

from . import command_line, keys_command, models_command, serve_command  # noqa: E402

SUBCOMMANDS = (serve_command, keys_command, models_command)


def build_parser() -> argparse.ArgumentParser:
    return command_line.build_parser("tpc-backend", "The TPC Animate backend service.", SUBCOMMANDS)


def main(argv: list[str] | None = None) -> int:
    return command_line.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
