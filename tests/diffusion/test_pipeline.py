"""The denoising pipeline on the tiny models: context windows, banks, person tokens, determinism, cancellation."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch
from scipy import ndimage

from tpc.attention import person_token_order
from tpc_backend.engines.diffusion.checkpoints import DenoisingCheckpoints
from tpc_backend.engines.diffusion.components import load_components
from tpc_backend.engines.diffusion.pipeline import AnimationInputs, AnimationPipeline, latent_cells
from tpc_backend.engines.scratch import FolderScratch

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
    calibrated, masks = [], []
    for frame, picture in enumerate(pictures(FRAMES)):  # a person of changing size on black, masks at 2x
        mask = np.zeros((2 * SIZE, 2 * SIZE), np.uint8)
        cv2.ellipse(mask, (40 + 4 * frame, 64), (10 + 2 * frame, 30 + frame), 0, 0, 360, 255, -1)
        masks.append(mask)
        calibrated.append(picture * (cv2.resize(mask, (SIZE, SIZE))[..., None] > 0))
    return AnimationInputs(reference=reference, reference_photo=reference, poses=pictures(FRAMES), calibrated=calibrated,
                           calibrated_masks=masks, seed=3, steps=2, guidance=2.5, groups=3)  # fmt: skip


def run(pipeline, inputs, start=0, cancelled=lambda: False, checkpoints=None):
    frames = {}
    finished = pipeline(inputs, start, lambda index, rgb: frames.__setitem__(index, rgb), cancelled, checkpoints=checkpoints)
    return finished, frames


def test_a_run_interrupted_mid_denoising_replays_its_saved_steps_and_ends_with_the_same_bytes(pipeline, inputs, tmp_path):
    inputs = dataclasses.replace(inputs, steps=4)
    _, uninterrupted = run(pipeline, inputs)
    folder = tmp_path / "scratch"
    checkpoints = DenoisingCheckpoints(FolderScratch(folder), {"models": "tiny"})
    finished, frames = run(pipeline, inputs, cancelled=lambda: (folder / "denoising" / "step_00001.npy").exists(), checkpoints=checkpoints)
    assert not finished and not frames and checkpoints.saved(4) == 2

    windows = []
    hook = pipeline.components.unet.register_forward_hook(lambda *_: windows.append(1))
    try:
        finished, resumed = run(pipeline, inputs, checkpoints=checkpoints)
    finally:
        hook.remove()
    assert finished and len(windows) == 2 * 3, "steps 3 and 4 ran the UNet (three windows each); 1 and 2 were replayed"
    assert all(np.array_equal(resumed[i], uninterrupted[i]) for i in range(FRAMES))
    assert checkpoints.saved(4) == 4

    other = DenoisingCheckpoints(FolderScratch(folder), {"models": "other"})  # e.g. the backend restarted with other models
    assert other.saved(4) == 0 and not folder.exists()


@pytest.mark.parametrize("person_tokens", [True, False])
def test_windows_cover_every_frame_and_a_resumed_run_decodes_the_same_bytes(pipeline, inputs, person_tokens):
    inputs = dataclasses.replace(inputs, person_tokens=person_tokens)
    finished, frames = run(pipeline, inputs)
    assert finished and sorted(frames) == list(range(FRAMES))
    assert len({frame.tobytes() for frame in frames.values()}) == FRAMES
    _, again = run(pipeline, inputs, start=0)
    assert all(np.array_equal(again[i], frames[i]) for i in frames)
    _, resumed = run(pipeline, inputs, start=7)  # mid decode-chunk: frames 6..8 share a chunk
    assert sorted(resumed) == [7, 8, 9] and all(np.array_equal(resumed[i], frames[i]) for i in resumed)


def test_banks_are_written_once_for_the_reference_and_every_calibrated_frame(pipeline, inputs):
    state = pipeline.prepare(dataclasses.replace(inputs, person_tokens=False))
    store = state.banks
    assert store.frames == FRAMES and store.resident and store.device_bytes == store.nbytes > 0
    assert state.windows == [range(0, 4), range(3, 7), range(6, 10)]
    # Chunks of three images ([r, c0, c1], [c2, c3, c4], ...) land in place: c5 alone equals c5 of its chunk.
    alone = pipeline.writer.collect(
        lambda: pipeline.components.reference_unet(
            pipeline._encode(inputs.calibrated[5][None]), torch.zeros((), dtype=torch.long),
            encoder_hidden_states=state.context,
        )
    )  # fmt: skip
    banks, positions = store.gather([5])
    assert banks.kept is None and [layer.shape[1] for layer in banks.layers] == [layer.shape[1] for layer in store.reference.layers]
    for stored, layer in zip(banks.layers, alone.layers):  # batched GEMMs round differently; another frame differs by O(1)
        torch.testing.assert_close(stored[positions], layer, rtol=1e-3, atol=1e-3)


def test_person_token_banks_keep_each_frames_person_as_wide_as_the_frame_that_keeps_most(pipeline, inputs):
    whole = pipeline.prepare(dataclasses.replace(inputs, person_tokens=False)).banks
    person = pipeline.prepare(inputs).banks
    assert person.nbytes < whole.nbytes and person.frame_bytes < whole.frame_bytes
    for first, second in zip(whole.reference.layers, person.reference.layers):
        assert torch.equal(first, second)  # the reference stays whole
    whole_banks, _ = whole.gather(range(FRAMES))
    person_banks, _ = person.gather(range(FRAMES))
    grid = (SIZE // 8, SIZE // 8)
    for full, kept_layer, kept in zip(whole_banks.layers, person_banks.layers, person_banks.kept):
        tokens, side = full.shape[1], int(np.sqrt(full.shape[1]))
        assert kept_layer.shape[1] == int(kept.max()) <= tokens
        for frame, mask in enumerate(inputs.calibrated_masks):
            # Independently: latent cells the mask touches, pooled to this layer's grid, grown by one.
            touched = cv2.resize(mask, grid[::-1], interpolation=cv2.INTER_AREA) > 0
            touched = touched.reshape(side, grid[0] // side, side, grid[1] // side).any(axis=(1, 3))
            grown = np.flatnonzero(ndimage.binary_dilation(touched, structure=np.ones((3, 3), bool)))
            order, count = person_token_order(latent_cells(mask, grid), tokens)
            assert count == int(kept[frame]) == len(grown) and set(order[:count].tolist()) == set(grown.tolist())
            torch.testing.assert_close(kept_layer[frame], full[frame, order[: kept_layer.shape[1]]], rtol=1e-4, atol=1e-4)
    assert any(layer.shape[1] < full.shape[1] for layer, full in zip(person_banks.layers, whole_banks.layers))


def test_person_tokens_change_the_frames_but_never_plain_reference_attention(pipeline, inputs):
    _, person = run(pipeline, inputs, start=8)
    _, whole = run(pipeline, dataclasses.replace(inputs, person_tokens=False), start=8)
    assert sorted(person) == sorted(whole) == [8, 9]
    assert all(not np.array_equal(person[i], whole[i]) for i in person)
    plain = dataclasses.replace(inputs, calibrated=None, calibrated_masks=None)
    _, off = run(pipeline, plain, start=8)
    _, off_whole = run(pipeline, dataclasses.replace(plain, person_tokens=False), start=8)
    assert sorted(off) == sorted(off_whole) == [8, 9]
    assert all(np.array_equal(off[i], off_whole[i]) for i in off)


def test_person_tokens_of_calibrations_with_nobody_read_no_calibrated_token(pipeline, inputs):
    """Empty masks keep no token: the conditional rows attend to [own, r], plain reference attention
    (the reference's bank comes out of a bigger batch, hence rounding-level differences only)."""
    empty = [np.zeros_like(mask) for mask in inputs.calibrated_masks]
    nobody = pipeline.prepare(dataclasses.replace(inputs, calibrated_masks=empty))
    plain = pipeline.prepare(dataclasses.replace(inputs, calibrated=None, calibrated_masks=None))
    layers = nobody.banks.gather([0])[0].layers
    assert layers and all(layer.shape[1] == 0 for layer in layers)
    for state in (nobody, plain):
        pipeline.step(state, 0)
    torch.testing.assert_close(nobody.latents, plain.latents, rtol=1e-4, atol=1e-4)


def test_person_tokens_without_masks_are_refused_with_a_sentence(pipeline, inputs):
    with pytest.raises(ValueError, match="person tokens need the calibrated images' person masks"):
        pipeline.prepare(dataclasses.replace(inputs, calibrated_masks=None))


def test_each_step_reads_the_banks_iterative_propagation_draws(pipeline, inputs):
    state = pipeline.prepare(inputs)
    seen = []
    read = pipeline.reader.read

    def spy(banks, reads):
        seen.append(([len(part) for part in banks], [tuple(row) for row in reads]))
        return read(banks, reads)

    pipeline.reader.read = spy
    try:
        pipeline.step(state, 0)
    finally:
        del pipeline.reader.read
    selection = state.propagation.selection(0)
    assert len(seen) == len(state.windows)
    for window, (parts, reads) in zip(state.windows, seen):
        frames = len(window)
        assert parts == [1, FRAMES]  # the reference, and all calibrated banks: kept on the device, read in place
        assert reads[:frames] == [()] * frames  # guidance's unconditional half reads nothing
        assert reads[frames:] == [(0, 1 + int(drawn)) for drawn in selection[window.start : window.stop]]


@pytest.mark.parametrize("person_tokens", [True, False])
def test_banks_waiting_in_host_memory_give_the_same_frames(tiny_models, pipeline, inputs, person_tokens):
    """Over budget, only the calibrated banks a window draws are copied over each step; nothing else changes."""
    inputs = dataclasses.replace(inputs, person_tokens=person_tokens)
    _, resident = run(pipeline, inputs, start=8)
    thrifty = AnimationPipeline(load_components(tiny_models), context_frames=4, context_overlap=1, chunk=3, bank_budget=0)
    state = thrifty.prepare(inputs)
    assert not state.banks.resident and state.banks.device_bytes == state.banks.reference.nbytes
    for step in range(len(state.timesteps)):
        thrifty.step(state, step)
    frame_bytes = state.banks.frame_bytes
    assert frame_bytes <= state.banks.peak_gathered_bytes <= 4 * frame_bytes  # at most a window's draws
    frames = dict(thrifty.decode(state.latents, start=8))
    assert sorted(frames) == sorted(resident) == [8, 9]
    assert all(np.array_equal(frames[i], resident[i]) for i in resident)


def test_cancelling_mid_denoising_stops_without_frames(pipeline, inputs):
    polls = []
    finished, frames = run(pipeline, inputs, cancelled=lambda: polls.append(1) or len(polls) > 6)
    assert not finished and frames == {}
