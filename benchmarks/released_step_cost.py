"""What TPC costs per denoising step on the AnimateAnyone-family profile (reference-poseguider).

    .venv/bin/python -m benchmarks.released_step_cost                        # CPU: 256 px, 4 frames, 3 steps
    .venv/bin/python -m benchmarks.released_step_cost --size 512 --frames 24 --steps 5   # Moore's window (GPU)

SD1.5-shaped components with random weights, assembled as a converted Moore-AnimateAnyone folder is (pose
guider after conv_in, per-frame temporal norms, reference attention in all 16 spatial blocks), conditioned
on the bundled example calibrated (benchmarks/calibrated_example.py). It times the same guided steps three
ways -- plain AnimateAnyone (``--no-tpc``), TPC with person-token banks (the default) and TPC with whole
banks -- and prints each step's median wall time and TPC's share on top of plain.
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
    parser.add_argument("--steps", type=int, default=3, help="timed denoising steps per variant")
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
    medians = {}
    for name, inputs in variants.items():
        state = pipeline.prepare(inputs)
        seconds = []
        for step in range(args.steps):
            synchronize(device)
            begun = time.perf_counter()
            pipeline.step(state, step)
            synchronize(device)
            seconds.append(time.perf_counter() - begun)
        medians[name] = statistics.median(seconds)
        print(f"{name}: median step {medians[name]:.2f} s (steps {', '.join(f'{s:.2f}' for s in seconds)})")
    plain = medians["plain AnimateAnyone (no TPC)"]
    for name in list(variants)[1:]:
        print(f"{name}: {100 * (medians[name] / plain - 1):+.1f} % per step over plain")
    print(f"calibrated person covers {100 * example.person_share:.0f} % of the frame on average")


if __name__ == "__main__":
    main()
