"""``tpc-backend models``: get the diffusion engine's weights (``pull``), convert the released
AnimateAnyone-family files (``convert``), or write a tiny test set (``tiny``)."""

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
        help="download weights into DIR: the released AnimateAnyone/MusePose models, or public parts (ControlNet profile)",
        description="Download weights from Hugging Face into DIR and write DIR/models.json. Needs internet. "
        "--profile animate-anyone or musepose fetches the released files (about 8 GB) and converts them as "
        "`models convert` does; controlnet (the default) fetches an image-variations UNet/VAE/CLIP, ControlNet "
        "OpenPose and an AnimateDiff adapter (about 8 GB), parts never trained together for animation.",
    )
    pull.add_argument("directory", metavar="DIR", help="models folder to create (or update, for controlnet)")
    pull.add_argument(
        "--profile",
        choices=("controlnet", "animate-anyone", "musepose"),
        default="controlnet",
        help="what to download (default %(default)s)",
    )
    pull.set_defaults(handler=run_pull)
    convert = actions.add_parser(
        "convert",
        help="convert released Moore-AnimateAnyone or MusePose files (pretrained_weights/) into a models folder",
        description="Convert the released AnimateAnyone-family checkpoints, laid out as the project's download "
        "script lays them out, into a new models folder OUT (profile reference-poseguider). Every tensor is "
        "checked and kept bit for bit; the first problem stops with one sentence and leaves OUT absent.",
    )
    convert.add_argument("--from", dest="family", required=True, choices=("animate-anyone", "musepose"), help="which release SRC holds")
    convert.add_argument("source", metavar="SRC", help="the project's pretrained_weights folder")
    convert.add_argument("target", metavar="OUT", help="models folder to create (must not exist)")
    convert.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), help="store the weights in this precision (default: as released)")
    convert.set_defaults(handler=run_convert)
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
    from ..engines.diffusion.pull import pull_default_models, pull_released

    say = lambda line: print(line, file=sys.stderr)  # noqa: E731
    if args.profile == "controlnet":
        folder = pull_default_models(_target(args.directory), say=say)
    else:
        folder = pull_released(args.profile, _target(args.directory), say=say)
    print(f"models ready in {folder.root}; serve them with `tpc-backend serve --models {folder.root}`", file=sys.stderr)
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from ..engines.diffusion.convert import convert_released

    folder = convert_released(args.family, args.source, args.target, args.dtype, say=lambda line: print(line, file=sys.stderr))
    print(f"serve them with `tpc-backend serve --models {folder.root}`", file=sys.stderr)
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
