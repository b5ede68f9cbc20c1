"""The released AnimateAnyone-family checkpoints: conversion, parity with the project's own code, the trap
of diffusers' motion-module norm, and one sentence for every broken download.

The stand-in release has the real files' keys, layout and pickle format at a tiny size; its tensors are
functions of their names (tests/support/released_layout.py), the same ones Moore-AnimateAnyone's code ran
on to make the parity fixture (fixtures/released/README.md).
"""

from __future__ import annotations

import json
import shutil
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from tests.support.released_layout import FIXTURES, tiny_manifest, unet_config, write_tiny_release
from tpc.attention import reference_reads
from tpc_backend.engines.diffusion.components import load_components
from tpc_backend.engines.diffusion.convert import base_config, convert_released, release_components
from tpc_backend.engines.diffusion.model_folder import ModelFolder
from tpc_backend.engines.diffusion.pipeline import AnimationPipeline
from tpc_backend.engines.diffusion.released import FAMILIES, REFERENCE_HEAD, motion_key
from tpc_backend.errors import UserError

PARITY = load_file(FIXTURES / "animate_anyone_tiny_parity.safetensors")
TOLERANCE = 1e-4  # fp32, max |diff|


@pytest.fixture(scope="module")
def moore(moore_models):
    """The converted tiny release loaded as the engine loads it, in fp32 on the CPU."""
    return AnimationPipeline(load_components(moore_models, torch.device("cpu"), torch.float32))


def test_every_released_tensor_is_kept_bit_for_bit_and_only_the_reference_head_is_made_up(moore_release, moore_models):
    root = moore_models.root
    written = {
        name: load_file(root / name / "diffusion_pytorch_model.safetensors")
        for name in ("unet", "reference_unet", "motion_adapter", "pose_guider")
    }
    sources = {name: torch.load(moore_release / f"{file}.pth", weights_only=True) for name, file in
               (("unet", "denoising_unet"), ("reference_unet", "reference_unet"), ("motion_adapter", "motion_module"), ("pose_guider", "pose_guider"))}  # fmt: skip
    for name, tensors in sources.items():
        rename = motion_key if name == "motion_adapter" else (lambda key: key)
        for key, tensor in tensors.items():
            kept = written[name][rename(key)]
            assert kept.dtype == tensor.dtype and torch.equal(kept, tensor), (name, key)
        made_up = set(written[name]) - {rename(key) for key in tensors}
        assert made_up == (set(REFERENCE_HEAD) if name == "reference_unet" else set()), name
    assert all(not written["reference_unet"][key].any() for key in REFERENCE_HEAD)
    assert len(sources["motion_adapter"]) - len(written["motion_adapter"]) == 21  # two position tables -> one per module
    manifest = json.loads((root / "models.json").read_text())
    assert manifest["profile"] == "reference-poseguider" and manifest["inference"]["context_frames"] == 24
    assert "academic research" in manifest["notes"]["licence"]


def test_the_converted_models_reproduce_moore_animateanyones_own_forward(moore):
    """One guided denoising forward: pose guider features after conv_in, reference attention to the bank the
    reference UNet wrote at t = 0, the unconditional rows attending to themselves, per-frame temporal norms."""
    frames = PARITY["latents"].shape[2]
    poses = F.interpolate(PARITY["pose_cells"], scale_factor=(1, 8, 8), mode="nearest")[0].transpose(0, 1)
    embeds = PARITY["image_embeds"].expand(frames, -1, -1)
    context = torch.cat([torch.zeros_like(embeds), embeds])
    scheduler = moore.components.new_scheduler()
    t = PARITY["timestep"][0]
    model_input = scheduler.scale_model_input(PARITY["latents"].repeat(2, 1, 1, 1, 1), t)
    with torch.inference_mode():
        features = moore.components.poses.model(poses)
        banks = moore.reference_banks(PARITY["reference_latents"], PARITY["image_embeds"])
        predicted = moore.unet_prediction(model_input, t, context, poses, [banks], reference_reads(frames, None, unconditional=True))
        plain = moore.unet_prediction(model_input, t, context, poses, [], [()] * 2 * frames)
    difference = (predicted - PARITY["prediction"]).abs().max().item()
    print(
        f"denoising forward vs Moore-AnimateAnyone's own: max |diff| {difference:.1e} (outputs up to {PARITY['prediction'].abs().max():.2f})"
    )
    assert (features - PARITY["pose_features"][0].transpose(0, 1)).abs().max() <= TOLERANCE
    assert difference <= TOLERANCE
    assert (plain - PARITY["plain_prediction"]).abs().max() <= TOLERANCE
    assert (PARITY["prediction"] - PARITY["plain_prediction"]).abs().max() > 100 * TOLERANCE  # the bank is what differs


