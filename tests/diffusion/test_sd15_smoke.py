"""SD1.5 shapes, random weights, one denoising step on the CPU.

Real weights cannot be downloaded here, and the tiny set's small widths would hide mistakes that only
real shapes hit (a bank of the wrong width, a ControlNet residual of the wrong size, a context of the
wrong length). So the UNet/reference UNet, ControlNet OpenPose, AnimateDiff motion adapter and VAE are
built at their real sizes (about 3 billion parameters in fp32) and run one TPC step with guidance at
a 64 x 64 image (8 x 8 latent), then freed.
"""

from __future__ import annotations

import gc

import numpy as np
import torch

from tpc_backend.engines.diffusion.pipeline import AnimationInputs, AnimationPipeline
from tpc_backend.engines.diffusion.random_models import random_components

SIZE, FRAMES = 64, 2


def test_sd15_shapes_run_a_tpc_step_with_guidance_and_decode_on_the_cpu():
    components = random_components("sd15", torch.device("cpu"), torch.float32)
    gc.collect()  # the motion adapter's weights now live in the motion UNet
    try:
        rng = np.random.default_rng(0)
        picture = lambda: rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)  # noqa: E731
        reference = picture()
        person = np.zeros((SIZE, SIZE), bool)
        person[8:56, 24:40] = True  # a standing person's box: 2 of the 8 x 8 latent cells wide
        inputs = AnimationInputs(reference=reference, reference_photo=reference, poses=[picture() for _ in range(FRAMES)],
                                 calibrated=[picture() * person[..., None] for _ in range(FRAMES)],
                                 calibrated_masks=[person] * FRAMES, steps=1, guidance=2.0, groups=1)  # fmt: skip
        pipeline = AnimationPipeline(components)
        state = pipeline.prepare(inputs)
        banks = state.banks.reference
        assert len(banks.layers) == 16  # SD1.5: 2 + 2 + 2 down, 1 mid, 3 + 3 + 3 up
        widths = [layer.shape[-1] for layer in banks.layers]
        tokens = [layer.shape[1] for layer in banks.layers]
        assert sorted(set(widths)) == [320, 640, 1280] and max(tokens) == (SIZE // 8) ** 2
        assert state.banks.frames == FRAMES
        calibrated, _ = state.banks.gather(range(FRAMES))
        kept = [layer.shape[1] for layer in calibrated.layers]
        assert kept[0] == 4 * 8 < tokens[0]  # the person's 2 x 6 cells grown by one token: 4 x 8 of 8 x 8
        assert state.context.shape == (1, 1, 768)
        assert pipeline.step(state, 0)
        assert state.latents.shape == (1, 4, FRAMES, SIZE // 8, SIZE // 8) and torch.isfinite(state.latents).all()
        frames = list(pipeline.decode(state.latents, start=1))
        assert [(index, frame.shape, frame.dtype) for index, frame in frames] == [(1, (SIZE, SIZE, 3), np.uint8)]
    finally:
        del components
        gc.collect()
