"""``tpc delete``: free a backend's disk of finished jobs (render farms run thousands of them)."""

from __future__ import annotations

import argparse
import sys

from tpc_protocol.errors import ErrorCode, JobFailed

from .backend_client import add_backend_arguments, connect


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "delete",
        help="delete finished jobs from the backend (frames, report, inputs)",
        description="Delete finished (done, failed or cancelled) jobs from the backend: their frames, report, "
        "inputs and journal entries. A queued or running job must be cancelled first. Frames already "
        "written by `tpc submit --out` stay where they are.",
    )
    add_backend_arguments(parser)
    parser.add_argument("jobs", nargs="+", metavar="JOB", help="job ids")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    failed = 0
    with connect(args) as client:
        for job_id in dict.fromkeys(args.jobs):  # each once, in the order given
            try:
                result = client.delete(job_id)
            except JobFailed as error:
                if error.code not in (ErrorCode.UNKNOWN_JOB, ErrorCode.JOB_ACTIVE):
                    raise  # the backend itself is in trouble: one sentence and stop
                print(f"tpc: error: {error}", file=sys.stderr)
                failed += 1
                continue
            job = result["job"]
            print(
                f"job {job_id} deleted ({job['state']}, {job['done']} of {job['total']} frames; "
                f"{result['freed_bytes'] / 1e6:.1f} MB freed)",
                file=sys.stderr,
            )
    return 2 if failed else 0
