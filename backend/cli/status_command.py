"""``tpc status``: where the backend's jobs stand."""

from __future__ import annotations

import argparse
import json
import time

from .backend_client import add_backend_arguments, connect


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "status",
        help="show the state of one job or of the backend's newest jobs",
        description="Show a job's state and frames done, or list the backend's newest jobs.",
    )
    add_backend_arguments(parser)
    parser.add_argument("job", nargs="?", metavar="JOB", help="job id (default: list the newest jobs)")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        status = client.status(args.job)
    if args.json:
        print(json.dumps(status, indent=1))
        return 0
    jobs = [status] if args.job else status
    if not jobs:
        print("no jobs")
        return 0
    width = max(len("JOB"), *(len(job["job_id"]) for job in jobs))
    print(f"{'JOB':<{width}}  {'STATE':<9}  {'FRAMES':>13}  {'ENGINE':<9}  {'UPDATED':<19}  WORKER")
    for job in jobs:
        frames = f"{job['done']}/{job['total']}"
        updated = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job["updated"]))
        print(f"{job['job_id']:<{width}}  {job['state']:<9}  {frames:>13}  {job['engine']:<9}  {updated}  {worker_text(job.get('worker'))}")
        if job["error"]:
            print(f"{'':<{width}}  {job['error']['code']}: {job['error']['message']}")
    return 0


def worker_text(worker: dict | None) -> str:
    """Who runs a job: ``tpc-worker-0`` in the backend's process, ``tpc-worker-1 on 10.0.0.7 (node 3bc7e47a, pid 4121)`` on Ray."""
    if not worker:
        return "-"
    if worker.get("node") is None:
        return worker["name"]
    return f"{worker['name']} on {worker['address']} (node {worker['node']}, pid {worker['pid']})"
