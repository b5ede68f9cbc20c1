"""Bank memory against the number of frames, whole calibrated banks and person tokens: host and GPU.

    .venv/bin/python -m benchmarks.bank_memory                      # 512 px, 16 ... 1024 frames
    .venv/bin/python -m benchmarks.bank_memory --size 768 --budget 2

Measures one image's bank by running the bank writer on the SD1.5-shaped reference UNet at the given
size (random weights; the size of a bank does not depend on them). A person-token bank keeps, per
layer, as many tokens as the frame of the job that keeps the most (every frame is stored that wide):
measured on the bundled example calibrated (benchmarks/calibrated_example.py, 48 poses, the person
covering 10 to 44 % of the frame; longer jobs loop the motion, so the width stays that of its largest
frame). Then, for each sequence length and both kinds of calibrated banks:
- places the job's banks with the engine's own rule (``keeps_on_device``: the reference always on the
  GPU, the calibrated banks too while everything fits --budget GiB, in pinned host memory beyond), and
- replays the engine's denoising schedule -- context windows of 16 frames overlapping by 4, iterative
  propagation with M groups, 25 steps -- to find the most calibrated banks one window moves to the
  GPU in a step.

GPU bank footprint = banks resident on the GPU + the largest per-step copy from the host; it must stay
bounded as the sequence grows. Sizes are for fp16, what the engine uses on CUDA. (The reader also
projects the banks a window reads, one layer at a time: transient and small, not counted.)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from tpc.attention import BankWriter
from tpc.propagation import IterativePropagation
from tpc_backend.engines.diffusion.bank_store import DEFAULT_GPU_BUDGET, keeps_on_device
from tpc_backend.engines.diffusion.pipeline import latent_cells, person_widths
from tpc_backend.engines.diffusion.random_models import ARCHITECTURES
from tpc_backend.engines.diffusion.windows import context_windows

from .calibrated_example import example_job

GIB = 1 << 30


def bank_shapes(size: int) -> list[tuple[int, int]]:
    """(tokens, channels) of each layer of one image's bank at ``size`` x ``size`` px, from the real writer."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel(**ARCHITECTURES["sd15"]().unet).eval()
    writer = BankWriter(unet)
    latent = torch.zeros(1, 4, size // 8, size // 8)
    context = torch.zeros(1, 1, unet.config.cross_attention_dim)
    banks = writer.collect(lambda: unet(latent, 0, encoder_hidden_states=context))
    return [(layer.shape[1], layer.shape[2]) for layer in banks.layers]


def person_token_widths(size: int, tokens: list[int]) -> list[int]:
    """Per layer: the tokens a person-token bank keeps for every frame of the example motion."""
    job = example_job()
    grid = (size // 8, size // 8)
    return person_widths([latent_cells(job.calibration(index).mask, grid) for index in range(len(job))], tokens)


def peak_gathered_images(frames: int, groups: int, steps: int = 25, window: int = 16, overlap: int = 4) -> int:
    """Most calibrated banks one window gathers in one step, over a whole job."""
    propagation = IterativePropagation(frames, groups, seed=0)
    windows = context_windows(frames, window, overlap)
    return max(len(np.unique(propagation.selection(step)[w.start : w.stop])) for step in range(steps) for w in windows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (multiple of 64)")
    parser.add_argument("--frames", type=int, nargs="+", default=[16, 32, 64, 120, 256, 512, 1024])
    parser.add_argument("--groups", type=int, default=30, help="iterative propagation groups M")
    parser.add_argument("--budget", type=float, default=DEFAULT_GPU_BUDGET / GIB, help="GiB of banks kept on the GPU")
    args = parser.parse_args()

    shapes = bank_shapes(args.size)
    widths = person_token_widths(args.size, [tokens for tokens, _ in shapes])
    reference_bytes = 2 * sum(tokens * channels for tokens, channels in shapes)  # fp16
    frame_bytes = {"whole": reference_bytes, "person tokens": 2 * sum(width * channels for width, (_, channels) in zip(widths, shapes))}
    budget = int(args.budget * GIB)
    kept = ", ".join(f"{int(round(tokens**0.5))}x{int(round(tokens**0.5))} {100 * width / tokens:.0f} %"
                     for (tokens, _), width in sorted(set(zip(shapes, widths)), reverse=True))  # fmt: skip
    print(f"one whole bank at {args.size}x{args.size} px (SD1.5, {len(shapes)} layers, fp16): {reference_bytes / 2**20:.1f} MiB; "
          f"person tokens: {frame_bytes['person tokens'] / 2**20:.1f} MiB per calibrated frame "
          f"({100 * frame_bytes['person tokens'] / reference_bytes:.0f} %; tokens kept per grid: {kept})")  # fmt: skip
    print(f"GPU budget {args.budget:g} GiB; windows of 16 frames overlapping 4; M = {args.groups}; 25 steps; "
          "the reference bank always on the GPU")  # fmt: skip
    print(
        f"{'calibrated banks':>16} {'frames':>7} {'all banks':>10} {'kept on':>8} {'GPU resident':>13} {'peak gather':>12} {'GPU footprint':>14}"
    )
    for kind, per_frame in frame_bytes.items():
        for frames in args.frames:
            total = reference_bytes + frames * per_frame
            on_gpu = keeps_on_device(total, budget)
            resident = total if on_gpu else reference_bytes
            # Banks kept on the GPU are read in place; from the host, each step copies what a window draws.
            gathered = 0 if on_gpu else peak_gathered_images(frames, args.groups) * per_frame
            print(f"{kind:>16} {frames:>7} {total / GIB:>8.2f} G {'GPU' if on_gpu else 'host':>8} {resident / GIB:>11.2f} G "
                  f"{gathered / GIB:>10.2f} G {(resident + gathered) / GIB:>12.2f} G")  # fmt: skip


if __name__ == "__main__":
    main()
