"""How the pose reaches the denoising UNet: ControlNet residuals, or pose-guider features after conv_in.

Each profile conditions on the pose its own way; the pipeline only asks for "the UNet call's pose
conditioning" (:meth:`PoseConditioning.applied`), so one denoising loop serves both. The poses come
once per window, unrepeated: each way repeats them for the guidance copies as it needs.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import torch

from .pose_guider import ConvInAddition


class PoseConditioning(ABC):
    """The pose part of one denoising UNet call."""

    model: torch.nn.Module  # the network that reads the pose pictures

    @abstractmethod
    def applied(
        self, flat_latents: torch.Tensor, t: torch.Tensor, context: torch.Tensor, poses: torch.Tensor, copies: int
    ) -> contextlib.AbstractContextManager[dict[str, Any]]:
        """Within the block, the UNet call (given the returned keyword arguments) is pose-conditioned.

        ``flat_latents``: the UNet's input with frames folded into the batch, (copies * n, 4, h, w);
        ``poses``: the window's n pose pictures, (n, 3, H, W) in [0, 1].
        """


class ControlNetPoses(PoseConditioning):
    """ControlNet OpenPose: residuals for the UNet's down and mid blocks."""

    def __init__(self, controlnet: torch.nn.Module) -> None:
        self.model = controlnet

    @contextlib.contextmanager
    def applied(self, flat_latents, t, context, poses, copies) -> Iterator[dict[str, Any]]:
        down, mid = self.model(
            flat_latents, t, encoder_hidden_states=context, controlnet_cond=poses.repeat(copies, 1, 1, 1), return_dict=False
        )
        yield {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}


class PoseGuiderPoses(PoseConditioning):
    """AnimateAnyone's pose guider: its features are added to ``conv_in``'s output on every guidance copy."""

    def __init__(self, pose_guider: torch.nn.Module, unet: torch.nn.Module) -> None:
        self.model = pose_guider
        self._addition = ConvInAddition(unet)

    @contextlib.contextmanager
    def applied(self, flat_latents, t, context, poses, copies) -> Iterator[dict[str, Any]]:
        features = self.model(poses)
        with self._addition.adding(features.repeat(copies, 1, 1, 1)):
            yield {}
