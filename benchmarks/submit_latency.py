"""Submit to first progress: how soon a client hears back, with the backend idle and with it busy.

Each sample submits a small new job (2 frames, 128x128, inputs and keypoints sent along) to a real
backend process and times, from the submit call: Accepted (checked and journaled), the first
Progress, the first frame, and DONE. "Busy" repeats it while the worker renders a long 512x512 job,
which shows that the ROUTER loop answers while work runs (the new job waits in the queue, so its
first frame comes late, but its Accepted and Progress do not).

    .venv/bin/python benchmarks/submit_latency.py [--samples 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.backend import Backend  # noqa: E402
from tests.support.example_jobs import collect, example_files, job  # noqa: E402
from tpc_protocol.client import JobFailed  # noqa: E402
from tpc_protocol.messages import Accepted, Done, Frame, Progress  # noqa: E402


def sample(client, job_id: str, arguments: dict) -> dict[str, float]:
    times: dict[str, float] = {}
    started = time.perf_counter()
    for event in client.submit(job_id, **arguments):
        name = {Accepted: "accepted", Progress: "progress", Frame: "frame", Done: "done"}.get(type(event))
        if name and name not in times:
            times[name] = 1000 * (time.perf_counter() - started)
    return times


def follow_until_cancelled(client, arguments: dict) -> None:
    try:
        collect(client.submit("long", **arguments))
    except JobFailed as error:
        assert error.code == "cancelled", error


def report(label: str, samples: list[dict[str, float]], keys: tuple[str, ...]) -> None:
    print(label)
    for key in keys:
        values = sorted(s[key] for s in samples)
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        print(f"  submit -> {key:<9} median {statistics.median(values):8.1f} ms   p90 {p90:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    example = example_files()
    with tempfile.TemporaryDirectory() as folder:
        backend = Backend(Path(folder) / "data").start()
        try:
            with backend.client(timeout=120) as client:
                sample(client, "warm-up", job(example, frames=2))
                idle = [sample(client, f"idle-{i}", job(example, frames=2, shift=i)) for i in range(args.samples)]
                long_job = threading.Thread(target=follow_until_cancelled, args=(client, job(example, frames=400, size=512)))
                long_job.start()
                time.sleep(1.0)
                busy = []
                for i in range(args.samples):
                    events = client.submit(f"busy-{i}", **job(example, frames=2, shift=i))
                    started = time.perf_counter()
                    times: dict[str, float] = {}
                    for event in events:
                        name = {Accepted: "accepted", Progress: "progress"}.get(type(event))
                        if name and name not in times:
                            times[name] = 1000 * (time.perf_counter() - started)
                        if len(times) == 2:
                            break
                    events.close()
                    busy.append(times)
                client.cancel("long")
                long_job.join()
        except Exception:
            print(backend.log(), file=sys.stderr)
            raise
        finally:
            backend.stop()
    print(f"{args.samples} submits of a 2-frame 128x128 job to a local backend process")
    report("idle backend:", idle, ("accepted", "progress", "frame", "done"))
    report("while a 512x512 job renders:", busy, ("accepted", "progress"))


if __name__ == "__main__":
    main()
