"""How long deleting a finished job takes, and how long a submit waits behind it.

    .venv/bin/python -m benchmarks.delete_speed [--frames 2000 --size 256]

Starts a real backend with a temporary data folder, renders one long preview job, then sends a
delete and, right behind it, a one-frame submit (deletes and submits share the intake thread, so the
submit waits while the files are removed). Prints the job's size on disk, the delete's round trip and
the submit's time to Accepted.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from tests.support.backend import Backend
from tests.support.example_jobs import collect, example_files, job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000, help="frames of the job deleted")
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels")
    args = parser.parse_args()
    example = example_files()
    with tempfile.TemporaryDirectory() as folder:
        backend = Backend(Path(folder) / "data").start()
        try:
            with backend.client(timeout=600) as client:
                started = time.perf_counter()
                collect(client.submit("long", **job(example, frames=args.frames, size=args.size)))
                rendered = time.perf_counter() - started
                files = list((backend.data / "jobs" / "long").rglob("*"))
                on_disk = sum(path.stat().st_size for path in files if path.is_file())
            outcome: dict = {}

            def delete() -> None:
                with backend.client(timeout=600) as deleter:
                    outcome["result"] = deleter.delete("long")
                    outcome["seconds"] = time.perf_counter() - started

            started = time.perf_counter()
            deleting = threading.Thread(target=delete)
            deleting.start()
            time.sleep(0.005)  # the delete goes first
            with backend.client(timeout=600) as client:
                begun = time.perf_counter()
                events = client.submit("short", **job(example, frames=1, size=64))
                next(events)  # Accepted
                accepted = time.perf_counter() - begun
                collect(events)
            deleting.join()
        finally:
            backend.stop()
    print(f"job of {args.frames} frames at {args.size}x{args.size} px rendered in {rendered:.1f} s: "
          f"{len(files)} files, {on_disk / 1e6:.1f} MB on disk (freed: {outcome['result']['freed_bytes'] / 1e6:.1f} MB)")  # fmt: skip
    print(f"delete round trip {1000 * outcome['seconds']:.0f} ms; a one-frame submit sent 5 ms after it reached Accepted "
          f"after {1000 * accepted:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
