"""``models convert``: the released AnimateAnyone-family files -> a ``reference-poseguider`` models folder.

Strict by design, because a silently half-loaded checkpoint renders plausible garbage:
- the four checkpoints are read with ``torch.load(weights_only=True)`` (no pickled code runs), one at
  a time and memory-mapped: a file's tensors are paged in from disk as they are written out (peak
  memory about twice the largest file, 7.3 GiB for SD1.5's: ``benchmarks/released_conversion.py``);
- every tensor is checked against the architecture the base UNet config and the tensors' own shapes
  describe (built on the meta device: nothing allocated), and every one is used and written bit for
  bit (same dtype, unless ``dtype`` is given); the only keys made up are the reference UNet's output
  head, which the released file leaves out and writing banks never reaches (written as zeros);
- the first problem ends the conversion with one sentence naming the file and the key, and nothing
  is left at OUT: the folder is written beside it and renamed into place only when complete.

The VAE and the CLIP image encoder are standard diffusers/transformers folders; they are loaded by
their libraries (which know their older on-disk names), checked for missing or unexpected weights,
and saved as safetensors.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from ...errors import UserError
from .model_folder import ModelFolder, default_layout, write_manifest
from .profiles import REFERENCE_POSEGUIDER
from .released import CHECKPOINT_FILES, FAMILIES, REFERENCE_HEAD, ReleasedFamily, motion_key

Say = Callable[[str], None]
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# SD1.5's block layout; SD2 and SDXL UNets differ in width, projections and blocks.
_SD15_BLOCKS = {
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}


def convert_released(
    family_name: str, source: str | os.PathLike, target: str | os.PathLike, dtype: str | None = None, say: Say = lambda line: None
) -> ModelFolder:
    """Convert SRC (the project's download layout) into a new models folder at ``target``."""
    if family_name not in FAMILIES:
        raise UserError(f"unknown released model {family_name!r}; known: {', '.join(FAMILIES)}")
    if dtype is not None and dtype not in DTYPES:
        raise UserError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    family = FAMILIES[family_name]
    source, target = Path(source).expanduser(), Path(target).expanduser()
    if target.exists():
        raise UserError(f"{target} already exists; give a new folder for the converted models (nothing was written)")
    if not source.is_dir():
        raise UserError(f"{source} is not a folder; give the folder {family.title}'s download script fills (its pretrained_weights)")
    paths = _source_paths(family, source)
    staging = target.parent / f".{target.name}.converting-{os.getpid()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        _write(family, paths, staging, DTYPES.get(dtype or ""), say)
        _sync_tree(staging)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"models ready in {target}")
    return ModelFolder.read(target)


def _source_paths(family: ReleasedFamily, source: Path) -> dict[str, Path]:
    """Every file and folder the conversion reads, checked present (one sentence naming the first missing)."""
    paths = {file: source / family.checkpoint(file) for file in CHECKPOINT_FILES}
    paths |= {
        "base_config": source / family.base_unet / "config.json",
        "vae": source / family.vae,
        "image_encoder": source / family.image_encoder,
    }
    origin = {download.destination: download.repository for download in family.downloads}
    for name, path in paths.items():
        needed = path / "config.json" if name in ("vae", "image_encoder") else path
        if not needed.is_file():
            where = needed.relative_to(source).as_posix()
            repository = origin.get(where) or next((r for d, r in origin.items() if d.startswith(where.rsplit("/", 1)[0] + "/")), None)
            comes = f" (it comes from {repository} on Hugging Face)" if repository else ""
            raise UserError(f"{source} lacks {where}{comes}; lay SRC out as {family.title}'s download script does")
    return paths


