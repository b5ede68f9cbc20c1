"""Per-frame normalisation in the motion modules, as AnimateDiff's checkpoints were trained.

AnimateDiff's temporal transformer normalises its input frame by frame: it folds the frames into the
batch, ``(b c f h w) -> ((b f) c h w)``, before its GroupNorm. diffusers' ``AnimateDiffTransformer3D``
applies the same GroupNorm to ``(b, c, f, h, w)``, so the statistics span every frame of the window.
With weights trained the first way the second changes every motion module's output (measured on the
parity fixture: ``tests/diffusion/test_released_checkpoints.py``). Every AnimateDiff-family adapter we
load -- the motion modules of Moore-AnimateAnyone and MusePose and the generic AnimateDiff adapters --
comes from that training code, so the engine normalises per frame for all of them.
"""

from __future__ import annotations

import torch
from torch import nn


class PerFrameGroupNorm(nn.GroupNorm):
    """GroupNorm that normalises each frame of a (B, C, F, H, W) tensor on its own."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if hidden_states.ndim != 5:
            return super().forward(hidden_states)
        batch, channels, frames, height, width = hidden_states.shape
        folded = hidden_states.transpose(1, 2).reshape(batch * frames, channels, height, width)
        return super().forward(folded).reshape(batch, frames, channels, height, width).transpose(1, 2)


def normalise_frames_separately(unet: nn.Module) -> int:
    """Make every motion module of ``unet`` normalise per frame; returns how many were changed.

    The new norms share the old ones' parameters, so the state dict and the weights stay as loaded.
    """
    from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D

    changed = 0
    for module in unet.modules():
        if isinstance(module, AnimateDiffTransformer3D) and type(module.norm) is nn.GroupNorm:
            old = module.norm
            new = PerFrameGroupNorm(old.num_groups, old.num_channels, eps=old.eps, affine=old.affine)
            new.weight, new.bias = old.weight, old.bias
            module.norm = new
            changed += 1
    return changed
