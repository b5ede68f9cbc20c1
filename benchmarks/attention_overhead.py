"""Per-step cost of TPC against plain reference attention, at SD1.5 shapes.

    .venv/bin/python benchmarks/attention_overhead.py                  # CPU: 256 px, 4 frames
    .venv/bin/python benchmarks/attention_overhead.py --size 512 --frames 16   # the real setting (GPU)

Builds the diffusion engine's SD1.5-shaped components with random weights (speed does not depend on
the values), prepares one job twice -- TPC on (banks of the reference and of every calibrated frame,
iterative propagation) and TPC off (plain reference attention: the reference bank only) -- and times
whole denoising steps (ControlNet, motion UNet, guidance, scheduler), alternating the two so that
other load on the machine hits both alike. On the CPU it also reports process CPU time, which other
processes' load disturbs less than wall time. Prints the median and fastest step times, TPC's
overhead per step (goal: at most 5 %; the paper reports +14 % on MagicAnimate) and the one-off bank
pass at t = 0.

Whole steps last long and a shared machine makes them noisy, so the script also isolates the only
part that differs: it records the inputs of every spatial self-attention layer during one UNet call,
replays just those layers many times with each variant's banks and reads (same inputs for both), and
divides the fastest difference by the fastest whole step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from tpc.attention import reference_reads, spatial_self_attention
from tpc_backend.engines.diffusion.components import default_device
from tpc_backend.engines.diffusion.pipeline import AnimationInputs, AnimationPipeline
from tpc_backend.engines.diffusion.random_models import random_components


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    device, dtype = default_device()
    on_gpu = device.type == "cuda"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512 if on_gpu else 256, help="image side in pixels (multiple of 64)")
    parser.add_argument("--frames", type=int, default=16 if on_gpu else 4, help="frames (one context window up to 16)")
    parser.add_argument("--repeats", type=int, default=8 if on_gpu else 4, help="timed steps per variant")
    parser.add_argument("--replays", type=int, default=20, help="replays of the isolated attention layers per variant")
    parser.add_argument("--guidance", type=float, default=3.5, help="guidance scale (> 1: classifier-free guidance)")
    parser.add_argument("--groups", type=int, default=30, help="iterative propagation groups M")
    args = parser.parse_args()

    print(f"device {device} ({dtype}), SD1.5 shapes, {args.size}x{args.size} px, {args.frames} frames, "
          f"guidance {args.guidance}, M = {args.groups}, torch threads {torch.get_num_threads()}")  # fmt: skip
    started = time.perf_counter()
    pipeline = AnimationPipeline(random_components("sd15", device, dtype))
    print(f"built random SD1.5-shaped components in {time.perf_counter() - started:.1f} s")

    rng = np.random.default_rng(0)
    picture = lambda: rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)  # noqa: E731
    reference = picture()
    poses = [picture() for _ in range(args.frames)]
    common = dict(reference=reference, reference_photo=reference, poses=poses, steps=25, guidance=args.guidance, groups=args.groups)
    variants = {
        "plain reference": AnimationInputs(calibrated=None, **common),
        "TPC": AnimationInputs(calibrated=[picture() for _ in range(args.frames)], **common),
    }
    states, prepare_seconds = {}, {}
    for name, inputs in variants.items():
        synchronize(device)
        started = time.perf_counter()
        states[name] = pipeline.prepare(inputs)
        synchronize(device)
        prepare_seconds[name] = time.perf_counter() - started

    pipeline.step(states["plain reference"], 0)  # warm-up (allocator, kernels)
    pipeline.step(states["TPC"], 0)
    clocks = {"wall": time.perf_counter} if on_gpu else {"wall": time.perf_counter, "cpu": time.process_time}
    times = {(name, clock): [] for name in variants for clock in clocks}
    for step in range(1, args.repeats + 1):
        for name in variants:
            synchronize(device)
            started = {clock: read() for clock, read in clocks.items()}
            pipeline.step(states[name], step)
            synchronize(device)
            for clock, read in clocks.items():
                times[name, clock].append(read() - started[clock])

    for clock in clocks:
        for name in variants:
            runs = times[name, clock]
            print(f"{clock:>4} {name:>16}: median {statistics.median(runs):.3f} s, fastest {min(runs):.3f} s  "
                  f"(runs: {', '.join(f'{t:.3f}' for t in runs)})")  # fmt: skip
        for summary in (statistics.median, min):
            plain, tpc = (summary(times[name, clock]) for name in ("plain reference", "TPC"))
            print(f"{clock:>4} TPC per-step overhead vs plain reference attention ({summary.__name__}): {100 * (tpc - plain) / plain:+.1f} %")
    isolated = isolated_attention_seconds(pipeline, states, args.replays)
    windows = len(states["TPC"].windows)
    step_plain = min(times["plain reference", "wall"])
    for name, seconds in isolated.items():
        print(f"spatial self-attention layers alone, {name:>16}: fastest {windows * seconds:.3f} s per step")
    difference = windows * (isolated["TPC"] - isolated["plain reference"])
    print(f"isolated TPC overhead: +{difference:.3f} s per step = {100 * difference / step_plain:+.1f} % of the fastest plain step")
    print("goal: <= +5 %; the paper reports +14 % on MagicAnimate")
    tpc = statistics.median(times["TPC", "wall"])
    extra = prepare_seconds["TPC"] - prepare_seconds["plain reference"]
    print(f"one-off bank pass at t = 0: {prepare_seconds['TPC']:.2f} s with TPC ({args.frames + 1} images) vs "
          f"{prepare_seconds['plain reference']:.2f} s plain (1 image): +{extra:.2f} s, {extra / tpc:.2f} steps' worth "
          f"({100 * extra / (25 * tpc):.1f} % of a 25-step job)")  # fmt: skip


def isolated_attention_seconds(pipeline: AnimationPipeline, states: dict, replays: int) -> dict[str, float]:
    """Fastest time of one UNet call's spatial self-attention layers, per variant, on the same inputs."""
    state = states["plain reference"]
    window = state.windows[0]
    frames, guided = len(window), state.guided
    captured: list[tuple[torch.nn.Module, torch.Tensor]] = []
    hooks = [
        attention.register_forward_pre_hook(lambda module, args: captured.append((module, args[0])))
        for _, attention in spatial_self_attention(pipeline.components.unet)
    ]
    try:
        pipeline._predict(state, window, state.timesteps[1], None)
    finally:
        for hook in hooks:
            hook.remove()
    plan = {"plain reference": (state.banks.gather([0])[0], reference_reads(frames, None, unconditional=guided))}
    tpc = states["TPC"]
    selection = tpc.propagation.selection(1)[window.start : window.stop]
    distinct, drawn = np.unique(selection, return_inverse=True)
    banks, positions = tpc.banks.gather([0, *(1 + distinct)])
    plan["TPC"] = (banks, reference_reads(frames, [positions[1 + j] - 1 for j in drawn], unconditional=guided))
    fastest = {name: float("inf") for name in plan}
    with torch.inference_mode():
        for _ in range(replays):
            for name, (banks, reads) in plan.items():
                with pipeline.reader.reading(banks, reads):
                    synchronize(pipeline.device)
                    started = time.perf_counter()
                    for attention, hidden_states in captured:
                        attention(hidden_states)
                    synchronize(pipeline.device)
                    fastest[name] = min(fastest[name], time.perf_counter() - started)
    return fastest


if __name__ == "__main__":
    main()
