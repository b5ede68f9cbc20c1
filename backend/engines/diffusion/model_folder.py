"""The models folder: diffusers-format component folders named by a ``models.json`` manifest.

Users bring weights they can get (``tpc-backend models pull``), convert the released AnimateAnyone-family
files (``models convert``), or point a component at any diffusers folder on disk; tests write tiny
random ones (``models tiny``). All go through this one manifest and one loader, so what the tests load
is what users load.

``models.json``::

    {"format": "tpc-animate-models", "version": 2, "profile": "reference-poseguider", "resolution": 768,
     "components": {"unet": "unet", "reference_unet": "reference_unet", "pose_guider": "pose_guider", ...},
     "inference": {"steps": 30, "guidance": 3.5, "context_frames": 24, "context_overlap": 4}}

``profile`` says which components the folder holds and how they fit (:mod:`.profiles`); version 1
manifests, written before profiles existed, are ``controlnet`` folders. ``inference`` holds the
settings the checkpoint was trained with; what it leaves out takes the profile's defaults.
Component paths are relative to the folder (or absolute). ``reference_unet`` may name the same folder
as ``unet``: the reference UNet then shares the denoising UNet's spatial weights, as AnimateAnyone
initialises it, and the weights are read once.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tpc_protocol.errors import ErrorCode

from ...errors import UserError
from .profiles import CONTROLNET, PROFILES, Inference, Profile, profile_named

MANIFEST = "models.json"
FORMAT = "tpc-animate-models"
VERSION = 2
_READABLE_VERSIONS = (1, 2)  # 1: before profiles; always a controlnet folder
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
    "pose_guider": "PoseGuider",
}
_TRANSFORMERS_TYPE = {"image_encoder": ("clip_vision_model", "clip")}


def default_layout(profile: str = CONTROLNET) -> dict[str, str]:
    """Each component in the folder of its own name; a controlnet folder's reference UNet shares the UNet."""
    layout = {name: name for name in PROFILES[profile].components}
    return layout | {"reference_unet": "unet"} if profile == CONTROLNET else layout


@dataclass(frozen=True)
class ModelFolder:
    """A checked models folder: its profile, where each component is, and how it was trained to run."""

    root: Path
    components: dict[str, Path]
    resolution: int  # long side, in pixels, of the frames the model generates
    profile: Profile = PROFILES[CONTROLNET]
    inference: Inference = PROFILES[CONTROLNET].defaults

    @classmethod
    def read(cls, directory: str | os.PathLike) -> ModelFolder:
        """Read and check ``directory/models.json``; every problem is one :class:`UserError` sentence."""
        root = Path(directory).expanduser()
        hint = (
            f"create one with `tpc-backend models convert` (released AnimateAnyone/MusePose files), "
            f"`tpc-backend models pull {root}` (needs internet) or `tpc-backend models tiny {root}` (test weights)"
        )
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            raise UserError(f"{root} is not a models folder (no {MANIFEST}); {hint}", ErrorCode.NOT_FOUND)
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise UserError(f"{manifest_path} is not readable JSON ({error}); {hint}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise UserError(f"{manifest_path} is not a TPC Animate models manifest (format must be {FORMAT!r}); {hint}")
        version = manifest.get("version")
        if version not in _READABLE_VERSIONS:
            raise UserError(
                f"{manifest_path} has version {version!r}; this TPC Animate reads versions {_READABLE_VERSIONS[0]} to {VERSION}"
            )
        profile = profile_named(manifest.get("profile", CONTROLNET) if version >= 2 else CONTROLNET, str(manifest_path))
        resolution = manifest.get("resolution")
        if isinstance(resolution, bool) or not isinstance(resolution, int) or not 64 <= resolution <= 4096:
            raise UserError(f"{manifest_path}: resolution must be a whole number of pixels from 64 to 4096, got {resolution!r}")
        inference = Inference.read(manifest.get("inference"), profile.defaults, str(manifest_path))
        named = manifest.get("components")
        if not isinstance(named, dict):
            raise UserError(f"{manifest_path}: components must map each of {', '.join(profile.components)} to a folder")
        components = {}
        for name, what in profile.components.items():
            entry = named.get(name)
            if not isinstance(entry, str) or not entry:
                raise UserError(f"{manifest_path}: components.{name} ({what}) must name a folder ({profile.name} profile)")
            path = (root / entry).resolve()
            config = path / _CONFIG_FILE.get(name, "config.json")
            if not config.is_file():
                raise UserError(
                    f"the {name} folder {path} has no {config.name}; it must be a diffusers-format {what}; {hint}",
                    ErrorCode.NOT_FOUND,
                )
            _check_kind(name, what, config)
            components[name] = path
        return cls(root=root, components=components, resolution=resolution, profile=profile, inference=inference)


def _check_kind(name: str, what: str, config_path: Path) -> None:
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
        raise UserError(f"the {name} folder {config_path.parent} holds {found!r}, not {expected!r} ({what}); fix models.json")


def write_manifest(
    directory: str | os.PathLike,
    resolution: int,
    layout: dict[str, str] | None = None,
    sources: dict | None = None,
    profile: str = CONTROLNET,
    inference: Inference | None = None,
    notes: dict[str, Any] | None = None,
) -> Path:
    """Write ``models.json`` for component folders already in ``directory``."""
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "profile": profile,
        "resolution": int(resolution),
        "components": dict(layout or default_layout(profile)),
    }
    if inference is not None:
        document["inference"] = asdict(inference)
    for name, value in (("sources", sources), ("notes", notes)):
        if value:
            document[name] = value
    path = Path(directory) / MANIFEST
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
