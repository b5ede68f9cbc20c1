"""Frame streaming throughput on loopback: the backend's protocol against raw pyzmq sending the same bytes.

A finished job's frames are streamed to a JobClient (attach from frame 0: read from disk, framed,
flow-controlled, decoded and checked on arrival), and the same bytes are sent by a bare ROUTER
process that holds them in memory to a bare DEALER. Both senders are separate processes, as a
backend is. The goal is at least 0.8 of the raw rate.

    .venv/bin/python benchmarks/streaming_throughput.py [--frames 96] [--size 512] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.backend_jobs import Backend, collect, example_files, job  # noqa: E402
from tpc_protocol.messages import Done, Frame  # noqa: E402


def raw_sender(frames_dir: str, endpoint_file: str) -> None:
    """The baseline's sending side: bind, wait for a request, send every frame's bytes as fast as possible."""
    frames = [path.read_bytes() for path in sorted(Path(frames_dir).glob("*.png"))]
    context = zmq.Context()
    socket = context.socket(zmq.ROUTER)
    socket.bind("tcp://127.0.0.1:*")
    Path(endpoint_file).write_text(socket.getsockopt_string(zmq.LAST_ENDPOINT))
    while True:
        identity, request = socket.recv_multipart()
        if request == b"stop":
            break
        for data in frames:
            socket.send_multipart([identity, data], copy=False)


def time_raw(address: str, count: int) -> tuple[float, float, int]:
    """(first to last frame, request to last frame) in seconds, and bytes received."""
    context = zmq.Context()
    socket = context.socket(zmq.DEALER)
    socket.connect(address)
    started = time.perf_counter()
    socket.send(b"go")
    received = len(socket.recv())
    first = time.perf_counter()
    for _ in range(count - 1):
        received += len(socket.recv())
    ended = time.perf_counter()
    socket.close(0)
    context.term()
    return ended - first, ended - started, received


def time_protocol(backend: Backend, job_id: str, count: int) -> tuple[float, float, int]:
    """The same through JobClient.attach; the whole time runs until DONE (after the report)."""
    with backend.client() as client:
        started = time.perf_counter()
        received = frames = 0
        for event in client.attach(job_id):
            if isinstance(event, Frame):
                received += len(event.png)
                frames += 1
                if frames == 1:
                    first = time.perf_counter()
                elif frames == count:
                    last = time.perf_counter()
            elif isinstance(event, Done):
                ended = time.perf_counter()
    assert frames == count
    return last - first, ended - started, received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--raw-sender", nargs=2, metavar=("FRAMES_DIR", "ENDPOINT_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_sender:
        raw_sender(*args.raw_sender)
        return

    with tempfile.TemporaryDirectory() as folder:
        backend = Backend(Path(folder) / "data").start()
        try:
            with backend.client(timeout=120) as client:
                collect(client.submit("throughput", **job(example_files(), frames=args.frames, size=args.size)))
            frames_dir = backend.data / "jobs" / "throughput" / "frames"
            endpoint_file = Path(folder) / "raw-endpoint"
            sender = subprocess.Popen([sys.executable, __file__, "--raw-sender", str(frames_dir), str(endpoint_file)])
            while not endpoint_file.is_file() or not endpoint_file.read_text():
                time.sleep(0.02)
            raw_address = endpoint_file.read_text()
            time_raw(raw_address, args.frames)  # warm up both paths (page cache, connections)
            time_protocol(backend, "throughput", args.frames)
            ours, raw = [], []
            for _ in range(args.repeats):
                ours.append(time_protocol(backend, "throughput", args.frames))
                raw.append(time_raw(raw_address, args.frames))
            with zmq.Context() as context, context.socket(zmq.DEALER) as stop:
                stop.connect(raw_address)
                stop.send(b"stop")
                sender.wait(10)
        finally:
            backend.stop()
    size = ours[0][2]
    print(f"frames: {args.frames} PNGs of {args.size}x{args.size}, {size / 1e6:.1f} MB per pass, {args.repeats} passes, medians")

    def rate(samples: list, which: int, count: int) -> str:
        seconds = statistics.median(sample[which] for sample in samples)
        return f"{size * count / args.frames / seconds / 1e6:7.1f} MB/s {count / seconds:7.0f} frames/s"

    streaming = [rate(s, 0, args.frames - 1) for s in (ours, raw)]
    whole = [rate(s, 1, args.frames) for s in (ours, raw)]
    print(f"                        first to last frame           request to the end")
    print(f"protocol (JobClient):   {streaming[0]}   {whole[0]}  (includes Accepted, report, DONE)")
    print(f"raw pyzmq ROUTER/DEALER:{streaming[1]}   {whole[1]}")
    ratio = statistics.median(s[0] for s in raw) / statistics.median(s[0] for s in ours)
    ratio_whole = statistics.median(s[1] for s in raw) / statistics.median(s[1] for s in ours)
    print(f"ratio protocol/raw: {ratio:.2f} streaming, {ratio_whole:.2f} whole request (goal >= 0.80)")

if __name__ == "__main__":
    main()
