"""The models folder: diffusers-format component folders named by a ``models.json`` manifest.

Users bring weights they can get (``tpc-backend models pull``), convert their own, or point a
component at any diffusers folder on disk; tests write tiny random ones (``models tiny``). All go
through this one manifest and one loader, so what the tests load is what users load.

``models.json``::

    {"format": "tpc-animate-models", "version": 1, "resolution": 512,
     "components": {"unet": "unet", "reference_unet": "unet", "vae": "vae", ...}}

Component paths are relative to the folder (or absolute). ``reference_unet`` may name the same folder
as ``unet``: the reference UNet then shares the denoising UNet's spatial weights, as AnimateAnyone
initialises it, and the weights are read once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ...errors import UserError

MANIFEST = "models.json"
FORMAT = "tpc-animate-models"
VERSION = 1
# component -> what it is, for messages
COMPONENTS: dict[str, str] = {
    "unet": "SD1.5-architecture UNet2DConditionModel conditioned on CLIP image embeddings",
    "reference_unet": "reference UNet2DConditionModel (write mode)",
    "vae": "AutoencoderKL",
    "image_encoder": "CLIPVisionModelWithProjection",
    "feature_extractor": "CLIPImageProcessor",
    "controlnet": "OpenPose ControlNetModel",
    "motion_adapter": "AnimateDiff MotionAdapter",
    "scheduler": "diffusers scheduler config",
}
DEFAULT_LAYOUT: dict[str, str] = {name: name for name in COMPONENTS} | {"reference_unet": "unet"}
# The file whose presence says a component folder is complete.
_CONFIG_FILE = {"feature_extractor": "preprocessor_config.json", "scheduler": "scheduler_config.json"}
# What the config must say it is: diffusers would otherwise load any folder into any class, with random
# weights where names differ.
_DIFFUSERS_CLASS = {
    "unet": "UNet2DConditionModel",
    "reference_unet": "UNet2DConditionModel",
    "vae": "AutoencoderKL",
    "controlnet": "ControlNetModel",
    "motion_adapter": "MotionAdapter",
}
_TRANSFORMERS_TYPE = {"image_encoder": ("clip_vision_model", "clip")}


@dataclass(frozen=True)
class ModelFolder:
    """A checked models folder: where each component is, and the resolution the model works at."""

    root: Path
    components: dict[str, Path]
    resolution: int  # long side, in pixels, of the frames the model generates

    @classmethod
    def read(cls, directory: str | os.PathLike) -> "ModelFolder":
        """Read and check ``directory/models.json``; every problem is one :class:`UserError` sentence."""
        root = Path(directory).expanduser()
        hint = f"create one with `tpc-backend models pull {root}` (needs internet) or `tpc-backend models tiny {root}` (test weights)"
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            raise UserError(f"{root} is not a models folder (no {MANIFEST}); {hint}", "not_found")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise UserError(f"{manifest_path} is not readable JSON ({error}); {hint}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise UserError(f"{manifest_path} is not a TPC Animate models manifest (format must be {FORMAT!r}); {hint}")
        if manifest.get("version") != VERSION:
            raise UserError(f"{manifest_path} has version {manifest.get('version')!r}; this TPC Animate reads version {VERSION}")
        resolution = manifest.get("resolution")
        if isinstance(resolution, bool) or not isinstance(resolution, int) or not 64 <= resolution <= 4096:
            raise UserError(f"{manifest_path}: resolution must be a whole number of pixels from 64 to 4096, got {resolution!r}")
        named = manifest.get("components")
        if not isinstance(named, dict):
            raise UserError(f"{manifest_path}: components must map each of {', '.join(COMPONENTS)} to a folder")
        components = {}
        for name, what in COMPONENTS.items():
            entry = named.get(name)
            if not isinstance(entry, str) or not entry:
                raise UserError(f"{manifest_path}: components.{name} ({what}) must name a folder")
            path = (root / entry).resolve()
            config = path / _CONFIG_FILE.get(name, "config.json")
            if not config.is_file():
                raise UserError(
                    f"the {name} folder {path} has no {config.name}; it must be a diffusers-format {what}; {hint}", "not_found"
                )
            _check_kind(name, config)
            components[name] = path
        return cls(root=root, components=components, resolution=resolution)


def _check_kind(name: str, config_path: Path) -> None:
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{config_path} is not readable JSON ({error})") from None
    if not isinstance(config, dict):
        raise UserError(f"{config_path} is not a model config (a JSON object)")
    if name in _DIFFUSERS_CLASS:
        expected, found = _DIFFUSERS_CLASS[name], config.get("_class_name")
    elif name in _TRANSFORMERS_TYPE:
        expected, found = _TRANSFORMERS_TYPE[name][0], config.get("model_type")
        found = expected if found in _TRANSFORMERS_TYPE[name] else found
    else:
        return
    if found != expected:
        raise UserError(
            f"the {name} folder {config_path.parent} holds {found!r}, not {expected!r} ({COMPONENTS[name]}); fix models.json"
        )


def write_manifest(
    directory: str | os.PathLike, resolution: int, layout: dict[str, str] | None = None, sources: dict | None = None
) -> Path:
    """Write ``models.json`` for component folders already in ``directory``."""
    document = {"format": FORMAT, "version": VERSION, "resolution": int(resolution), "components": dict(layout or DEFAULT_LAYOUT)}
    if sources:
        document["sources"] = sources
    path = Path(directory) / MANIFEST
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
