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

from tpc import IterativePropagation
from tpc.attention import Banks, BankReader, BankWriter, reference_reads, spatial_self_attention

README = Path(__file__).resolve().parents[2] / "README.md"
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
    """Oracle: diffusers' processor attending to [own, bank of image k for k in reads[row]]."""

    def __init__(self, bank: torch.Tensor, reads) -> None:
        self.bank, self.reads, self.plain = bank, reads, AttnProcessor2_0()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kwargs):
        rows = []
        for row, images in enumerate(self.reads):
            own = hidden_states[row : row + 1]
            keys = torch.cat([own] + [self.bank[i : i + 1] for i in images], dim=1)
            rows.append(self.plain(attn, own, encoder_hidden_states=keys))
        return torch.cat(rows)


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

    steps = [propagation.selection(step) for step in range(6)]
    first, again = denoise(steps[0]), denoise(steps[0])
    assert torch.equal(first, again)  # reproducible
    for selection in steps[1:]:
        other = denoise(selection)
        for frame in range(frames):
            if selection[frame] % 3 == steps[0][frame] % 3:
                torch.testing.assert_close(other[frame], first[frame], rtol=1e-5, atol=1e-6)
            else:
                assert not torch.allclose(other[frame], first[frame])
    # The draws do change between steps, so the loop above compared both kinds of frames.
    assert len({tuple(s % 3) for s in steps}) > 1


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


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- add-tpc-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its add-TPC example"
    return match.group(1)


def test_the_readme_example_adds_tpc_to_diffusers_animatediff_pipeline(reference_unet):
    """The README's 10 lines, run as written, on diffusers' own AnimateDiffPipeline."""
    from diffusers import AutoencoderKL

    code = readme_example()
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
        "image_embeds": torch.randn(1, 1, CONTEXT),  # e.g. CLIP image embedding of the reference
        "num_frames": frames,
    }
    namespace["context"] = namespace["image_embeds"].expand(1 + frames, -1, -1)
    torch.manual_seed(21)  # the pipeline draws its noise from the global generator
    exec(compile(code, "README.md example", "exec"), namespace)
    video = namespace["video"]
    assert video.shape == (1, 4, frames, 8, 8) and torch.isfinite(video).all()
    reader = namespace["reader"]
    assert reader._plan is None  # the example stops reading when the pipeline is done
    # The banks really reached the pipeline's UNet: without TPC's reads the same call differs.
    reader.remove()
    pipe = namespace["pipe"]
    torch.manual_seed(21)
    plain = pipe(prompt_embeds=namespace["image_embeds"], negative_prompt_embeds=0 * namespace["image_embeds"],
                 num_frames=frames, height=64, width=64, num_inference_steps=2, output_type="latent").frames  # fmt: skip
    assert not torch.allclose(plain, video)
