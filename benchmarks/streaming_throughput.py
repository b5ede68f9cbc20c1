"""Frame streaming throughput on loopback: the backend's protocol against raw pyzmq sending the same bytes.

A finished job's frames and report are streamed to a JobClient (attach from frame 0: served from the
backend's cache, framed, flow-controlled, decoded and checked on arrival), and the same bytes are
sent by a bare ROUTER process that holds them in memory to a bare DEALER. Both senders are separate
processes, as a backend is, and send without copying (``copy=False``); both receivers take the frames
without copying (JobClient hands out memoryviews of ZeroMQ's buffers, the bare DEALER reads
``recv(copy=False).buffer``; ``--raw-copy`` makes it copy each into ``bytes`` with ``recv()``, which
is what a client that hands out bytes must match) and the report as bytes. The goal is at least 0.8
of the raw rate.

Two clocks, because other work on the machine moves wall time around: wall time (first to last
frame, and request to last frame) and CPU time per frame of each side (all threads of the process,
ZeroMQ's included: the client's from ``time.process_time``, the senders' from Linux's per-thread
``schedstat``). Every sample is a round of ``--passes`` streams; the figures are medians of rounds.

    .venv/bin/python benchmarks/streaming_throughput.py [--frames 96] [--size 512] [--rounds 5] [--passes 4] [--raw-copy]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import zmq

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.backend import Backend  # noqa: E402
from tests.support.example_jobs import collect, example_files, job  # noqa: E402
from tpc_protocol.client import JobClient  # noqa: E402
from tpc_protocol.messages import Frame  # noqa: E402


class Pass(NamedTuple):
    streaming: float  # seconds from the first frame to the last
    whole: float  # seconds from the request to the last frame
    received: int  # bytes of frames


class Round(NamedTuple):
    passes: list[Pass]
    sender_cpu: float | None  # seconds of the sending process, all threads
    receiver_cpu: float  # seconds of this process while receiving, all threads


def raw_sender(job_dir: str, endpoint_file: str) -> None:
    """The baseline's sending side: bind, wait for a request, send every frame's bytes, then the report's."""
    frames = [path.read_bytes() for path in sorted((Path(job_dir) / "frames").glob("*.png"))]
    report = [(Path(job_dir) / name).read_bytes() for name in ("report.json", "report.png")]
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
        socket.send_multipart([identity, *report], copy=False)


