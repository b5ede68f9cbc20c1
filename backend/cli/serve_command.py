"""``tpc-backend serve``: run the backend service until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from tpc_protocol.limits import DEFAULT_ADDRESS

from ..service.data_folder import default_data_folder


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the backend: receive jobs over ZeroMQ, render them, stream frames back",
        description="Serve jobs over ZeroMQ. Jobs are journaled in the data folder and survive restarts: "
        "unfinished ones resume at the next start. Stop with SIGTERM or Ctrl-C (running jobs pause after "
        "their current frame).",
    )
    parser.add_argument(
        "--bind",
        default=DEFAULT_ADDRESS,
        metavar="ADDR",
        help="address to listen on (default %(default)s; port 0 picks a free one; a non-loopback address needs --secret-key and --allow)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=default_data_folder(),
        metavar="DIR",
        help="data folder: journal, inputs, frames, reports (default %(default)s)",
    )
    parser.add_argument(
        "--engine", default="preview", metavar="NAME", help="engine for jobs that name none, loaded at start (default %(default)s)"
    )
    parser.add_argument(
        "--models",
        type=Path,
        metavar="DIR",
        help="local folder of model weights for the diffusion engine (its models.json and configs are "
        "checked at start; without it the backend serves preview only)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="jobs rendered at once (default: 1; with --ray, one per --gpus-per-worker GPUs of the cluster)",
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="render on a Ray cluster: `auto` (the cluster `ray start` joined this machine to, or "
        "RAY_ADDRESS), `local` (start one here), HOST:PORT or ray://HOST:10001; this process stays the "
        "only address clients use (see docs/backend.md)",
    )
    parser.add_argument(
        "--gpus-per-worker",
        type=float,
        default=1.0,
        metavar="G",
        help="with --ray: GPUs each worker holds (default %(default)g; fractions share a GPU; 0 runs workers on CPUs and needs --workers)",
    )
    parser.add_argument("--keep-days", type=float, metavar="DAYS",
                        help="delete finished jobs (frames, report, inputs) DAYS days after their last change "
                        "(fractions allowed); default: keep them until `tpc delete`")  # fmt: skip
    parser.add_argument("--secret-key", type=Path, metavar="FILE", help="CURVE: this server's .key_secret file")
    parser.add_argument("--allow", type=Path, metavar="DIR", help="CURVE: folder of the allowed clients' public .key files")
    parser.add_argument(
        "--ready-file", type=Path, metavar="FILE", help="write the address actually bound to FILE once serving (for scripts)"
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"),
                        help="how much to log on stderr (default %(default)s)")  # fmt: skip
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..engines.registry import EngineOptions
    from ..service.server import BackendService, ServeOptions

    logging.basicConfig(level=args.log_level.upper(), format="tpc-backend: %(message)s", stream=sys.stderr)
    service = BackendService(
        ServeOptions(
            bind=args.bind,
            data=args.data,
            engine=args.engine,
            engine_options=EngineOptions(models=args.models),
            workers=args.workers,
            ray=args.ray,
            gpus_per_worker=args.gpus_per_worker,
            keep_days=args.keep_days,
            secret_key=args.secret_key,
            allow=args.allow,
            ready_file=args.ready_file,
        )
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.request_stop())
    service.serve()
    return 0
