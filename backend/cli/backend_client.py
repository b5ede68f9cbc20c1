"""What ``tpc submit``, ``status`` and ``cancel`` share: where the backend is and how to reach it."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from tpc_protocol.errors import BackendUnreachable, ErrorCode, JobFailed, ProtocolError, VersionMismatch
from tpc_protocol.limits import DEFAULT_ADDRESS

from ..errors import UserError


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default=DEFAULT_ADDRESS, metavar="ADDR", help="backend address (default %(default)s)")
    parser.add_argument("--server-key", metavar="KEY", help="CURVE: the backend's public key (its .key file or Z85 text)")
    parser.add_argument("--client-key", metavar="FILE", help="CURVE: this client's .key_secret file")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="give up after S seconds without a word from the backend (default %(default)s)")  # fmt: skip


@contextmanager
def connect(args: argparse.Namespace) -> Iterator[JobClient]:  # noqa: F821
    """A JobClient for the command's arguments; protocol errors come out as one-sentence UserErrors."""
    from tpc_protocol.client import JobClient

    from ..service.security import load_client_keys

    if (args.server_key is None) != (args.client_key is None):
        raise UserError("CURVE needs both --server-key (the backend's public key) and --client-key (this client's .key_secret)")
    server_key, keypair = load_client_keys(args.server_key, args.client_key) if args.server_key else (None, None)
    if not args.timeout > 0:
        raise UserError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    try:
        client = JobClient(args.backend, server_public_key=server_key, client_keypair=keypair, timeout=args.timeout)
    except ValueError as error:
        raise UserError(str(error)) from None
    try:
        yield client
    except JobFailed as error:
        raise UserError(str(error), error.code) from None
    except BackendUnreachable as error:
        raise UserError(str(error), ErrorCode.UNREACHABLE) from None
    except VersionMismatch as error:
        raise UserError(str(error), ErrorCode.VERSION_MISMATCH) from None
    except ProtocolError as error:
        raise UserError(f"the backend at {args.backend} broke the protocol: {error}", ErrorCode.PROTOCOL) from None
    finally:
        client.close()
