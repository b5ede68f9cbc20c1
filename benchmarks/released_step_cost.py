"""What TPC costs per denoising step on the AnimateAnyone-family profile (reference-poseguider).

    .venv/bin/python -m benchmarks.released_step_cost                        # CPU: 256 px, 4 frames, 5 steps
    .venv/bin/python -m benchmarks.released_step_cost --size 512 --frames 24 --steps 5   # Moore's window (GPU)

SD1.5-shaped components with random weights, assembled as a converted Moore-AnimateAnyone folder is (pose
guider after conv_in, per-frame temporal norms, reference attention in all 16 spatial blocks), conditioned
on the bundled example calibrated (benchmarks/calibrated_example.py). It times the same guided steps three
ways -- plain AnimateAnyone (``--no-tpc``), TPC with person-token banks (the default) and TPC with whole
banks -- taking turns step by step so that all three see the same load, and prints each variant's
fastest and median step (wall clock) and median CPU time, and TPC's share on top of plain. On a busy
machine the fastest step and the CPU time are the figures to read.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from tpc_backend.engines.diffusion.components import default_device
from tpc_backend.engines.diffusion.pipeline import AnimationInputs, AnimationPipeline
from tpc_backend.engines.diffusion.profiles import REFERENCE_POSEGUIDER
from tpc_backend.engines.diffusion.random_models import random_components

from .attention_overhead import synchronize
from .calibrated_example import calibrated_example


def main() -> None:
    device, dtype = default_device()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (a multiple of 64)")
    parser.add_argument("--frames", type=int, default=4, help="frames (one context window when <= 24)")
    parser.add_argument("--steps", type=int, default=5, help="timed denoising steps per variant")
    args = parser.parse_args()

    started = time.perf_counter()
    pipeline = AnimationPipeline(random_components("sd15", device, dtype, profile=REFERENCE_POSEGUIDER))
    print(f"device {device} ({dtype}), SD1.5 shapes, reference-poseguider profile, random weights built in "
          f"{time.perf_counter() - started:.1f} s; {args.size}x{args.size} px, {args.frames} frames, guidance 3.5, "
          f"{args.steps} steps per variant, torch threads {torch.get_num_threads()}")  # fmt: skip
    example = calibrated_example(range(args.frames), args.size)
    tpc = AnimationInputs(reference=example.reference, reference_photo=example.reference_photo, poses=example.poses,
                          calibrated=example.calibrated, calibrated_masks=example.masks, steps=args.steps, guidance=3.5)  # fmt: skip
    variants = {
        "plain AnimateAnyone (no TPC)": dataclasses.replace(tpc, calibrated=None, calibrated_masks=None),
        "TPC, person-token banks": tpc,
        "TPC, whole banks": dataclasses.replace(tpc, person_tokens=False),
    }
    states = {name: pipeline.prepare(inputs) for name, inputs in variants.items()}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for step in range(args.steps):
        for name, state in states.items():  # in turns: every variant sees the same load
            synchronize(device)
            begun, begun_cpu = time.perf_counter(), time.process_time()
            pipeline.step(state, step)
            synchronize(device)
            wall[name].append(time.perf_counter() - begun)
            cpu[name].append(time.process_time() - begun_cpu)
    for name in variants:
        print(f"{name}: fastest step {min(wall[name]):.2f} s, median {statistics.median(wall[name]):.2f} s, "
              f"median CPU time {statistics.median(cpu[name]):.2f} s (steps {', '.join(f'{s:.2f}' for s in wall[name])})")  # fmt: skip
    plain = "plain AnimateAnyone (no TPC)"
    for name in list(variants)[1:]:
        print(f"{name}: {100 * (min(wall[name]) / min(wall[plain]) - 1):+.1f} % fastest step, "
              f"{100 * (statistics.median(cpu[name]) / statistics.median(cpu[plain]) - 1):+.1f} % CPU time over plain")
    print(f"calibrated person covers {100 * example.person_share:.0f} % of the frame on average")


if __name__ == "__main__":
    main()