def process_cpu(pid: int) -> float | None:
    """CPU seconds of every live thread of a process (Linux); None where that cannot be read."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as file:
                total += int(file.read().split()[0])
    except OSError:
        return None
    return total / 1e9


def raw_pass(socket: zmq.Socket, count: int, copy: bool = False) -> Pass:
    def frame() -> int:
        return len(socket.recv()) if copy else len(socket.recv(copy=False).buffer)

    started = time.perf_counter()
    socket.send(b"go")
    received = frame()
    first = time.perf_counter()
    for _ in range(count - 1):
        received += frame()
    ended = time.perf_counter()
    socket.recv_multipart()  # the report
    return Pass(ended - first, ended - started, received)


def protocol_pass(client: JobClient, job_id: str, count: int) -> Pass:
    """A stream through JobClient.attach, timed to its last frame (its report and DONE follow)."""
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
    assert frames == count
    return Pass(last - first, last - started, received)


def measure(one_pass: Callable[[], Pass], sender_pid: int, passes: int) -> Round:
    sender_before, receiver_before = process_cpu(sender_pid), time.process_time()
    samples = [one_pass() for _ in range(passes)]
    sender_after, receiver_after = process_cpu(sender_pid), time.process_time()
    sender = None if sender_before is None or sender_after is None else sender_after - sender_before
    return Round(samples, sender, receiver_after - receiver_before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passes", type=int, default=4, help="streams per round")
    parser.add_argument("--raw-copy", action="store_true", help="the baseline receives each frame as bytes (recv())")
    parser.add_argument("--raw-sender", nargs=2, metavar=("JOB_DIR", "ENDPOINT_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_sender:
        raw_sender(*args.raw_sender)
        return

    with tempfile.TemporaryDirectory() as folder:
        backend = Backend(Path(folder) / "data").start()
        try:
            with backend.client(timeout=120) as client:
                collect(client.submit("throughput", **job(example_files(), frames=args.frames, size=args.size)))
            endpoint_file = Path(folder) / "raw-endpoint"
            job_dir = backend.data / "jobs" / "throughput"
            sender = subprocess.Popen([sys.executable, __file__, "--raw-sender", str(job_dir), str(endpoint_file)])
            while not endpoint_file.is_file() or not endpoint_file.read_text():
                time.sleep(0.02)
            context = zmq.Context()
            raw = context.socket(zmq.DEALER)
            raw.connect(endpoint_file.read_text())
            with backend.client() as client:
                raw_pass(raw, args.frames)  # warm up both paths (connections, the backend's frame cache)
                protocol_pass(client, "throughput", args.frames)
                ours, theirs = [], []
                for _ in range(args.rounds):  # interleaved, so both see the same machine
                    ours.append(measure(lambda: protocol_pass(client, "throughput", args.frames), backend.process.pid, args.passes))
                    theirs.append(measure(lambda: raw_pass(raw, args.frames, args.raw_copy), sender.pid, args.passes))
            raw.send(b"stop")
            sender.wait(10)
            raw.close(0)
            context.term()
        finally:
            backend.stop()

    size = ours[0].passes[0].received
    print(
        f"frames: {args.frames} PNGs of {args.size}x{args.size}, {size / 1e6:.1f} MB per stream; "
        f"{args.rounds} rounds of {args.passes} streams each, medians of rounds; baseline receives "
        + ("bytes (recv())" if args.raw_copy else "without copying (recv(copy=False))")
    )

    def seconds(rounds: list[Round], which: str) -> float:
        return statistics.median(statistics.mean(getattr(p, which) for p in r.passes) for r in rounds)

    def cpu(rounds: list[Round], which: str) -> float | None:
        values = [getattr(r, which) for r in rounds]
        if any(v is None for v in values):
            return None
        return 1e6 * statistics.median(values) / (args.passes * args.frames)

    def rate(rounds: list[Round], which: str, count: int) -> str:
        duration = seconds(rounds, which)
        return f"{size * count / args.frames / duration / 1e6:7.1f} MB/s {count / duration:6.0f} fps"

    def micros(value: float | None) -> str:
        return "   n/a" if value is None else f"{value:6.1f}"

    print("                          first to last frame      request to last frame    CPU us per frame: sender receiver")
    for label, rounds in (("protocol (JobClient):  ", ours), ("raw pyzmq ROUTER/DEALER:", theirs)):
        print(
            f"{label:<26}{rate(rounds, 'streaming', args.frames - 1)}   {rate(rounds, 'whole', args.frames)}"
            f"   {micros(cpu(rounds, 'sender_cpu'))}     {micros(cpu(rounds, 'receiver_cpu'))}"
        )
    streaming = seconds(theirs, "streaming") / seconds(ours, "streaming")
    whole = seconds(theirs, "whole") / seconds(ours, "whole")
    print(f"ratio protocol/raw: {streaming:.2f} first to last frame, {whole:.2f} request to last frame (goal >= 0.80)")
    ours_cpu = [cpu(ours, "sender_cpu"), cpu(ours, "receiver_cpu")]
    raw_cpu = [cpu(theirs, "sender_cpu"), cpu(theirs, "receiver_cpu")]
    if None not in ours_cpu and None not in raw_cpu:
        print(
            f"CPU per frame protocol/raw: {ours_cpu[0] / raw_cpu[0]:.2f} sender, {ours_cpu[1] / raw_cpu[1]:.2f} receiver, "
            f"{sum(ours_cpu) / sum(raw_cpu):.2f} both"
        )


if __name__ == "__main__":
    main()
