"""What saving each denoising step costs, and what it saves when a diffusion job is interrupted.

    .venv/bin/python -m benchmarks.denoising_resume                          # CPU: 256 px, 4 frames, 3 steps
    .venv/bin/python -m benchmarks.denoising_resume --size 512 --frames 16 --steps 25   # the real setting (GPU)

SD1.5-shaped components with random weights (speed does not depend on the values), conditioned on the
bundled example calibrated (benchmarks/calibrated_example.py). It runs the job's denoising once with
checkpoints, timing each step's UNet work and each checkpoint write (durable: flushed to disk), then
resumes as a restarted backend would -- banks built again, every saved step replayed -- and times that
against running those steps again. It checks that the resumed latents equal the uninterrupted ones
bit for bit, and prints a checkpoint's size, also for 120 frames at 512 x 512.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from tpc_backend.engines.diffusion.checkpoints import DenoisingCheckpoints
from tpc_backend.engines.diffusion.components import default_device
from tpc_backend.engines.diffusion.pipeline import AnimationInputs, AnimationPipeline
from tpc_backend.engines.diffusion.random_models import random_components
from tpc_backend.engines.scratch import FolderScratch

from .attention_overhead import synchronize
from .calibrated_example import calibrated_example


def main() -> None:
    device, dtype = default_device()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (a multiple of 64)")
    parser.add_argument("--frames", type=int, default=4, help="frames of the example motion")
    parser.add_argument("--steps", type=int, default=3, help="denoising steps; the resume replays all of them")
    args = parser.parse_args()

    started = time.perf_counter()
    pipeline = AnimationPipeline(random_components("sd15", device, dtype))
    print(f"device {device} ({dtype}), SD1.5 shapes, random weights built in {time.perf_counter() - started:.1f} s, "
          f"{args.size}x{args.size} px, {args.frames} frames, {args.steps} steps, torch threads {torch.get_num_threads()}")  # fmt: skip
    example = calibrated_example(range(args.frames), args.size)
    inputs = AnimationInputs(reference=example.reference, reference_photo=example.reference_photo, poses=example.poses,
                             calibrated=example.calibrated, calibrated_masks=example.masks, steps=args.steps)  # fmt: skip

    def timed(work):
        synchronize(device)
        begun = time.perf_counter()
        result = work()
        synchronize(device)
        return result, time.perf_counter() - begun

    with tempfile.TemporaryDirectory() as scratch:
        checkpoints = DenoisingCheckpoints(FolderScratch(scratch), {"benchmark": 1})
        state, prepare_seconds = timed(lambda: pipeline.prepare(inputs))
        predict_seconds, save_seconds = [], []
        for step in range(args.steps):
            prediction, seconds = timed(lambda step=step: pipeline.predict(state, step))
            predict_seconds.append(seconds)
            _, seconds = timed(lambda step=step, prediction=prediction: checkpoints.save(step, prediction))
            save_seconds.append(seconds)
            pipeline.advance(state, step, prediction)
        checkpoint_bytes = (Path(scratch) / "denoising" / "step_00000.npy").stat().st_size

        large = torch.randn((1, 4, 120, 64, 64))  # 120 frames at 512 x 512
        _, large_save = timed(lambda: checkpoints.save(args.steps, large))
        resumed, resume_prepare = timed(lambda: pipeline.prepare(inputs))
        replayed, replay_seconds = timed(lambda: pipeline.replay(resumed, checkpoints))
        identical = replayed == args.steps and torch.equal(resumed.latents, state.latents)

    step = statistics.median(predict_seconds)
    save = statistics.median(save_seconds)
    print(f"bank pass at t = 0: {prepare_seconds:.2f} s (again when resuming: {resume_prepare:.2f} s)")
    print(f"denoising step (ControlNet + motion UNet, all windows): median {step:.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in predict_seconds)})")  # fmt: skip
    print(f"checkpoint per step: {checkpoint_bytes / 1e6:.2f} MB, written durably in median {1000 * save:.1f} ms "
          f"= {100 * save / step:.2f} % of a step")  # fmt: skip
    print(f"resume after {args.steps} steps: replay {replay_seconds:.3f} s vs running them again {sum(predict_seconds):.2f} s; "
          f"latents identical to the uninterrupted run: {identical}")  # fmt: skip
    per_step_512 = 4 * 120 * 64 * 64 * 4
    print(
        f"at 120 frames of 512x512 a checkpoint holds {per_step_512 / 1e6:.1f} MB per step "
        f"({25 * per_step_512 / 1e6:.0f} MB for 25 steps, removed when the job is done), written durably here in "
        f"{1000 * large_save:.0f} ms"
    )


if __name__ == "__main__":
    main()
