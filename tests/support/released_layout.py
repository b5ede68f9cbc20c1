"""Weights in the released AnimateAnyone-family layout (``denoising_unet.pth`` ...), drawn from their names.

The released checkpoints cannot be downloaded here, so tests write stand-ins in the same layout: the
same files, keys, shapes and dtypes, saved with ``torch.save`` as the projects save them. Each tensor
is a pure function of its key and shape, so a stand-in written here holds exactly the tensors that
the parity fixture's weights held when the reference project's own code computed its outputs
(``tests/diffusion/fixtures/released/README.md``): the fixture commits keys, shapes and outputs,
never weights.

Every tensor is non-zero and scaled so signals keep their size through the layers: zero-initialised
layers (the motion modules' ``proj_out``, the pose guider's ``conv_out``) would otherwise hide whole
components from a parity test. ``pos_encoder.pe`` buffers are AnimateDiff's sinusoid, as saved.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import OrderedDict
from pathlib import Path

import torch

# The four checkpoint files and the base UNet config, where each project's download lays them out.
CHECKPOINTS = ("denoising_unet.pth", "reference_unet.pth", "motion_module.pth", "pose_guider.pth")


def sinusoid(length: int, width: int) -> torch.Tensor:
    """AnimateDiff's temporal position encoding, (1, length, width)."""
    position = torch.arange(length).unsqueeze(1)
    frequencies = torch.exp(torch.arange(0, width, 2) * (-math.log(10000.0) / width))
    table = torch.zeros(1, length, width)
    table[0, :, 0::2] = torch.sin(position * frequencies)
    table[0, :, 1::2] = torch.cos(position * frequencies)
    return table


def released_tensor(key: str, shape: tuple[int, ...]) -> torch.Tensor:
    """The stand-in value of checkpoint tensor ``key``: seeded by the key, variance-preserving."""
    if key.endswith("pos_encoder.pe"):
        return sinusoid(shape[1], shape[2])
    generator = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    values = torch.randn(tuple(shape), generator=generator)
    if key.endswith("bias"):
        return 0.05 * values
    if len(shape) == 1:  # a norm's scale
        return 1.0 + 0.1 * values
    fan_in = math.prod(shape[1:])
    return values * math.sqrt(1.0 / fan_in)


def state_dict(keys: dict[str, list[int]]) -> OrderedDict[str, torch.Tensor]:
    """Stand-in tensors for ``{key: shape}``, in the given key order."""
    return OrderedDict((key, released_tensor(key, tuple(shape))) for key, shape in keys.items())


def write_released(folder: Path, manifest: dict, base_config: dict, base_unet: str) -> Path:
    """Write a released-layout folder from a key manifest ``{file: {key: shape}}`` and a base UNet config.

    ``base_unet`` is where the project keeps its base UNet folder (``stable-diffusion-v1-5/unet`` for
    Moore-AnimateAnyone, ``sd-image-variations-diffusers/unet`` for MusePose); the checkpoint files go
    where ``manifest`` names them (e.g. ``MusePose/denoising_unet.pth``).
    """
    for name, keys in manifest.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state_dict(keys), path)
    config = folder / base_unet / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(base_config, indent=2), encoding="utf-8")
    return folder


FIXTURES = Path(__file__).resolve().parents[1] / "diffusion" / "fixtures" / "released"


def tiny_manifest(family: str = "animate-anyone") -> dict:
    """Keys and shapes of the tiny stand-in release (``musepose``: its folder and 128-frame position tables)."""
    manifest = json.loads((FIXTURES / "animate_anyone_tiny_keys.json").read_text(encoding="utf-8"))
    if family == "animate-anyone":
        return manifest
    return {
        f"MusePose/{name}": {key: ([1, 128, shape[2]] if key.endswith("pos_encoder.pe") else shape) for key, shape in keys.items()}
        for name, keys in manifest.items()
    }


def unet_config(size: str) -> dict:
    """The base UNet config the fixtures were made with: "tiny" or "sd15"."""
    return json.loads((FIXTURES / "unet_configs.json").read_text(encoding="utf-8"))[size]


def write_tiny_release(folder: Path, family: str = "animate-anyone") -> Path:
    """A whole tiny release in the project's download layout: the four checkpoints, the base UNet config,
    and a VAE and CLIP image encoder saved the way the downloads hold them (pickled ``.bin`` weights)."""
    base = "stable-diffusion-v1-5/unet" if family == "animate-anyone" else "sd-image-variations-diffusers/unet"
    write_released(folder, tiny_manifest(family), unet_config("tiny"), base)
    write_downloaded_vae_and_encoder(folder, "tiny")
    return folder


def write_downloaded_vae_and_encoder(folder: Path, size: str) -> None:
    """A random VAE (``sd-vae-ft-mse/``) and CLIP image encoder (``image_encoder/``) of the "tiny" or
    "sd15" architecture, saved the way the downloads hold them (pickled ``.bin`` weights)."""
    from tpc_backend.engines.diffusion.random_models import build_random

    models = build_random(size)
    models.vae.save_pretrained(folder / "sd-vae-ft-mse", safe_serialization=False)
    encoder = folder / "image_encoder"
    encoder.mkdir()
    models.image_encoder.config.to_json_file(encoder / "config.json")
    torch.save(models.image_encoder.state_dict(), encoder / "pytorch_model.bin")