def test_motion_modules_normalise_each_frame_as_animatediff_trained_them(moore):
    """The measurement behind temporal_norm.py: diffusers' across-frames GroupNorm misses the original."""
    module = moore.components.unet.down_blocks[0].motion_modules[0]
    x = PARITY["motion_input"]  # (1, C, F, h, w)
    frames = x.shape[2]

    def run() -> torch.Tensor:
        with torch.inference_mode():
            out = module(x.transpose(1, 2).flatten(0, 1), num_frames=frames)
        return out.reshape(1, frames, *out.shape[1:]).transpose(1, 2)

    per_frame = (run() - PARITY["motion_output"]).abs().max().item()
    norm = module.norm
    across = torch.nn.GroupNorm(norm.num_groups, norm.num_channels, eps=norm.eps)
    across.weight, across.bias = norm.weight, norm.bias
    module.norm = across
    try:
        across_frames = (run() - PARITY["motion_output"]).abs().max().item()
    finally:
        module.norm = norm
    print(f"motion module vs AnimateDiff's own: per-frame norm {per_frame:.1e}, diffusers' across-frames norm {across_frames:.3f}")
    assert per_frame <= 1e-5 and across_frames > 0.1


def test_the_schedules_are_the_ones_each_project_samples_with(moore_models, tmp_path):
    scheduler = load_components(moore_models, torch.device("cpu"), torch.float32).new_scheduler()
    scheduler.set_timesteps(moore_models.inference.steps)
    assert torch.equal(scheduler.timesteps, PARITY["moore_timesteps_30"])
    assert torch.allclose(scheduler.alphas_cumprod, PARITY["moore_alphas_cumprod"], rtol=0, atol=1e-7)
    assert scheduler.config.prediction_type == "v_prediction" and scheduler.config.rescale_betas_zero_snr
    from diffusers import DDIMScheduler

    muse = DDIMScheduler.from_config(FAMILIES["musepose"].scheduler)
    muse.set_timesteps(FAMILIES["musepose"].inference.steps)
    assert torch.equal(muse.timesteps, PARITY["musepose_timesteps_20"])
    assert torch.allclose(muse.alphas_cumprod, PARITY["musepose_alphas_cumprod"], rtol=0, atol=1e-7)


def test_musepose_converts_with_its_own_window_schedule_and_no_face(tmp_path):
    source = write_tiny_release(tmp_path / "pretrained_weights", "musepose")
    folder = convert_released("musepose", source, tmp_path / "muse")
    assert folder.inference.steps == 20 and folder.inference.context_frames == 48 and not folder.inference.draw_face
    components = load_components(folder, torch.device("cpu"), torch.float32)
    assert components.max_window == 128
    assert components.new_scheduler().config.beta_schedule == "scaled_linear"


@pytest.mark.parametrize("family", ["animate-anyone", "musepose"])
def test_the_released_sd15_files_fit_the_architecture_on_the_meta_device(family):
    """Every released key and shape (committed manifest) against what the converter builds, no allocation."""
    manifest = json.loads((FIXTURES / "animate_anyone_sd15_keys.json").read_text())
    if family == "musepose":  # the same files but 128-frame position tables (fixtures/released/README.md)
        manifest = {name: {k: [1, 128, s[2]] if k.endswith(".pe") else s for k, s in keys.items()} for name, keys in manifest.items()}
    assert {name: len(keys) for name, keys in manifest.items()} == {
        "denoising_unet.pth": 686, "reference_unet.pth": 682, "motion_module.pth": 588, "pose_guider.pth": 16}  # fmt: skip
    config_path = FIXTURES / "unet_configs.json"
    config = unet_config("sd15")
    paths = {name: Path(name) for name in manifest}
    meta = lambda path: OrderedDict((k, torch.empty(s, device="meta")) for k, s in manifest[path.name].items())  # noqa: E731
    built = {name: (model, tensors) for name, model, tensors in release_components(FAMILIES[family], config, config_path, paths, meta)}
    assert sorted(built) == ["motion_adapter", "pose_guider", "reference_unet", "unet"]
    adapter = built["motion_adapter"][0]
    assert adapter.config.motion_max_seq_length == (32 if family == "animate-anyone" else 128)
    assert adapter.config.motion_layers_per_block == 2 and adapter.config.use_motion_mid_block
    assert list(built["pose_guider"][0].config.block_out_channels) == [16, 32, 96, 256]
    for model, tensors in built.values():
        assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {k: tuple(v.shape) for k, v in tensors.items()}


