"""The released AnimateAnyone-family checkpoints: where each project's download puts its files, and how
each was trained to run.

Both projects publish four PyTorch state dicts beside base components (``../shared/research`` has the
facts, read from the projects' own code):

- ``denoising_unet.pth``: an SD1.5 UNet2DConditionModel in diffusers' own names (686 tensors);
- ``reference_unet.pth``: the same without the output head (``conv_norm_out``, ``conv_out``: 682);
- ``motion_module.pth``: AnimateDiff v2 motion modules (21 modules, 588 tensors, with the sinusoidal
  position tables as buffers ``pos_encoder.pe`` -- 32 frames long for Moore, 128 for MusePose);
- ``pose_guider.pth``: the pose guider (16 tensors).

The UNet's architecture is not in the files: it is the base UNet config the project downloads
(``stable-diffusion-v1-5/unet`` or ``sd-image-variations-diffusers/unet``), whose weights the
checkpoints overwrite entirely, so only its ``config.json`` is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .profiles import Inference

# The four checkpoint files, in the order they are converted.
CHECKPOINT_FILES = ("denoising_unet.pth", "reference_unet.pth", "motion_module.pth", "pose_guider.pth")
# What the reference UNet's file leaves out: the output head, which writing banks never reaches.
REFERENCE_HEAD = ("conv_norm_out.weight", "conv_norm_out.bias", "conv_out.weight", "conv_out.bias")

# DDIM as both projects' inference_v2.yaml configure it: v-prediction, zero terminal SNR, trailing spacing.
_ZERO_SNR_DDIM = {
    "_class_name": "DDIMScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "clip_sample": False,
    "steps_offset": 1,
    "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True,
    "timestep_spacing": "trailing",
}


@dataclass(frozen=True)
class Download:
    """One file a user fetches: Hugging Face repository, path inside it, and where it goes under SRC."""

    repository: str
    path: str
    destination: str


@dataclass(frozen=True)
class ReleasedFamily:
    """One project's released files: their layout under SRC, and the settings it was trained with."""

    name: str  # as ``models convert --from`` names it
    title: str
    checkpoints: str  # folder of the four .pth files, relative to SRC ("" = SRC itself)
    base_unet: str  # folder of the base UNet config, relative to SRC
    scheduler: dict[str, Any]
    inference: Inference
    resolution: int  # long side of the frames, as the project's defaults make them
    licence: str
    downloads: tuple[Download, ...]
    vae: str = "sd-vae-ft-mse"
    image_encoder: str = "image_encoder"
    motion_heads: int = 8  # AnimateDiff's num_attention_heads: not recoverable from tensor shapes
    motion_norm_groups: int = 32  # AnimateDiff's temporal GroupNorm, fixed in its code
    notes: dict[str, str] = field(default_factory=dict)

    def checkpoint(self, file: str) -> str:
        return f"{self.checkpoints}/{file}" if self.checkpoints else file


_BASE_DOWNLOADS = (
    Download("stabilityai/sd-vae-ft-mse", "config.json", "sd-vae-ft-mse/config.json"),
    Download("stabilityai/sd-vae-ft-mse", "diffusion_pytorch_model.safetensors", "sd-vae-ft-mse/diffusion_pytorch_model.safetensors"),
    Download("lambdalabs/sd-image-variations-diffusers", "image_encoder/config.json", "image_encoder/config.json"),
    Download("lambdalabs/sd-image-variations-diffusers", "image_encoder/pytorch_model.bin", "image_encoder/pytorch_model.bin"),
)

FAMILIES: dict[str, ReleasedFamily] = {
    "animate-anyone": ReleasedFamily(
        name="animate-anyone",
        title="Moore-AnimateAnyone",
        checkpoints="",
        base_unet="stable-diffusion-v1-5/unet",
        scheduler={**_ZERO_SNR_DDIM, "beta_schedule": "linear"},
        inference=Inference(steps=30, guidance=3.5, context_frames=24, context_overlap=4, draw_face=True),
        resolution=768,
        licence=(
            "Moore-AnimateAnyone's code is Apache-2.0 and its weights are published for academic research; the "
            "SD1.5-derived parts carry the CreativeML OpenRAIL-M licence, sd-vae-ft-mse is MIT"
        ),
        downloads=(
            *(Download("patrolli/AnimateAnyone", file, file) for file in CHECKPOINT_FILES),
            Download("stable-diffusion-v1-5/stable-diffusion-v1-5", "unet/config.json", "stable-diffusion-v1-5/unet/config.json"),
            *_BASE_DOWNLOADS,
        ),
    ),
    "musepose": ReleasedFamily(
        name="musepose",
        title="MusePose",
        checkpoints="MusePose",
        base_unet="sd-image-variations-diffusers/unet",
        scheduler={**_ZERO_SNR_DDIM, "beta_schedule": "scaled_linear"},
        inference=Inference(steps=20, guidance=3.5, context_frames=48, context_overlap=4, draw_face=False),
        resolution=768,
        licence=(
            "MusePose's weights are for non-commercial research only (its code is MIT); the SD-derived parts carry "
            "the CreativeML OpenRAIL-M licence, sd-vae-ft-mse is MIT"
        ),
        downloads=(
            *(Download("TMElyralab/MusePose", f"MusePose/{file}", f"MusePose/{file}") for file in CHECKPOINT_FILES),
            Download("lambdalabs/sd-image-variations-diffusers", "unet/config.json", "sd-image-variations-diffusers/unet/config.json"),
            *_BASE_DOWNLOADS,
        ),
    ),
}


def motion_key(key: str) -> str:
    """AnimateDiff v2's name of a motion-module tensor in diffusers' MotionAdapter.

    ``...motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.to_q.weight`` ->
    ``...motion_modules.0.transformer_blocks.0.attn2.to_q.weight``; both attention blocks' position
    tables become the block's one ``pos_embed.pe`` (they hold the same sinusoid).
    """
    key = key.replace(".temporal_transformer.", ".", 1)
    for old, new in ((".norms.0.", ".norm1."), (".norms.1.", ".norm2."), (".ff_norm.", ".norm3.")):
        key = key.replace(old, new)
    for block in ("0", "1"):
        key = key.replace(f".attention_blocks.{block}.pos_encoder.pe", ".pos_embed.pe")
    return key.replace(".attention_blocks.0.", ".attn1.").replace(".attention_blocks.1.", ".attn2.")