def _write(family: ReleasedFamily, paths: dict[str, Path], out: Path, dtype: torch.dtype | None, say: Say) -> None:
    from diffusers import DDIMScheduler
    from transformers import CLIPImageProcessor

    layout = default_layout(REFERENCE_POSEGUIDER)
    config = base_config(paths["base_config"])
    checkpoints = {file: paths[file] for file in CHECKPOINT_FILES}
    for component, model, tensors in release_components(family, config, paths["base_config"], checkpoints, lambda path: _read(path, say)):
        _save(model, tensors, out / layout[component], dtype, say)
        del tensors  # one checkpoint in memory at a time
    image_size = _library_component("image_encoder", paths["image_encoder"], out / layout["image_encoder"], dtype, say)
    _library_component("vae", paths["vae"], out / layout["vae"], dtype, say)
    CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}).save_pretrained(
        out / layout["feature_extractor"]
    )
    DDIMScheduler.from_config(family.scheduler).save_pretrained(out / layout["scheduler"])
    sources = {name: {"file": str(path), "bytes": path.stat().st_size} for name, path in checkpoints.items()}
    notes = {
        "converted_from": f"{family.title} (tpc-backend models convert --from {family.name})",
        "licence": family.licence,
        "reference_unet": "conv_norm_out and conv_out are zeros: the released reference UNet has no output head",
    }
    write_manifest(out, family.resolution, layout, sources=sources, profile=REFERENCE_POSEGUIDER, inference=family.inference, notes=notes)


def release_components(
    family: ReleasedFamily,
    config: dict[str, Any],
    config_path: Path,
    checkpoints: dict[str, Path],
    read: Callable[[Path], OrderedDict[str, torch.Tensor]],
) -> Iterator[tuple[str, Any, OrderedDict[str, torch.Tensor]]]:
    """Each checkpoint in turn as (component, its model on the meta device, its tensors in diffusers' names).

    ``read(path)`` gives a file's state dict (meta tensors will do: only shapes are checked). Every key
    is checked against the architecture ``config`` (the base UNet config at ``config_path``) and the
    tensors' own shapes describe; the first problem raises one sentence naming the file and the key.
    """
    from diffusers import MotionAdapter, UNet2DConditionModel

    from .pose_guider import PoseGuider

    unet = _on_meta(lambda: UNet2DConditionModel.from_config(config), "the base UNet config", config_path)
    expected = _shapes(unet)
    path = checkpoints["denoising_unet.pth"]
    tensors = read(path)
    _match(tensors, expected, path, config_path)
    yield "unet", unet, tensors

    path = checkpoints["reference_unet.pth"]
    tensors = read(path)
    _match(tensors, OrderedDict((k, v) for k, v in expected.items() if k not in REFERENCE_HEAD), path, config_path)
    like = tensors["conv_in.weight"]
    for key in REFERENCE_HEAD:  # the head the released file leaves out: unused when writing banks
        tensors[key] = torch.zeros(expected[key], dtype=like.dtype, device=like.device)
    yield "reference_unet", unet, tensors

    path = checkpoints["motion_module.pth"]
    tensors = _motion_tensors(read(path), path)
    adapter_config = _adapter_config(tensors, config, family, path)
    adapter = _on_meta(lambda: MotionAdapter(**adapter_config), "the motion modules", path)
    _match(tensors, _shapes(adapter), path, None, renamed=True)
    yield "motion_adapter", adapter, tensors

    path = checkpoints["pose_guider.pth"]
    tensors = read(path)
    guider = _on_meta(lambda: PoseGuider(**_guider_config(tensors, path)), "the pose guider", path)
    _match(tensors, _shapes(guider), path, None)
    if guider.config.conditioning_embedding_channels != config["block_out_channels"][0]:
        raise UserError(
            f"{path} gives {guider.config.conditioning_embedding_channels} channels but the UNet's conv_in "
            f"gives {config['block_out_channels'][0]}; the pose guider and the UNet are not from one release"
        )
    yield "pose_guider", guider, tensors