def _damage(file: str, change):
    def apply(root: Path) -> None:
        state = torch.load(root / file, weights_only=True)
        torch.save(change(state), root / file)

    return apply


class _NotWeights:
    pass


BROKEN = {
    "missing file": (
        lambda root: (root / "pose_guider.pth").unlink(),
        r"lacks pose_guider.pth \(it comes from patrolli/AnimateAnyone on Hugging Face\)",
    ),
    "missing vae": (
        lambda root: shutil.rmtree(root / "sd-vae-ft-mse"),
        r"lacks sd-vae-ft-mse/config.json \(it comes from stabilityai/sd-vae-ft-mse",
    ),
    "wrong shape": (
        _damage("denoising_unet.pth", lambda s: {**s, "conv_in.weight": s["conv_in.weight"][:16]}),
        r"denoising_unet.pth: conv_in.weight has shape \[16, 4, 3, 3\], but the UNet of .*config.json needs \[32, 4, 3, 3\]",
    ),
    "missing key": (
        _damage("reference_unet.pth", lambda s: {k: v for k, v in s.items() if k != "mid_block.attentions.0.proj_in.weight"}),
        r"reference_unet.pth lacks mid_block.attentions.0.proj_in.weight, which the UNet of .* needs \(1 missing in all\)",
    ),
    "unexpected key": (
        _damage("pose_guider.pth", lambda s: {**s, "extra.weight": torch.zeros(1)}),
        r"pose_guider.pth has extra.weight, which",
    ),
    "a list, not a state dict": (
        lambda root: torch.save([1, 2], root / "motion_module.pth"),
        r"motion_module.pth holds a list, not a state dict",
    ),
    "pickled code": (
        lambda root: torch.save({"weights": _NotWeights()}, root / "motion_module.pth"),
        r"motion_module.pth is not a PyTorch state dict that loads without running code",
    ),
    "not a pickle": (
        lambda root: (root / "denoising_unet.pth").write_bytes(b"<html>404</html>"),
        r"denoising_unet.pth is not a PyTorch state dict",
    ),
    "sd2 config": (
        lambda root: (root / "stable-diffusion-v1-5/unet/config.json").write_text(
            json.dumps(
                {**unet_config("tiny"), "cross_attention_dim": 1024, "use_linear_projection": True, "attention_head_dim": [5, 10, 20, 20]}
            )
        ),
        r"describes a Stable Diffusion 2-architecture UNet",
    ),
}


@pytest.mark.parametrize("problem", list(BROKEN))
def test_a_broken_release_is_one_sentence_and_leaves_out_absent(moore_release, tmp_path, problem):
    damage, message = BROKEN[problem]
    source = tmp_path / "pretrained_weights"
    shutil.copytree(moore_release, source)
    damage(source)
    out = tmp_path / "out"
    with pytest.raises(UserError, match=message) as raised:
        convert_released("animate-anyone", source, out)
    assert "\n" not in str(raised.value)
    assert not out.exists() and list(tmp_path.iterdir()) == [source]  # no half-written folder beside it either


def test_an_existing_out_is_never_overwritten(moore_release, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match="already exists; give a new folder"):
        convert_released("animate-anyone", moore_release, out)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_the_base_config_must_be_sd15(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**unet_config("sd15"), "down_block_types": ["DownBlock2D"] * 4}))
    with pytest.raises(UserError, match="does not describe an SD1.5-architecture UNet"):
        base_config(path)


