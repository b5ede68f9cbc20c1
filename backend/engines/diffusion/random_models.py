"""Random-weight models in the real architectures: a tiny set for tests, SD1.5 shapes for smoke checks.

Weights cannot be downloaded here, yet the engine must be exercised end to end. ``models tiny`` writes
every component with small configs (few channels, few layers) through diffusers' and transformers' own
``save_pretrained``, in exactly the folder layout ``models pull`` produces, so tests load them through
the user's code path. The ``sd15`` architecture has the real SD1.5 UNet, ControlNet, motion adapter and
VAE shapes; building it in memory catches the shape and dtype mistakes that real weights would hit.

In the tiny set, weights are drawn so that signals keep their scale through every layer (zero-initialised
layers included), so every component and every input visibly changes the frames: a test can then tell
whether a component was actually used. The sd15 set keeps diffusers' own initialisation: only its
shapes and speed matter, and redrawing three billion weights would take a while.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .components import Components, assemble, default_device
from .model_folder import ModelFolder, default_layout, write_manifest
from .profiles import CONTROLNET, PROFILES

# DDIM with Stable Diffusion 1.5's noise schedule; `models pull` writes the same.
SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "DDIMScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
}

_DOWN_BLOCKS = {"down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D")}
_UP_BLOCKS = {"up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")}
_VAE_BLOCKS = {"down_block_types": ("DownEncoderBlock2D",) * 4, "up_block_types": ("UpDecoderBlock2D",) * 4}


@dataclass(frozen=True)
class Architecture:
    """Configs of every component; the UNet, ControlNet and motion adapter must agree on blocks."""

    unet: dict[str, Any]
    controlnet: dict[str, Any]
    motion_adapter: dict[str, Any]
    vae: dict[str, Any]
    image_encoder: dict[str, Any]  # CLIPVisionConfig
    feature_extractor: dict[str, Any]  # CLIPImageProcessor
    pose_guider: dict[str, Any]  # the AnimateAnyone family's pose guider (reference-poseguider profile)
    resolution: int
    scheduler: dict[str, Any] = field(default_factory=lambda: dict(SCHEDULER_CONFIG))
    # Redraw weights so every input visibly changes the output (tests of wiring); shape checks skip it.
    signal_preserving: bool = True


def _tiny() -> Architecture:
    channels = (8, 16, 16, 32)
    shared = dict(_DOWN_BLOCKS, block_out_channels=channels, layers_per_block=1, norm_num_groups=4,
                  attention_head_dim=2, cross_attention_dim=16)  # fmt: skip
    return Architecture(
        unet=dict(shared, **_UP_BLOCKS, sample_size=8),
        controlnet=dict(shared, conditioning_embedding_out_channels=(4, 8, 8, 16)),
        motion_adapter=dict(
            block_out_channels=channels,
            motion_layers_per_block=1,
            motion_norm_num_groups=4,
            motion_num_attention_heads=2,
            motion_max_seq_length=32,
            use_motion_mid_block=True,
        ),
        vae=dict(_VAE_BLOCKS, block_out_channels=(8, 8, 16, 16), layers_per_block=1, norm_num_groups=4, sample_size=64),
        image_encoder=dict(
            hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8, projection_dim=16
        ),
        feature_extractor=dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        pose_guider=dict(conditioning_embedding_channels=channels[0], block_out_channels=(4, 8, 8, 16)),
        resolution=64,
    )


def _sd15() -> Architecture:
    """SD1.5's UNet, ControlNet OpenPose, AnimateDiff v1-5-2 and VAE shapes.

    The image encoder keeps ViT-L/14's input size and 768-wide projection (what reaches the UNet)
    but only two small layers: its inner width never meets another component.
    """
    channels = (320, 640, 1280, 1280)
    shared = dict(_DOWN_BLOCKS, block_out_channels=channels, layers_per_block=2, norm_num_groups=32,
                  attention_head_dim=8, cross_attention_dim=768)  # fmt: skip
    return Architecture(
        unet=dict(shared, **_UP_BLOCKS, sample_size=64),
        controlnet=dict(shared, conditioning_embedding_out_channels=(16, 32, 96, 256)),
        motion_adapter=dict(
            block_out_channels=channels,
            motion_layers_per_block=2,
            motion_norm_num_groups=32,
            motion_num_attention_heads=8,
            motion_max_seq_length=32,
            use_motion_mid_block=True,
        ),
        vae=dict(_VAE_BLOCKS, block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32, sample_size=512),
        image_encoder=dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=224,
            patch_size=14,
            projection_dim=768,
        ),
        feature_extractor=dict(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}),
        pose_guider=dict(conditioning_embedding_channels=channels[0], block_out_channels=(16, 32, 96, 256)),
        resolution=512,
        signal_preserving=False,
    )


ARCHITECTURES = {"tiny": _tiny, "sd15": _sd15}


@dataclass
class RandomModels:
    """Freshly built components with random weights, before any of them is on a device."""

    architecture: Architecture
    unet: Any  # UNet2DConditionModel (also the reference UNet)
    controlnet: Any
    motion_adapter: Any
    vae: Any
    image_encoder: Any
    pose_guider: Any
    feature_extractor: Any


def build_random(name: str, seed: int = 0) -> RandomModels:
    """Build every component of architecture ``name`` ("tiny" or "sd15") with seeded random weights."""
    from diffusers import AutoencoderKL, ControlNetModel, MotionAdapter, UNet2DConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    from .pose_guider import PoseGuider

    architecture = ARCHITECTURES[name]()
    builders = {
        "unet": lambda: UNet2DConditionModel(**architecture.unet),
        "controlnet": lambda: ControlNetModel(**architecture.controlnet),
        "motion_adapter": lambda: MotionAdapter(**architecture.motion_adapter),
        "vae": lambda: AutoencoderKL(**architecture.vae),
        "image_encoder": lambda: CLIPVisionModelWithProjection(CLIPVisionConfig(**architecture.image_encoder)),
        "pose_guider": lambda: PoseGuider(**architecture.pose_guider),
    }
    built = {}
    with torch.random.fork_rng(devices=[]):
        for offset, (component, build) in enumerate(builders.items()):
            torch.manual_seed(seed * 1000 + offset)
            module = build().eval()
            if architecture.signal_preserving:
                _signal_preserving_weights(module)
            built[component] = module
    return RandomModels(architecture=architecture, feature_extractor=CLIPImageProcessor(**architecture.feature_extractor), **built)


def random_components(
    name: str, device: torch.device | None = None, dtype: torch.dtype | None = None, seed: int = 0, profile: str = CONTROLNET
) -> Components:
    """Components of architecture ``name`` with random weights for ``profile``, assembled as the loader
    assembles them (the image UNet doubles as the reference UNet, as with the default models folder)."""
    if device is None or dtype is None:
        device, dtype = default_device()
    models = build_random(name, seed)
    return assemble(
        profile=PROFILES[profile],
        unet2d=models.unet,
        reference_unet=models.unet,
        motion_adapter=models.motion_adapter,
        pose_model=models.controlnet if PROFILES[profile].pose_input == "controlnet" else models.pose_guider,
        vae=models.vae,
        image_encoder=models.image_encoder,
        feature_extractor=models.feature_extractor,
        scheduler_config=models.architecture.scheduler,
        resolution=models.architecture.resolution,
        device=device,
        dtype=dtype,
    )


def _signal_preserving_weights(module: torch.nn.Module) -> None:
    """He-normal weights and zero biases in every convolution and linear layer.

    PyTorch's default initialisation shrinks a signal by about half per layer, and zero-initialised
    layers (ControlNet's zero convolutions) block it entirely; through a random ControlNet's eight
    conditioning convolutions the pose would then change the output by one part in 10^5. With
    variance-preserving weights every input visibly changes the frames.
    """
    for layer in module.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                torch.nn.init.zeros_(layer.bias)


def write_tiny_models(directory: str | os.PathLike, seed: int = 0) -> ModelFolder:
    """Write the tiny random-weight set into ``directory`` (created), in the layout of ``models pull``."""
    from diffusers import DDIMScheduler

    root = Path(directory).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    models = build_random("tiny", seed)
    layout = default_layout(CONTROLNET)
    for component in ("unet", "controlnet", "motion_adapter", "vae", "image_encoder", "feature_extractor"):
        getattr(models, component).save_pretrained(root / layout[component])
    DDIMScheduler.from_config(models.architecture.scheduler).save_pretrained(root / layout["scheduler"])
    write_manifest(root, models.architecture.resolution, sources={"kind": "tiny random weights (tests only)", "seed": seed})
    return ModelFolder.read(root)
