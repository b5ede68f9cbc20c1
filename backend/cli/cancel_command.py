"""``tpc cancel``: stop a job within a frame; frames already made stay, and submitting again resumes it."""

from __future__ import annotations

import argparse
import sys

from .backend_client import add_backend_arguments, connect


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "cancel",
        help="cancel a job (its finished frames stay; submit it again to resume)",
        description="Cancel a queued or running job. Frames already finished stay on the backend; "
        "submitting the same job again resumes it from there.",
    )
    add_backend_arguments(parser)
    parser.add_argument("job", metavar="JOB", help="job id")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = client.cancel(args.job)
    frames = "before it was checked" if job["total"] is None else f"{job['done']} of {job['total']} frames done"
    if job["state"] == "cancelled":
        print(f"job {args.job} cancelled ({frames})", file=sys.stderr)
    else:
        print(f"job {args.job} was already {job['state']} ({frames}); nothing to cancel", file=sys.stderr)
    return 0
