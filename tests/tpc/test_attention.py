"""tpc.attention on real diffusers UNets with small random weights.

The oracle for every read is diffusers' own AttnProcessor2_0 given the concatenated keys/values
[own tokens, banks...] as encoder_hidden_states -- the way AnimateAnyone-style code computes
reference attention -- so these tests check the math, not our code against itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, MotionAdapter, UNet2DConditionModel, UNetMotionModel
from diffusers.models.attention_processor import AttnProcessor2_0
from scipy import ndimage

from tests.support.photos import load_photo
from tpc import IterativePropagation
from tpc.attention import (
    BankReader,
    Banks,
    BankWriter,
    person_token_order,
    person_tokens,
    reference_reads,
    spatial_self_attention,
    token_grid,
)

DIFFUSION_DOCS = Path(__file__).resolve().parents[2] / "docs" / "diffusion.md"
CHANNELS = (8, 16, 16)
CONTEXT = 12


def tiny_unet(seed: int) -> UNet2DConditionModel:
    torch.manual_seed(seed)
    return UNet2DConditionModel(
        block_out_channels=CHANNELS,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1,
        norm_num_groups=4,
        attention_head_dim=2,
        cross_attention_dim=CONTEXT,
        sample_size=8,
    ).eval()


def tiny_motion_unet(seed: int) -> UNetMotionModel:
    torch.manual_seed(seed + 100)
    adapter = MotionAdapter(block_out_channels=CHANNELS, motion_layers_per_block=1, motion_norm_num_groups=4,
                            motion_num_attention_heads=2, motion_max_seq_length=32)  # fmt: skip
    return UNetMotionModel.from_unet2d(tiny_unet(seed), adapter).eval()


@pytest.fixture(scope="module")
def reference_unet() -> UNet2DConditionModel:
    return tiny_unet(1)


@pytest.fixture(scope="module")
def banks(reference_unet) -> Banks:
    """Banks of a reference and three 'calibrated' images, written in one pass at t = 0."""
    torch.manual_seed(2)
    latents, context = torch.randn(4, 4, 8, 8), torch.randn(4, 1, CONTEXT)
    writer = BankWriter(reference_unet)
    with torch.no_grad():
        collected = writer.collect(lambda: reference_unet(latents, 0, encoder_hidden_states=context))
    writer.remove()
    return collected


class PlainConcatenation:
    """Oracle: diffusers' processor attending to [own, bank of image k for k in reads[row]].

    ``tokens[k]``, when given, lists the tokens of image k's bank that are read (default: all).
    """

    def __init__(self, bank: torch.Tensor, reads, tokens: dict | None = None) -> None:
        self.bank, self.reads, self.plain = bank, reads, AttnProcessor2_0()
        self.tokens = tokens or {}

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kwargs):
        rows = []
        for row, images in enumerate(self.reads):
            own = hidden_states[row : row + 1]
            banks = [self.bank[i : i + 1, self.tokens[i]] if i in self.tokens else self.bank[i : i + 1] for i in images]
            rows.append(self.plain(attn, own, encoder_hidden_states=torch.cat([own, *banks], dim=1)))
        return torch.cat(rows)


def blob(top: int, left: int, height: int, width: int, size: int = 8) -> np.ndarray:
    """A person mask on the 8 x 8 latent grid the tiny banks were written from."""
    mask = np.zeros((size, size), bool)
    mask[top : top + height, left : left + width] = True
    return mask


def expected_order(mask: np.ndarray, tokens: int) -> tuple[np.ndarray, int]:
    """The documented rule, computed independently: cells touching the person, grown by one token
    (chessboard), first; then the rest nearest first, ties in raster order."""
    rows = int(np.sqrt(tokens * mask.shape[0] / mask.shape[1]))
    columns = tokens // rows
    cells = mask.reshape(rows, mask.shape[0] // rows, columns, mask.shape[1] // columns).max(axis=(1, 3))
    if not cells.any():
        return np.arange(tokens), 0
    distance = ndimage.distance_transform_cdt(~cells, metric="chessboard").ravel()
    return np.lexsort((np.arange(tokens), distance)), int((distance <= 1).sum())


def test_every_row_attends_to_its_own_tokens_and_the_banks_it_reads(banks):
    unet = tiny_unet(3)
    _, attention = spatial_self_attention(unet)[0]
    reads = [(0, 2), (), (0,), (0, 3), (), (1, 0)]  # TPC, unconditional, plain reference, and any order
    torch.manual_seed(4)
    hidden = torch.randn(len(reads), 64, CHANNELS[0])
    reader = BankReader(unet)
    with torch.no_grad(), reader.reading(banks, reads):
        ours = attention(hidden)
    expected = PlainConcatenation(banks.layers[0], reads)(attention, hidden)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)


def test_tpc_off_is_plain_reference_attention_through_a_motion_unet(banks):
    unet = tiny_motion_unet(5)
    frames = 3
    torch.manual_seed(6)
    sample, context = torch.randn(2, 4, frames, 8, 8), torch.randn(2 * frames, 1, CONTEXT)
    reads = reference_reads(frames, unconditional=True)  # [(), (), (), (0,), (0,), (0,)]
    with torch.no_grad():
        oracle_processors = {}
        for layer, (name, attention) in enumerate(spatial_self_attention(unet)):
            oracle_processors[name] = attention.processor
            attention.set_processor(PlainConcatenation(banks.layers[layer], reads))
        expected = unet(sample, 10, encoder_hidden_states=context).sample
        for name, attention in spatial_self_attention(unet):
            attention.set_processor(oracle_processors[name])
        reader = BankReader(unet)
        with reader.reading(banks, reads):
            ours = unet(sample, 10, encoder_hidden_states=context).sample
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_temporal_and_cross_attention_layers_are_left_alone():
    unet = tiny_motion_unet(7)
    before = dict(unet.attn_processors)
    reader = BankReader(unet)
    after = unet.attn_processors
    spatial = {f"{name}.processor" for name in reader.layer_names}
    assert spatial and all(".attentions." in name and name.endswith("attn1.processor") for name in spatial)
    assert any("motion_modules" in name for name in before)
    for name, processor in after.items():
        if name in spatial:
            assert processor is not before[name] and processor.inner is before[name]
        else:
            assert processor is before[name], f"{name} was changed"
    reader.remove()
    assert all(unet.attn_processors[name] is processor for name, processor in before.items())


def test_a_unet_that_is_not_reading_computes_exactly_what_it_did_before(banks):
    unet = tiny_motion_unet(8)
    torch.manual_seed(9)
    sample, context = torch.randn(1, 4, 2, 8, 8), torch.randn(2, 1, CONTEXT)
    with torch.no_grad():
        before = unet(sample, 3, encoder_hidden_states=context).sample
        reader = BankReader(unet)
        with reader.reading(banks, reference_reads(2)):
            reading = unet(sample, 3, encoder_hidden_states=context).sample
        after = unet(sample, 3, encoder_hidden_states=context).sample
    assert torch.equal(before, after)
    assert not torch.allclose(before, reading)


def test_iterative_propagation_changes_only_which_calibrated_bank_each_frame_reads(banks):
    unet = tiny_unet(10)  # an image UNet: frames do not mix, so each frame's output shows its own read
    reader = BankReader(unet)
    frames = 6
    propagation = IterativePropagation(frames, groups=2, seed=3)
    torch.manual_seed(11)
    sample, context = torch.randn(frames, 4, 8, 8), torch.randn(frames, 1, CONTEXT)
    calibrated = Banks(tuple(layer[1:] for layer in banks.layers))

    def denoise(selection) -> torch.Tensor:
        distinct, local = np.unique(selection % 3, return_inverse=True)  # three calibrated images stand in for six
        step_banks = Banks.cat([banks.take([0]), calibrated.take(distinct.tolist())])
        with torch.no_grad(), reader.reading(step_banks, reference_reads(frames, local)):
            return unet(sample, 500, encoder_hidden_states=context).sample

    assert_frames_follow_their_draws(denoise, propagation, frames)


CALIBRATED_MASKS = [blob(2, 2, 3, 2), blob(1, 3, 6, 4), blob(0, 0, 0, 0)]  # small, tall, nobody


def person_parts(banks: Banks) -> list[Banks]:
    """[the reference's whole banks, person tokens of the three calibrated images]."""
    return [banks.take([0]), person_tokens(banks.take([1, 2, 3]), CALIBRATED_MASKS)]


def test_person_token_reads_attend_to_each_read_images_person_tokens_widened_to_the_batchs_most(banks):
    """Through a whole UNet (grids 8x8, 4x4, 2x2): the reference whole; every calibrated image read in
    the call gives K tokens, K the most any of them keeps: its person's first, then the nearest (the
    frame with nobody in it: its first K in raster order)."""
    unet = tiny_unet(16)
    reads = [(), (0, 1), (0, 3), (0,), (0, 2), (0, 1)]
    torch.manual_seed(17)
    sample, context = torch.randn(len(reads), 4, 8, 8), torch.randn(len(reads), 1, CONTEXT)
    with torch.no_grad():
        reader = BankReader(unet)
        with reader.reading(person_parts(banks), reads):
            ours = unet(sample, 20, encoder_hidden_states=context).sample
        reader.remove()
        widths = []
        for layer, (_, attention) in enumerate(spatial_self_attention(unet)):
            tokens = banks.layers[layer].shape[1]
            orders = {1 + k: expected_order(mask, tokens) for k, mask in enumerate(CALIBRATED_MASKS)}
            width = max(kept for _, kept in orders.values())
            widths.append((tokens, width))
            attention.set_processor(
                PlainConcatenation(banks.layers[layer], reads, {image: order[:width] for image, (order, _) in orders.items()})
            )
        expected = unet(sample, 20, encoder_hidden_states=context).sample
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    assert any(width < tokens for tokens, width in widths)  # some layer really reads fewer tokens


def test_a_person_token_batch_that_reads_only_empty_frames_is_plain_reference_attention(banks):
    unet = tiny_unet(18)
    _, attention = spatial_self_attention(unet)[0]
    torch.manual_seed(19)
    hidden = torch.randn(2, 64, CHANNELS[0])
    reader = BankReader(unet)
    with torch.no_grad():
        with reader.reading(person_parts(banks), [(0, 3), (0, 3)]):  # image 3: a calibration with nobody
            ours = attention(hidden)
        with reader.reading(banks, [(0,), (0,)]):
            plain = attention(hidden)
    torch.testing.assert_close(ours, plain, rtol=1e-6, atol=1e-7)


def test_person_tokens_are_the_cells_the_person_touches_grown_by_one_then_the_nearest():
    """On a real person mask, at SD1.5's four token grids of a 512 x 512 image."""
    _, _, mask = load_photo("astronaut")
    assert mask.shape == (512, 512)
    for side in (64, 32, 16, 8):
        order, kept = person_token_order(mask, side * side)
        touched = mask.reshape(side, 512 // side, side, 512 // side).any(axis=(1, 3))
        grown = ndimage.binary_dilation(touched, structure=np.ones((3, 3), bool))
        assert set(order[:kept].tolist()) == set(np.flatnonzero(grown).tolist()), side
        assert sorted(order.tolist()) == list(range(side * side))
        distance = ndimage.distance_transform_cdt(~touched, metric="chessboard").ravel()[order]
        assert (np.diff(distance) >= 0).all() and distance[kept - 1] == 1 and distance[kept] == 2
        if side == 64:
            assert 0.2 < kept / side**2 < 0.8 and (order[:kept] == expected_order(mask, side * side)[0][:kept]).all()
    with pytest.raises(ValueError, match="does not tile into a layer of 100 tokens"):
        token_grid(mask.shape, 100)


def test_person_token_order_on_a_tiny_grid_worked_by_hand():
    """An 8 x 8 px mask on a 4 x 4 token grid (2 x 2 px per token); one person pixel, in token (0, 0)."""
    mask = np.zeros((8, 8), bool)
    mask[1, 1] = True
    order, kept = person_token_order(mask, 16)
    # Token (0, 0) grown by one: 0, 1, 4, 5. Then chessboard distance 2: 2, 6, 8, 9, 10; distance 3: the rest.
    assert kept == 4 and order.tolist() == [0, 1, 4, 5, 2, 6, 8, 9, 10, 3, 7, 11, 12, 13, 14, 15]
    assert person_token_order(mask, 16, dilation=0)[1] == 1
    nobody, none_kept = person_token_order(np.zeros((8, 8), bool), 16)
    assert none_kept == 0 and nobody.tolist() == list(range(16))


def test_person_tokens_of_a_mask_covering_everything_attend_exactly_as_whole_banks(banks):
    """A person over the whole frame keeps every token in raster order: the reads equal whole banks'."""
    everything = [np.ones((64, 64), bool)] * 3  # pixel masks of the 64 x 64 px images behind the 8 x 8 latents
    calibrated = person_tokens(banks.take([1, 2, 3]), everything)
    for whole, layer, kept in zip(banks.layers, calibrated.layers, calibrated.kept):
        assert torch.equal(layer, whole[1:]) and kept.tolist() == [whole.shape[1]] * 3
    unet = tiny_unet(22)
    reads = [(), (0, 1), (0, 3), (0, 2)]
    torch.manual_seed(23)
    sample, context = torch.randn(len(reads), 4, 8, 8), torch.randn(len(reads), 1, CONTEXT)
    reader = BankReader(unet)
    with torch.no_grad():
        with reader.reading([banks.take([0]), calibrated], reads):
            ours = unet(sample, 20, encoder_hidden_states=context).sample
        with reader.reading(banks, reads):
            whole = unet(sample, 20, encoder_hidden_states=context).sample
    torch.testing.assert_close(ours, whole, rtol=1e-5, atol=1e-6)


def test_person_token_banks_hold_the_written_tokens_in_kept_order(banks):
    calibrated = banks.take([1, 2, 3])
    parts = person_tokens(calibrated, CALIBRATED_MASKS)
    for whole, kept_layer, counts in zip(calibrated.layers, parts.layers, parts.kept):
        tokens = whole.shape[1]
        orders = [expected_order(mask, tokens) for mask in CALIBRATED_MASKS]
        assert counts.tolist() == [kept for _, kept in orders] and kept_layer.shape[1] == max(counts)
        for image, (order, _) in enumerate(orders):
            assert torch.equal(kept_layer[image], whole[image, order[: kept_layer.shape[1]]])
    assert parts.nbytes < calibrated.nbytes
    assert torch.equal(parts.take([2, 0]).kept[0], parts.kept[0][[2, 0]])
    wider = person_tokens(calibrated, CALIBRATED_MASKS, widths=[layer.shape[1] for layer in calibrated.layers])
    assert wider.nbytes == calibrated.nbytes  # a whole job's widths may exceed this chunk's
    with pytest.raises(ValueError, match="cannot concatenate whole banks with person-token banks"):
        Banks.cat([banks, parts])
    with pytest.raises(ValueError, match="2 person masks for 3 bank images"):
        person_tokens(calibrated, CALIBRATED_MASKS[:2])


def test_with_person_tokens_iterative_propagation_still_changes_only_which_calibrated_bank_a_frame_reads(banks):
    """Three people of one size at three places: every draw keeps as many tokens, so a frame whose
    draw did not change reads exactly what it read before (in general a batch reads as many tokens as
    its largest person keeps)."""
    unet = tiny_unet(20)
    reader = BankReader(unet)
    frames = 6
    propagation = IterativePropagation(frames, groups=2, seed=3)
    masks = [blob(1, 1, 2, 2), blob(1, 5, 2, 2), blob(5, 1, 2, 2)]
    parts = [banks.take([0]), person_tokens(banks.take([1, 2, 3]), masks)]
    assert len({tuple(row.tolist()) for row in torch.stack(parts[1].kept, dim=1)}) == 1  # same counts for all three
    torch.manual_seed(21)
    sample, context = torch.randn(frames, 4, 8, 8), torch.randn(frames, 1, CONTEXT)

    def denoise(selection) -> torch.Tensor:
        with torch.no_grad(), reader.reading(parts, reference_reads(frames, selection % 3)):
            return unet(sample, 500, encoder_hidden_states=context).sample

    assert_frames_follow_their_draws(denoise, propagation, frames)


def test_writer_banks_hold_every_image_of_the_batch_at_every_spatial_layer(reference_unet, banks):
    names = [name for name, _ in spatial_self_attention(reference_unet)]
    assert len(banks.layers) == len(names) and len(banks) == 4
    tokens = {name: layer.shape[1] for name, layer in zip(names, banks.layers)}
    assert tokens["down_blocks.0.attentions.0.transformer_blocks.0.attn1"] == 64  # 8 x 8 latent
    assert tokens["down_blocks.1.attentions.0.transformer_blocks.0.attn1"] == 16  # 4 x 4
    # One image alone gives the same bank as within the batch.
    torch.manual_seed(2)
    latents, context = torch.randn(4, 4, 8, 8), torch.randn(4, 1, CONTEXT)
    writer = BankWriter(reference_unet)
    with torch.no_grad():
        single = writer.collect(lambda: reference_unet(latents[2:3], 0, encoder_hidden_states=context[2:3]))
    writer.remove()
    for layer, alone in zip(banks.layers, single.layers):
        torch.testing.assert_close(layer[2:3], alone, rtol=1e-4, atol=1e-5)  # batched GEMMs round differently


def test_mismatched_reads_or_banks_are_refused_with_a_sentence(banks):
    unet = tiny_unet(12)
    reader = BankReader(unet)
    sample, context = torch.randn(2, 4, 8, 8), torch.randn(2, 1, CONTEXT)
    with pytest.raises(ValueError, match="describe 3 batch rows but the UNet's batch has 2"):
        with torch.no_grad(), reader.reading(banks, reference_reads(3)):
            unet(sample, 1, encoder_hidden_states=context)
    with pytest.raises(ValueError, match="layers"):
        reader.read(Banks(banks.layers[:2]), reference_reads(2))
    with pytest.raises(ValueError, match="up to 9"):
        reader.read(banks, [(0, 9), (0,)])


def test_a_reader_or_writer_replaced_by_a_newer_one_refuses_to_work_silently(banks):
    unet = tiny_unet(15)
    first, second = BankReader(unet), BankReader(unet)
    second.read(banks, reference_reads(1))
    with pytest.raises(RuntimeError, match="BankReader's attention processors were replaced"):
        first.read(banks, reference_reads(1))
    old_writer = BankWriter(unet)
    BankWriter(unet)
    with pytest.raises(RuntimeError, match="BankWriter's attention processors were replaced"):
        old_writer.collect(lambda: None)


def documented_example() -> str:
    text = DIFFUSION_DOCS.read_text(encoding="utf-8")
    match = re.search(r"<!-- add-tpc-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/diffusion.md lost its add-TPC example"
    return match.group(1)


def test_the_documented_example_adds_tpc_to_diffusers_animatediff_pipeline(reference_unet):
    """docs/diffusion.md's 10 lines, run as written, on diffusers' own AnimateDiffPipeline."""
    from diffusers import AutoencoderKL

    code = documented_example()
    statements = [line for line in code.splitlines() if line.strip() and not line.startswith(("import ", "from "))]
    assert len(statements) <= 10
    torch.manual_seed(13)
    frames = 4
    vae = AutoencoderKL(block_out_channels=(8,) * 4, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=4, layers_per_block=1)  # fmt: skip
    adapter = MotionAdapter(block_out_channels=CHANNELS, motion_layers_per_block=1, motion_norm_num_groups=4,
                            motion_num_attention_heads=2, motion_max_seq_length=32)  # fmt: skip
    namespace = {
        "vae": vae,
        "unet": tiny_unet(14),
        "motion_adapter": adapter,
        "scheduler": DDIMScheduler(),
        "reference_unet": reference_unet,
        "reference_latent": torch.randn(1, 4, 8, 8),
        "calibrated_latents": torch.randn(frames, 4, 8, 8),  # VAE latents of C_1..C_L
        "calibrated_masks": [np.kron(blob(1 + i, 2, 4, 3), np.ones((8, 8), bool)) for i in range(frames)],  # 64 x 64 px
        "image_embeds": torch.randn(1, 1, CONTEXT),  # e.g. CLIP image embedding of the reference
        "num_frames": frames,
    }
    namespace["context"] = namespace["image_embeds"].expand(1 + frames, -1, -1)
    torch.manual_seed(21)  # the pipeline draws its noise from the global generator
    exec(compile(code, "docs/diffusion.md example", "exec"), namespace)
    video = namespace["video"]
    assert video.shape == (1, 4, frames, 8, 8) and torch.isfinite(video).all()
    reader = namespace["reader"]
    assert reader._plan is None  # the example stops reading when the pipeline is done
    calibrated = namespace["banks"][1]
    assert calibrated.kept is not None and calibrated.layers[0].shape[1] < 64  # person tokens of the 8 x 8 grid
    # The banks really reached the pipeline's UNet: without TPC's reads the same call differs.
    reader.remove()
    pipe = namespace["pipe"]
    torch.manual_seed(21)
    plain = pipe(prompt_embeds=namespace["image_embeds"], negative_prompt_embeds=0 * namespace["image_embeds"],
                 num_frames=frames, height=64, width=64, num_inference_steps=2, output_type="latent").frames  # fmt: skip
    assert not torch.allclose(plain, video)


def assert_frames_follow_their_draws(denoise, propagation: IterativePropagation, frames: int) -> None:
    """Reproducible, and between steps a frame's output changes exactly when its draw (of three
    calibrated images standing in for ``frames``) does."""
    steps = [propagation.selection(step) for step in range(6)]
    first = denoise(steps[0])
    assert torch.equal(first, denoise(steps[0]))
    for selection in steps[1:]:
        other = denoise(selection)
        for frame in range(frames):
            if selection[frame] % 3 == steps[0][frame] % 3:
                torch.testing.assert_close(other[frame], first[frame], rtol=1e-5, atol=1e-6)
            else:
                assert not torch.allclose(other[frame], first[frame])
    # The draws do change between steps, so the loop above compared both kinds of frames.
    assert len({tuple(s % 3) for s in steps}) > 1
