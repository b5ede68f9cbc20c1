"""``tpc-backend keys``: make a CURVE key pair for a backend or for one of its clients."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "keys",
        help="make a CURVE key pair (NAME.key to share, NAME.key_secret to keep)",
        description="Make a CURVE key pair for a backend that listens beyond this machine, or for a client "
        "of one. Give the server's NAME.key to its clients (tpc submit --server-key); put each client's "
        "NAME.key into the folder the backend allows (tpc-backend serve --allow DIR).",
    )
    parser.add_argument("name", metavar="NAME", help="name of the key pair, e.g. the machine or the person")
    parser.add_argument("--dir", type=Path, default=Path("."), metavar="DIR", help="where to write the keys (default .)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..service.security import create_keypair

    public, secret = create_keypair(args.dir, args.name)
    print(f"public key: {public} (share it)\nsecret key: {secret} (keep it private)", file=sys.stderr)
    return 0
