"""The denoising pipeline on the tiny models: context windows, banks, determinism, cancellation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tpc_backend.engines.diffusion.components import load_components
from tpc_backend.engines.diffusion.pipeline import AnimationInputs, AnimationPipeline

FRAMES, SIZE = 10, 64


@pytest.fixture(scope="module")
def pipeline(tiny_models) -> AnimationPipeline:
    # Windows of 4 frames overlapping by 1: 10 frames take three windows.
    return AnimationPipeline(load_components(tiny_models), context_frames=4, context_overlap=1, chunk=3)


@pytest.fixture(scope="module")
def inputs() -> AnimationInputs:
    rng = np.random.default_rng(0)
    pictures = lambda count: [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(count)]  # noqa: E731
    reference = pictures(1)[0]
    return AnimationInputs(reference=reference, reference_photo=reference, poses=pictures(FRAMES),
                           calibrated=pictures(FRAMES), seed=3, steps=2, guidance=2.5, groups=3)  # fmt: skip


def run(pipeline, inputs, start=0, cancelled=lambda: False):
    frames = {}
    finished = pipeline(inputs, start, lambda index, rgb: frames.__setitem__(index, rgb), cancelled)
    return finished, frames


def test_windows_cover_every_frame_and_a_resumed_run_decodes_the_same_bytes(pipeline, inputs):
    finished, frames = run(pipeline, inputs)
    assert finished and sorted(frames) == list(range(FRAMES))
    assert len({frame.tobytes() for frame in frames.values()}) == FRAMES
    _, resumed = run(pipeline, inputs, start=7)  # mid decode-chunk: frames 6..8 share a chunk
    assert sorted(resumed) == [7, 8, 9] and all(np.array_equal(resumed[i], frames[i]) for i in resumed)


def test_banks_are_written_once_for_the_reference_and_every_calibrated_frame(pipeline, inputs):
    state = pipeline.prepare(inputs)
    store = state.banks
    assert store.count == 1 + FRAMES and store.resident and store.device_bytes == store.nbytes > 0
    assert state.windows == [range(0, 4), range(3, 7), range(6, 10)]
    # Chunks of three images ([r, c0, c1], [c2, c3, c4], ...) land in place: c5 alone equals c5 of its chunk.
    alone = pipeline.writer.collect(
        lambda: pipeline.components.reference_unet(
            pipeline._encode(inputs.calibrated[5][None]), torch.zeros((), dtype=torch.long),
            encoder_hidden_states=state.context,
        )
    )  # fmt: skip
    banks, positions = store.gather([1 + 5])
    for stored, layer in zip(banks.layers, alone.layers):
        torch.testing.assert_close(stored[positions], layer, rtol=1e-4, atol=1e-4)


def test_each_step_reads_the_banks_iterative_propagation_draws(pipeline, inputs):
    state = pipeline.prepare(inputs)
    seen = []
    read = pipeline.reader.read

    def spy(banks, reads):
        seen.append((len(banks), [tuple(row) for row in reads]))
        return read(banks, reads)

    pipeline.reader.read = spy
    try:
        pipeline.step(state, 0)
    finally:
        del pipeline.reader.read
    selection = state.propagation.selection(0)
    assert len(seen) == len(state.windows)
    for window, (count, reads) in zip(state.windows, seen):
        frames = len(window)
        assert count == 1 + FRAMES  # banks kept on the device are read in place
        assert reads[:frames] == [()] * frames  # guidance's unconditional half reads nothing
        assert reads[frames:] == [(0, 1 + int(drawn)) for drawn in selection[window.start : window.stop]]


def test_banks_waiting_in_host_memory_give_the_same_frames(tiny_models, pipeline, inputs):
    """Over budget, only the banks a window draws are copied over each step; nothing else changes."""
    _, resident = run(pipeline, inputs, start=8)
    thrifty = AnimationPipeline(load_components(tiny_models), context_frames=4, context_overlap=1, chunk=3, bank_budget=0)
    state = thrifty.prepare(inputs)
    assert not state.banks.resident and state.banks.device_bytes == 0
    for step in range(len(state.timesteps)):
        thrifty.step(state, step)
    image_bytes = state.banks.nbytes // state.banks.count
    assert 2 * image_bytes <= state.banks.peak_gathered_bytes <= (1 + 4) * image_bytes  # r + at most a window's draws
    frames = dict(thrifty.decode(state.latents, start=8))
    assert all(np.array_equal(frames[i], resident[i]) for i in resident)


def test_cancelling_mid_denoising_stops_without_frames(pipeline, inputs):
    polls = []
    finished, frames = run(pipeline, inputs, cancelled=lambda: polls.append(1) or len(polls) > 6)
    assert not finished and frames == {}
