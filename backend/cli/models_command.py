"""``tpc-backend models``: get the diffusion engine's weights (``pull``) or write a tiny test set (``tiny``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UserError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "models",
        help="download the diffusion engine's weights, or write a tiny random-weight set for tests",
        description="Manage the models folder the diffusion engine loads (`tpc-backend serve --models DIR`).",
    )
    actions = parser.add_subparsers(dest="models_action", required=True, metavar="ACTION")
    pull = actions.add_parser(
        "pull",
        help="download the default weights (SD1.x image-variations UNet/VAE/CLIP, ControlNet OpenPose, AnimateDiff) into DIR",
        description="Download the default diffusers-format weights from Hugging Face into DIR (about 8 GB) "
        "and write DIR/models.json. Needs internet.",
    )
    pull.add_argument("directory", metavar="DIR", help="models folder to create or update")
    pull.set_defaults(handler=run_pull)
    tiny = actions.add_parser(
        "tiny",
        help="write tiny random weights in the same layout (tests and smoke checks; the frames are noise)",
        description="Write a tiny random-weight models folder in exactly the layout of `models pull`: "
        "a whole job runs in seconds on a CPU. Its frames are meaningless; it exists to test the plumbing.",
    )
    tiny.add_argument("directory", metavar="DIR", help="models folder to create")
    tiny.add_argument("--seed", type=int, default=0, help="seed of the random weights (default %(default)s)")
    tiny.set_defaults(handler=run_tiny)


def _target(directory: str) -> Path:
    path = Path(directory).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} exists and is not a folder; give a folder for the models")
    return path


def run_pull(args: argparse.Namespace) -> int:
    from ..engines.diffusion.pull import pull_default_models

    folder = pull_default_models(_target(args.directory), say=lambda line: print(line, file=sys.stderr))
    print(f"models ready in {folder.root}; serve them with `tpc-backend serve --models {folder.root}`", file=sys.stderr)
    return 0


def run_tiny(args: argparse.Namespace) -> int:
    from ..engines.diffusion.random_models import write_tiny_models

    folder = write_tiny_models(_target(args.directory), seed=args.seed)
    print(
        f"wrote tiny random-weight models to {folder.root} (test weights: frames will be noise); "
        f"serve them with `tpc-backend serve --models {folder.root}`",
        file=sys.stderr,
    )
    return 0
