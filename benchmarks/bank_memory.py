"""Bank memory against the number of frames: what a job's banks take on the host and on the GPU.

    .venv/bin/python benchmarks/bank_memory.py                      # 512 px, 16 ... 1024 frames
    .venv/bin/python benchmarks/bank_memory.py --size 768 --budget 2

Measures one image's bank by running the bank writer on the SD1.5-shaped reference UNet at the given
size (random weights; the size of a bank does not depend on them), then for each sequence length:
- places the job's banks (reference + one per frame) with the engine's own rule (``keeps_on_device``:
  on the GPU while within --budget GiB, in pinned host memory beyond), and
- replays the engine's denoising schedule -- context windows of 16 frames overlapping by 4, iterative
  propagation with M groups, 25 steps -- to find the most banks one window moves to the GPU in a step.

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
from tpc_backend.engines.diffusion.random_models import ARCHITECTURES
from tpc_backend.engines.diffusion.windows import context_windows

GIB = 1 << 30


def bank_elements(size: int) -> int:
    """Elements in one image's bank at ``size`` x ``size`` pixels, measured with the real writer."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel(**ARCHITECTURES["sd15"]().unet).eval()
    writer = BankWriter(unet)
    latent = torch.zeros(1, 4, size // 8, size // 8)
    context = torch.zeros(1, 1, unet.config.cross_attention_dim)
    with torch.inference_mode():
        banks = writer.collect(lambda: unet(latent, 0, encoder_hidden_states=context))
    return sum(layer.numel() for layer in banks.layers)


def peak_gathered_images(frames: int, groups: int, steps: int = 25, window: int = 16, overlap: int = 4) -> int:
    """Most banks (reference included) one window gathers in one step, over a whole job."""
    propagation = IterativePropagation(frames, groups, seed=0)
    windows = context_windows(frames, window, overlap)
    return max(
        1 + len(np.unique(propagation.selection(step)[w.start : w.stop])) for step in range(steps) for w in windows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (multiple of 64)")
    parser.add_argument("--frames", type=int, nargs="+", default=[16, 32, 64, 120, 256, 512, 1024])
    parser.add_argument("--groups", type=int, default=30, help="iterative propagation groups M")
    parser.add_argument("--budget", type=float, default=DEFAULT_GPU_BUDGET / GIB, help="GiB of banks kept on the GPU")
    args = parser.parse_args()

    image_bytes = 2 * bank_elements(args.size)  # fp16
    budget = int(args.budget * GIB)
    print(f"one bank at {args.size}x{args.size} px (SD1.5, 16 layers, fp16): {image_bytes / 2**20:.1f} MiB; "
          f"GPU budget {args.budget:g} GiB; windows of 16 frames overlapping 4; M = {args.groups}; 25 steps")  # fmt: skip
    print(f"{'frames':>7} {'all banks':>10} {'kept on':>8} {'GPU resident':>13} {'peak gather':>12} {'GPU footprint':>14}")
    for frames in args.frames:
        count = 1 + frames  # the reference and every calibrated frame
        total = count * image_bytes
        on_gpu = keeps_on_device(image_bytes, count, budget)
        resident = total if on_gpu else 0
        # Banks kept on the GPU are read in place; from the host, each step copies what a window draws.
        gathered = 0 if on_gpu else peak_gathered_images(frames, args.groups) * image_bytes
        print(f"{frames:>7} {total / GIB:>8.2f} G {'GPU' if on_gpu else 'host':>8} {resident / GIB:>11.2f} G "
              f"{gathered / GIB:>10.2f} G {(resident + gathered) / GIB:>12.2f} G")  # fmt: skip


if __name__ == "__main__":
    main()