def test_fp16_conversion_halves_every_floating_tensor(moore_release, tmp_path):
    folder = convert_released("animate-anyone", moore_release, tmp_path / "half", dtype="fp16")
    unet = load_file(folder.root / "unet" / "diffusion_pytorch_model.safetensors")
    source = torch.load(moore_release / "denoising_unet.pth", weights_only=True)
    assert all(unet[k].dtype == torch.float16 and torch.equal(unet[k], v.half()) for k, v in source.items())
    assert ModelFolder.read(folder.root).profile.name == "reference-poseguider"


def test_the_tiny_manifest_matches_the_released_key_names():
    """The tiny stand-in has the released files' names; only shortcut convolutions differ (its blocks are all 32 wide)."""
    tiny, sd15 = tiny_manifest(), json.loads((FIXTURES / "animate_anyone_sd15_keys.json").read_text())
    assert sorted(tiny) == sorted(sd15) and len(tiny) == 4
    for name, keys in tiny.items():
        assert all("conv_shortcut" in key for key in set(keys) ^ set(sd15[name])), name


@pytest.fixture(scope="module")
def moore_engine(moore_models, tmp_path_factory):
    """The diffusion engine on the converted tiny release, at 128 px and 3 trained steps (test-sized:
    at 64 px the tiny UNet's deepest blocks would be 1 x 1 with one channel per norm group)."""
    from tpc_backend.engines.diffusion import DiffusionEngine

    root = tmp_path_factory.mktemp("engine") / "moore"
    shutil.copytree(moore_models.root, root)
    manifest = json.loads((root / "models.json").read_text())
    manifest["resolution"], manifest["inference"]["steps"] = 128, 3
    (root / "models.json").write_text(json.dumps(manifest))
    return DiffusionEngine(root)


def _render(engine, job):
    frames, messages = {}, []
    engine.render(
        job, 0, lambda index, rgb: frames.__setitem__(index, rgb.copy()), lambda: False, lambda f, message: messages.append(message)
    )
    return frames, messages


def test_the_engine_renders_converted_models_deterministically_and_tpc_changes_the_frames(moore_engine, make_job):
    settings = {"seed": 11, "steps": None}  # steps as the models folder says it was trained
    first, messages = _render(moore_engine, make_job(frames=3, **settings))
    again, _ = _render(moore_engine, make_job(frames=3, **settings))
    plain, _ = _render(moore_engine, make_job(frames=3, tpc=False, **settings))
    assert sorted(first) == sorted(again) == sorted(plain) == [0, 1, 2] and "denoising step 3/3" in messages
    assert all(torch.equal(torch.from_numpy(first[i]), torch.from_numpy(again[i])) for i in first)
    assert all(not torch.equal(torch.from_numpy(first[i]), torch.from_numpy(plain[i])) for i in first)


def test_each_release_is_shown_pose_pictures_as_it_was_trained(moore_engine, make_job, tmp_path):
    """Moore-AnimateAnyone was trained on DWPose drawings with faces, MusePose without: the engine draws
    the pictures each folder's inference settings ask for."""
    from tpc.wholebody import HandsFace
    from tpc_backend.engines.diffusion import DiffusionEngine

    muse_root = convert_released("musepose", write_tiny_release(tmp_path / "pretrained_weights", "musepose"), tmp_path / "muse").root
    manifest = json.loads((muse_root / "models.json").read_text())
    (muse_root / "models.json").write_text(json.dumps({**manifest, "resolution": 128}))
    muse_engine = DiffusionEngine(muse_root)
    job = make_job(frames=1, steps=1, tpc=False)
    x, y = job.poses.frames[0][0][0, :2]  # a face around the nose
    face = np.column_stack([x + np.linspace(-20, 20, 68), np.full(68, y), np.full(68, 1.0)])
    job.poses.hands_face = [[HandsFace(face=face)]]
    white = {}
    for name, engine in (("moore", moore_engine), ("musepose", muse_engine)):
        seen = []
        prepare = engine.pipeline.prepare
        engine.pipeline.prepare = lambda inputs, *args, seen=seen, prepare=prepare, **kwargs: (
            seen.append(inputs) or prepare(inputs, *args, **kwargs)
        )
        try:
            _render(engine, job)
        finally:
            del engine.pipeline.prepare
        white[name] = int((seen[0].poses[0] == 255).all(axis=2).sum())
    assert white["moore"] > 0 and white["musepose"] == 0, white
