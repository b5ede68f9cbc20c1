"""Scale-out on Ray: throughput of concurrent preview jobs with 1, 2 and 4 workers, and what Ray adds per job.

A simulated Ray cluster (``ray.cluster_utils.Cluster``: a head node and four worker nodes that declare
one logical GPU each, all processes on this machine) serves a real gateway, `tpc-backend serve --ray
ADDRESS --workers W`. For each W, N preview jobs are submitted at once, each followed by its own
client; throughput is all their frames over the time from the first submit to the last DONE, and
the scaling ratio is that over the 1-worker figure. The same runs against a plain backend whose
workers are threads (`--workers W`, no Ray) give the baseline. On a machine with C cores the
ratio cannot pass C whatever the cluster: the nodes share them.

Per-job overhead: the median time from submit to the first frame of a small job (2 frames,
128x128) on an idle, warm backend, through Ray (one worker) and through a local thread.

    .venv/bin/python benchmarks/ray_scaling.py [--jobs 8] [--frames 48] [--size 256] [--workers 1 2 4] [--samples 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray.cluster_utils import Cluster  # noqa: E402

from tests.support.backend import Backend  # noqa: E402
from tests.support.example_jobs import collect, example_files, job  # noqa: E402
from tpc_protocol.messages import Frame  # noqa: E402


def throughput(backend: Backend, jobs: list[dict], tag: str) -> float:
    """Frames per second of ``jobs`` submitted at once."""
    results: dict[int, dict] = {}

    def follow(index: int) -> None:
        with backend.client(timeout=300) as client:
            results[index] = collect(client.submit(f"{tag}-{index}", **jobs[index]))

    threads = [threading.Thread(target=follow, args=(index,)) for index in range(len(jobs))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    frames = sum(len(result["frames"]) for result in results.values())
    assert len(results) == len(jobs) and all(result["done"] for result in results.values()), backend.log()
    return frames / seconds


def first_frame_ms(backend: Backend, example: dict, samples: int, tag: str) -> float:
    """Median milliseconds from submit to the first frame of a small job on an idle backend."""
    times = []
    with backend.client(timeout=120) as client:
        collect(client.submit(f"{tag}-warm-up", **job(example, frames=2)))
        for index in range(samples):
            started = time.perf_counter()
            events = client.submit(f"{tag}-{index}", **job(example, frames=2, shift=index + 1))
            for event in events:
                if isinstance(event, Frame):
                    times.append(1000 * (time.perf_counter() - started))
                    break
            events.close()
            client.cancel(f"{tag}-{index}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    example = example_files()
    jobs = [job(example, frames=args.frames, size=args.size, shift=index) for index in range(args.jobs)]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0, "include_dashboard": False})
    for _ in range(max(args.workers)):
        cluster.add_node(num_cpus=1, num_gpus=1)
    rates: dict[tuple[str, int], float] = {}
    overhead: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            for kind in ("ray", "threads"):
                for workers in args.workers:
                    extra = ("--ray", cluster.address) if kind == "ray" else ()
                    backend = Backend(Path(folder) / f"{kind}-{workers}", "--workers", str(workers), *extra).start(timeout=120)
                    try:
                        throughput(backend, jobs[: min(2, args.jobs)], "warm-up")  # the workers load their engines
                        rates[kind, workers] = throughput(backend, jobs, "run")
                        if workers == 1:
                            overhead[kind] = first_frame_ms(backend, example, args.samples, "latency")
                    finally:
                        backend.stop(timeout=60)
    finally:
        cluster.shutdown()
    print(f"{args.jobs} concurrent preview jobs of {args.frames} frames at {args.size}x{args.size}; {os.cpu_count()} CPU cores")
    print(f"{'workers':>8}  {'Ray frames/s':>12}  {'scaling':>7}  {'threads frames/s':>16}  {'scaling':>7}")
    for workers in args.workers:
        ray_rate, thread_rate = rates["ray", workers], rates["threads", workers]
        print(
            f"{workers:>8}  {ray_rate:>12.1f}  {ray_rate / rates['ray', args.workers[0]]:>6.2f}x"
            f"  {thread_rate:>16.1f}  {thread_rate / rates['threads', args.workers[0]]:>6.2f}x"
        )
    print(f"submit -> first frame (2-frame 128x128 job, idle, median of {args.samples}): "
          f"Ray {overhead['ray']:.0f} ms, local thread {overhead['threads']:.0f} ms, Ray adds {overhead['ray'] - overhead['threads']:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
