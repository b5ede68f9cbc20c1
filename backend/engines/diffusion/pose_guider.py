"""AnimateAnyone's pose guider, and the hook that adds its features to a UNet's first convolution.

The AnimateAnyone family conditions on the pose without a ControlNet: a small convolutional encoder
turns each pose picture (RGB in [0, 1]) into features at the latent grid, and the denoising UNet adds
them to the output of its ``conv_in``, on both halves of classifier-free guidance::

    h_0 = conv_in(z_t) + G(pose)

The encoder is four stages of 3x3 convolutions, SiLU after each but the last, the resolution halved
at each stage after the first (``block_out_channels`` 16, 32, 96, 256 in the released checkpoints,
then 320 to meet ``conv_in``). Its parameter names are the released ``pose_guider.pth``'s, so a
converted file loads as it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class PoseGuider(ModelMixin, ConfigMixin):
    """G: pose pictures (N, 3, H, W) in [0, 1] -> features (N, C, H / 8, W / 8) added after ``conv_in``."""

    @register_to_config
    def __init__(
        self,
        conditioning_embedding_channels: int = 320,
        conditioning_channels: int = 3,
        block_out_channels: tuple[int, ...] = (16, 32, 96, 256),
    ) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(conditioning_channels, block_out_channels[0], kernel_size=3, padding=1)
        self.blocks = nn.ModuleList()
        for channels_in, channels_out in zip(block_out_channels[:-1], block_out_channels[1:]):
            self.blocks.append(nn.Conv2d(channels_in, channels_in, kernel_size=3, padding=1))
            self.blocks.append(nn.Conv2d(channels_in, channels_out, kernel_size=3, padding=1, stride=2))
        self.conv_out = nn.Conv2d(block_out_channels[-1], conditioning_embedding_channels, kernel_size=3, padding=1)

    def forward(self, conditioning: torch.Tensor) -> torch.Tensor:
        features = F.silu(self.conv_in(conditioning))
        for block in self.blocks:
            features = F.silu(block(features))
        return self.conv_out(features)


class ConvInAddition:
    """Adds given features to a UNet's ``conv_in`` output while :meth:`adding` is active.

    A forward hook, not a replaced module: the UNet's parameters, names and state dict stay as they
    are. Outside :meth:`adding` the hook passes the output through untouched.
    """

    def __init__(self, unet: nn.Module) -> None:
        self._features: torch.Tensor | None = None
        self._handle = unet.conv_in.register_forward_hook(self._add)

    @contextlib.contextmanager
    def adding(self, features: torch.Tensor) -> Iterator[None]:
        """Every ``conv_in`` call inside adds ``features`` (batch rows as the UNet flattens them)."""
        self._features = features
        try:
            yield
        finally:
            self._features = None

    def remove(self) -> None:
        self._handle.remove()

    def _add(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        if self._features is None:
            return output
        if self._features.shape != output.shape:
            raise ValueError(f"pose features of shape {tuple(self._features.shape)} cannot be added to conv_in's {tuple(output.shape)}")
        return output + self._features
