"""The models folder: the tiny set's layout, loading through the user's path, and one-sentence errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tpc_backend.engines.diffusion.components import load_components
from tpc_backend.engines.diffusion.model_folder import ModelFolder
from tpc_backend.engines.diffusion.profiles import PROFILES
from tpc_backend.errors import UserError

FILES = {
    "unet": ["config.json", "diffusion_pytorch_model.safetensors"],
    "vae": ["config.json", "diffusion_pytorch_model.safetensors"],
    "controlnet": ["config.json", "diffusion_pytorch_model.safetensors"],
    "motion_adapter": ["config.json", "diffusion_pytorch_model.safetensors"],
    "image_encoder": ["config.json", "model.safetensors"],
    "feature_extractor": ["preprocessor_config.json"],
    "scheduler": ["scheduler_config.json"],
}


def test_the_tiny_set_has_the_layout_of_a_pulled_folder(tiny_models):
    root = tiny_models.root
    manifest = json.loads((root / "models.json").read_text())
    assert manifest["format"] == "tpc-animate-models" and manifest["version"] == 2 and manifest["profile"] == "controlnet"
    assert manifest["components"] == {**{name: name for name in PROFILES["controlnet"].components}, "reference_unet": "unet"}
    for folder, files in FILES.items():
        assert sorted(path.name for path in (root / folder).iterdir()) == sorted(files), folder
    assert json.loads((root / "unet" / "config.json").read_text())["_class_name"] == "UNet2DConditionModel"
    assert json.loads((root / "scheduler" / "scheduler_config.json").read_text())["_class_name"] == "DDIMScheduler"


def test_loading_builds_the_motion_unet_and_shares_the_reference_weights(tiny_models):
    components = load_components(tiny_models)
    assert type(components.unet).__name__ == "UNetMotionModel"
    assert type(components.reference_unet).__name__ == "UNet2DConditionModel"
    assert components.dtype == torch.float32 and components.device.type == "cpu"
    assert torch.equal(components.unet.conv_in.weight, components.reference_unet.conv_in.weight)
    assert components.unet.conv_in.weight.data_ptr() != components.reference_unet.conv_in.weight.data_ptr()
    assert type(components.new_scheduler()).__name__ == "DDIMScheduler"
    assert components.new_scheduler() is not components.new_scheduler()


def test_a_separate_reference_unet_folder_is_loaded_on_its_own(tiny_models, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(tiny_models.root, root)
    shutil.copytree(root / "unet", root / "reference_unet")
    manifest = json.loads((root / "models.json").read_text())
    manifest["components"]["reference_unet"] = "reference_unet"
    (root / "models.json").write_text(json.dumps(manifest))
    components = load_components(ModelFolder.read(root))
    assert components.reference_unet.config.block_out_channels == components.unet.config.block_out_channels


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda root: (root / "models.json").unlink(),
            r"is not a models folder \(no models.json\); create one with `tpc-backend models convert` .* `tpc-backend models pull",
        ),
        (lambda root: (root / "models.json").write_text("{"), "is not readable JSON"),
        (
            lambda root: shutil.rmtree(root / "controlnet"),
            r"the controlnet folder .* has no config.json; it must be a diffusers-format OpenPose ControlNetModel",
        ),
        (lambda root: _edit(root, resolution=30), "resolution must be a whole number of pixels from 64 to 4096"),
        (lambda root: _edit(root, format="other"), "is not a TPC Animate models manifest"),
    ],
)
def test_a_broken_folder_is_one_sentence_naming_the_problem(tiny_models, tmp_path, damage, message):
    root = tmp_path / "models"
    shutil.copytree(tiny_models.root, root)
    damage(root)
    with pytest.raises(UserError, match=message) as raised:
        ModelFolder.read(root)
    assert "\n" not in str(raised.value)


def test_a_component_of_the_wrong_kind_is_one_sentence(tiny_models, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(tiny_models.root, root)
    manifest = json.loads((root / "models.json").read_text())
    manifest["components"]["controlnet"] = "vae"  # a folder with a config, but not a ControlNet
    (root / "models.json").write_text(json.dumps(manifest))
    with pytest.raises(
        UserError,
        match=r"the controlnet folder .*vae holds 'AutoencoderKL', not 'ControlNetModel' \(OpenPose ControlNetModel\); fix models.json",
    ):
        ModelFolder.read(root)


def _edit(root, **changes) -> None:
    manifest = json.loads((root / "models.json").read_text())
    (root / "models.json").write_text(json.dumps({**manifest, **changes}))