def base_config(path: Path) -> dict[str, Any]:
    """The base UNet config, refused in one sentence unless it describes an SD1.5-architecture UNet."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path} is not readable JSON ({error})") from None
    if not isinstance(config, dict) or config.get("_class_name") != "UNet2DConditionModel":
        raise UserError(f"{path} is not a diffusers UNet2DConditionModel config")
    sd2 = (
        config.get("use_linear_projection")
        or isinstance(config.get("attention_head_dim"), list)
        or config.get("cross_attention_dim") == 1024
    )
    if sd2:
        raise UserError(
            f"{path} describes a Stable Diffusion 2-architecture UNet (linear projections, per-block heads, 1024-wide "
            "context); the AnimateAnyone family is SD1.5-architecture: use the base UNet config its download script fetches"
        )
    for key, value in _SD15_BLOCKS.items():
        if list(config.get(key) or []) != value or config.get("in_channels") != 4:
            raise UserError(
                f"{path} does not describe an SD1.5-architecture UNet ({key} {config.get(key)!r}); use the base UNet config its download script fetches"
            )
    return config


def _on_meta(build: Callable[[], Any], what: str, path: Path) -> Any:
    """Build a model on the meta device (shapes only, nothing allocated)."""
    try:
        with torch.device("meta"):
            return build()
    except (ValueError, TypeError, KeyError, RuntimeError) as error:
        raise UserError(f"{path}: {what} describe no model diffusers can build ({str(error).splitlines()[0]})") from None


def _shapes(model: torch.nn.Module) -> OrderedDict[str, tuple[int, ...]]:
    return OrderedDict((key, tuple(value.shape)) for key, value in model.state_dict().items())


def _read(path: Path, say: Say) -> OrderedDict[str, torch.Tensor]:
    """A state dict of tensors, loaded without running pickled code, memory-mapped when possible."""
    say(f"reading {path.name} ({path.stat().st_size / 2**20:.1f} MiB)")
    try:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as error:
            if "mmap" not in str(error):
                raise
            loaded = torch.load(path, map_location="cpu", weights_only=True)  # a legacy (non-zip) file
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError, ImportError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path} is not a PyTorch state dict that loads without running code ({reason})") from None
    if not isinstance(loaded, dict):
        raise UserError(f"{path} holds a {type(loaded).__name__}, not a state dict (a map of names to tensors)")
    for key, value in loaded.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise UserError(f"{path} is not a state dict: its entry {key!r} is a {type(value).__name__}, not a tensor")
    return OrderedDict(loaded)


def _match(
    tensors: OrderedDict[str, torch.Tensor],
    expected: OrderedDict[str, tuple[int, ...]],
    path: Path,
    config: Path | None,
    renamed: bool = False,
) -> None:
    """Every expected key present with its shape, and nothing else (one sentence naming the first problem)."""
    architecture = f"the UNet of {config}" if config else "the architecture its own shapes describe"
    named = " (in diffusers' names)" if renamed else ""
    for key, shape in expected.items():
        if key not in tensors:
            raise UserError(f"{path} lacks {key}{named}, which {architecture} needs ({len(set(expected) - set(tensors))} missing in all)")
        if tuple(tensors[key].shape) != shape:
            found = list(tensors[key].shape)
            raise UserError(f"{path}: {key}{named} has shape {found}, but {architecture} needs {list(shape)}")
    extra = [key for key in tensors if key not in expected]
    if extra:
        raise UserError(f"{path} has {extra[0]}{named}, which {architecture} does not have ({len(extra)} unexpected in all)")


def _motion_tensors(tensors: OrderedDict[str, torch.Tensor], path: Path) -> OrderedDict[str, torch.Tensor]:
    """AnimateDiff v2 names -> MotionAdapter names; the two position tables of a block must be identical."""
    mapped: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in tensors.items():
        new = motion_key(key)
        if new in mapped:
            same = mapped[new].shape == value.shape and (value.is_meta or torch.equal(mapped[new], value))
            if not (new.endswith("pos_embed.pe") and same):
                raise UserError(f"{path}: {key} differs from its block's other position table; diffusers keeps one per block")
            continue
        mapped[new] = value
    return mapped


def _adapter_config(mapped: OrderedDict[str, torch.Tensor], unet: dict[str, Any], family: ReleasedFamily, path: Path) -> dict[str, Any]:
    """MotionAdapter settings from the tensors themselves: modules per block, layers, position length."""

    def count(prefix: str) -> int:
        return len({key[len(prefix) :].split(".", 1)[0] for key in mapped if key.startswith(prefix)})

    tables = [value for key, value in mapped.items() if key.endswith("pos_embed.pe")]
    if not tables or tables[0].ndim != 3:
        raise UserError(f"{path} has no temporal position tables (pos_encoder.pe); it is not an AnimateDiff v2 motion module file")
    return {
        "block_out_channels": tuple(unet["block_out_channels"]),
        "motion_layers_per_block": count("down_blocks.0.motion_modules."),
        "motion_transformer_layers_per_block": count("down_blocks.0.motion_modules.0.transformer_blocks."),
        "motion_num_attention_heads": family.motion_heads,
        "motion_norm_num_groups": family.motion_norm_groups,
        "motion_max_seq_length": int(tables[0].shape[1]),
        "use_motion_mid_block": any(key.startswith("mid_block.") for key in mapped),
    }


def _guider_config(tensors: OrderedDict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """PoseGuider settings from its convolutions' shapes: input, stage widths, output width."""

    def shape(key: str) -> tuple[int, ...]:
        if key not in tensors or tensors[key].ndim != 4:
            raise UserError(f"{path} lacks the convolution {key}; it is not a pose guider state dict")
        return tuple(tensors[key].shape)

    stages = len({key.split(".")[1] for key in tensors if key.startswith("blocks.")}) // 2
    return {
        "conditioning_channels": shape("conv_in.weight")[1],
        "block_out_channels": (shape("conv_in.weight")[0], *(shape(f"blocks.{2 * i + 1}.weight")[0] for i in range(stages))),
        "conditioning_embedding_channels": shape("conv_out.weight")[0],
    }


