"""The engine's models, loaded once from local folders and kept on the compute device.

The denoising UNet is a UNetMotionModel: the image UNet with AnimateDiff's motion modules inserted
(``UNetMotionModel.from_unet2d``), so the spatial layers that read the banks are the image UNet's and
the temporal layers are the adapter's, which normalise each frame on their own (``temporal_norm.py``).
The reference UNet is a plain UNet2DConditionModel in write mode. The pose enters through the
profile's network: ControlNet OpenPose or the AnimateAnyone pose guider (``pose_conditioning.py``).
Loading takes local paths only; nothing here reaches the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch

from ...errors import UserError
from .model_folder import ModelFolder
from .pose_conditioning import ControlNetPoses, PoseConditioning, PoseGuiderPoses
from .profiles import Inference, Profile
from .temporal_norm import normalise_frames_separately


@dataclass
class Components:
    unet: Any  # UNetMotionModel: image UNet + motion modules (read mode)
    reference_unet: Any  # UNet2DConditionModel (write mode)
    poses: PoseConditioning  # ControlNet OpenPose or the pose guider, with how it enters the UNet
    vae: Any  # AutoencoderKL
    image_encoder: Any  # CLIPVisionModelWithProjection
    feature_extractor: Any  # CLIPImageProcessor
    scheduler_class: type
    scheduler_config: dict[str, Any]
    resolution: int
    profile: Profile
    inference: Inference  # how the models were trained to run (steps, guidance, windows, pose drawing)
    device: torch.device
    dtype: torch.dtype

    def new_scheduler(self) -> Any:
        """A fresh scheduler: each job sets its own timesteps."""
        return self.scheduler_class.from_config(self.scheduler_config)

    @property
    def max_window(self) -> int:
        """Most frames the motion module attends over at once."""
        return int(self.unet.config.motion_max_seq_length)


def default_device() -> tuple[torch.device, torch.dtype]:
    """CUDA in fp16 when present, otherwise CPU in fp32."""
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.float16
    return torch.device("cpu"), torch.float32


def assemble(
    *,
    profile: Profile,
    unet2d: Any,
    reference_unet: Any,
    motion_adapter: Any,
    pose_model: Any,
    vae: Any,
    image_encoder: Any,
    feature_extractor: Any,
    scheduler_config: dict[str, Any],
    resolution: int,
    device: torch.device,
    dtype: torch.dtype,
    inference: Inference | None = None,
) -> Components:
    """Check that the parts fit together, build the motion UNet, and move everything to ``device``.

    ``pose_model`` is the profile's pose network: a ControlNetModel or a PoseGuider.
    """
    import diffusers
    from diffusers import UNetMotionModel

    context_width = image_encoder.config.projection_dim
    attending = [("unet", unet2d), ("reference_unet", reference_unet)]
    if profile.pose_input == "controlnet":
        attending.append(("controlnet", pose_model))
    for name, model in attending:
        if model.config.cross_attention_dim != context_width:
            raise UserError(
                f"the {name} attends to {model.config.cross_attention_dim}-wide context but the image encoder "
                f"gives {context_width}-wide embeddings; use components made for CLIP image conditioning"
            )
    if tuple(reference_unet.config.block_out_channels) != tuple(unet2d.config.block_out_channels):
        raise UserError("the reference UNet and the UNet have different architectures; their attention layers must match")
    if profile.pose_input == "pose_guider" and pose_model.config.conditioning_embedding_channels != unet2d.conv_in.out_channels:
        raise UserError(
            f"the pose guider gives {pose_model.config.conditioning_embedding_channels} channels but the UNet's conv_in "
            f"gives {unet2d.conv_in.out_channels}; they are added together, so they must match"
        )
    try:
        unet = UNetMotionModel.from_unet2d(unet2d, motion_adapter)
    except ValueError as error:
        raise UserError(f"the motion adapter does not fit the UNet ({error})") from None
    normalise_frames_separately(unet)
    scheduler_class = getattr(diffusers, str(scheduler_config.get("_class_name")), None)
    if not (isinstance(scheduler_class, type) and issubclass(scheduler_class, diffusers.SchedulerMixin)):
        raise UserError(f"the scheduler config names {scheduler_config.get('_class_name')!r}, which is not a diffusers scheduler")
    for model in (unet, reference_unet, pose_model, vae, image_encoder):
        cast = {} if model.dtype == dtype else {"dtype": dtype}  # diffusers warns whenever a dtype is passed
        model.to(device=device, **cast).eval().requires_grad_(False)
    poses = ControlNetPoses(pose_model) if profile.pose_input == "controlnet" else PoseGuiderPoses(pose_model, unet)
    return Components(
        unet=unet,
        reference_unet=reference_unet,
        poses=poses,
        vae=vae,
        image_encoder=image_encoder,
        feature_extractor=feature_extractor,
        scheduler_class=scheduler_class,
        scheduler_config=dict(scheduler_config),
        resolution=resolution,
        profile=profile,
        inference=inference or profile.defaults,
        device=device,
        dtype=dtype,
    )


def load_components(folder: ModelFolder, device: torch.device | None = None, dtype: torch.dtype | None = None) -> Components:
    """Load every component of ``folder`` from disk (local files only)."""
    from diffusers import AutoencoderKL, ControlNetModel, MotionAdapter, UNet2DConditionModel
    from diffusers.utils import is_accelerate_available
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    from .pose_guider import PoseGuider

    if device is None or dtype is None:
        device, dtype = default_device()
    paths, profile = folder.components, folder.profile

    def load(name: str, loader: Any, **kwargs: Any) -> Any:
        try:
            return loader.from_pretrained(paths[name], local_files_only=True, **kwargs)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UserError(f"could not load the {name} ({profile.components[name]}) from {paths[name]}: {reason}") from None

    # Without accelerate diffusers can only load the plain way, and warns about it for every model.
    diffusers_options = {"torch_dtype": dtype, "low_cpu_mem_usage": is_accelerate_available()}
    unet2d = load("unet", UNet2DConditionModel, **diffusers_options)
    same = paths["reference_unet"] == paths["unet"]
    reference_unet = unet2d if same else load("reference_unet", UNet2DConditionModel, **diffusers_options)
    if profile.pose_input == "controlnet":
        pose_model = load("controlnet", ControlNetModel, **diffusers_options)
    else:
        pose_model = load("pose_guider", PoseGuider, **diffusers_options)
    scheduler_file = paths["scheduler"] / "scheduler_config.json"
    try:
        scheduler_config = json.loads(scheduler_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"could not read the scheduler config {scheduler_file}: {error}") from None
    return assemble(
        profile=profile,
        unet2d=unet2d,
        reference_unet=reference_unet,
        motion_adapter=load("motion_adapter", MotionAdapter, **diffusers_options),
        pose_model=pose_model,
        vae=load("vae", AutoencoderKL, **diffusers_options),
        image_encoder=load("image_encoder", CLIPVisionModelWithProjection, dtype=dtype),
        feature_extractor=load("feature_extractor", CLIPImageProcessor),
        scheduler_config=scheduler_config,
        resolution=folder.resolution,
        inference=folder.inference,
        device=device,
        dtype=dtype,
    )