def _save(model: Any, tensors: OrderedDict[str, torch.Tensor], folder: Path, dtype: torch.dtype | None, say: Say) -> None:
    """``model``'s config and ``tensors`` as a diffusers component folder (safetensors)."""
    from safetensors.torch import save_file

    say(f"writing {folder.name}")
    folder.mkdir(parents=True)
    model.save_config(folder)
    if dtype is not None:
        tensors = OrderedDict((k, v.to(dtype) if v.is_floating_point() else v) for k, v in tensors.items())
    save_file(
        {key: value.contiguous() for key, value in tensors.items()},
        folder / "diffusion_pytorch_model.safetensors",
        metadata={"format": "pt"},
    )


def _library_component(name: str, source: Path, folder: Path, dtype: torch.dtype | None, say: Say) -> int:
    """Load a standard VAE or CLIP image-encoder folder with its library, refuse missing or unexpected
    weights, save it as safetensors; returns the image encoder's input size (0 for the VAE)."""
    say(f"writing {folder.name} (from {source})")
    options: dict[str, Any] = {"torch_dtype": dtype} if dtype is not None else {}
    safetensors = any(source.glob("*.safetensors"))  # else the pickled weights the downloads hold
    try:
        with _quiet_libraries():
            if name == "vae":
                from diffusers import AutoencoderKL

                model, info = AutoencoderKL.from_pretrained(
                    source, local_files_only=True, output_loading_info=True, low_cpu_mem_usage=False, use_safetensors=safetensors, **options
                )
            else:
                from transformers import CLIPVisionModelWithProjection

                model, info = CLIPVisionModelWithProjection.from_pretrained(
                    source,
                    local_files_only=True,
                    output_loading_info=True,
                    use_safetensors=safetensors,
                    **({"dtype": dtype} if dtype is not None else {}),
                )
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"could not load the {name} from {source}: {reason}") from None
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        problems = [key for key in info.get(kind, []) if not str(key).endswith("position_ids")]
        if problems:
            raise UserError(
                f"the {name} in {source} has {kind.replace('_', ' ')} ({problems[0]}, {len(problems)} in all); it is not a standard {type(model).__name__}"
            )
    with _quiet_libraries():
        model.save_pretrained(folder, safe_serialization=True)
    return int(getattr(model.config, "image_size", 0))


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Loading infos are checked here; the libraries' own warnings and progress bars would only repeat them."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    levels = diffusers_logging.get_verbosity(), transformers_logging.get_verbosity()
    for library in (diffusers_logging, transformers_logging):
        library.set_verbosity_error()
        library.disable_progress_bar()
    try:
        yield
    finally:
        for library, level in zip((diffusers_logging, transformers_logging), levels):
            library.set_verbosity(level)
            library.enable_progress_bar()


def _sync_tree(root: Path) -> None:
    """Flush every written file, so the rename publishes complete weights even after a power cut."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
