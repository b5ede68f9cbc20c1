"""Model profiles: which components a models folder holds and how they fit together.

A profile is an architecture, not a checkpoint. The two we run differ in how the pose reaches the
denoising UNet and in what the CLIP image encoder is shown:

- ``controlnet``: public parts assembled for reference animation (an image-variations UNet, ControlNet
  OpenPose residuals, an AnimateDiff adapter); ``models pull`` and ``models tiny`` write it.
- ``reference-poseguider``: the AnimateAnyone family as released (Moore-AnimateAnyone, MusePose): a
  small pose guider whose features are added to the UNet's ``conv_in`` output, a separately trained
  reference UNet, and the reference photo squashed to the encoder's square input; ``models convert``
  writes it from the files the projects publish.

In both, the motion modules normalise each frame separately, as AnimateDiff's code that trained them
does (diffusers' ``AnimateDiffTransformer3D`` normalises across frames; see ``temporal_norm.py``).

What differs between checkpoints of one profile -- steps, guidance, context window, the pose drawing
they were trained on -- is the folder's ``inference`` section (:class:`Inference`); the profile gives
the defaults for what a folder leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from ...errors import UserError

CONTROLNET = "controlnet"
REFERENCE_POSEGUIDER = "reference-poseguider"

# component -> what it is, for messages
_SHARED = {
    "unet": "SD1.5-architecture UNet2DConditionModel conditioned on CLIP image embeddings",
    "reference_unet": "reference UNet2DConditionModel (write mode)",
    "vae": "AutoencoderKL",
    "image_encoder": "CLIPVisionModelWithProjection",
    "feature_extractor": "CLIPImageProcessor",
    "motion_adapter": "AnimateDiff MotionAdapter",
    "scheduler": "diffusers scheduler config",
}


@dataclass(frozen=True)
class Inference:
    """How a checkpoint was trained to run; a job's own steps and guidance take precedence."""

    steps: int
    guidance: float
    context_frames: int  # frames the motion module sees at once
    context_overlap: int  # frames neighbouring windows share
    draw_face: bool = True  # pose pictures with the 68 face points, as the model was trained on them

    @classmethod
    def read(cls, document: Any, defaults: Inference, where: str) -> Inference:
        """``defaults`` with the entries of a manifest's ``inference`` map, each checked (one sentence)."""
        if document is None:
            return defaults
        if not isinstance(document, dict):
            raise UserError(f"{where}: inference must be a map of {', '.join(f.name for f in fields(cls))}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(document) - known)
        if unknown:
            raise UserError(f"{where}: inference has an unknown entry {unknown[0]!r} (known: {', '.join(sorted(known))})")
        chosen = replace(defaults, **document)
        checks = {  # in order: the overlap is checked against a valid window length
            "steps": lambda: _whole(chosen.steps, 1, 1000),
            "guidance": lambda: _number(chosen.guidance, 0.0, 30.0),
            "context_frames": lambda: _whole(chosen.context_frames, 1, 1024),
            "context_overlap": lambda: _whole(chosen.context_overlap, 0, chosen.context_frames - 1),
            "draw_face": lambda: isinstance(chosen.draw_face, bool),
        }
        for name, good in checks.items():
            if not good():
                raise UserError(f"{where}: inference.{name} cannot be {getattr(chosen, name)!r} ({_RANGES[name]})")
        return chosen


_RANGES = {
    "steps": "a whole number from 1 to 1000",
    "guidance": "a number from 0 to 30",
    "context_frames": "a whole number from 1 to 1024",
    "context_overlap": "a whole number from 0 to context_frames - 1",
    "draw_face": "true or false",
}


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _number(value: Any, low: float, high: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high


@dataclass(frozen=True)
class Profile:
    """An architecture: its components, how the pose enters the UNet, and what CLIP is shown."""

    name: str
    components: dict[str, str]  # component -> what it is
    pose_input: str  # "controlnet": residuals into the UNet; "pose_guider": features added after conv_in
    # "processor": the feature extractor's own resize and centre crop; "squashed": the whole photo
    # resized to the encoder's square input first (AnimateAnyone's reference.resize((224, 224))).
    clip_input: str
    defaults: Inference


PROFILES: dict[str, Profile] = {
    CONTROLNET: Profile(
        name=CONTROLNET,
        components={**_SHARED, "controlnet": "OpenPose ControlNetModel"},
        pose_input="controlnet",
        clip_input="processor",
        defaults=Inference(steps=25, guidance=3.5, context_frames=16, context_overlap=4),
    ),
    REFERENCE_POSEGUIDER: Profile(
        name=REFERENCE_POSEGUIDER,
        components={**_SHARED, "pose_guider": "AnimateAnyone pose guider (features added after conv_in)"},
        pose_input="pose_guider",
        clip_input="squashed",
        defaults=Inference(steps=30, guidance=3.5, context_frames=24, context_overlap=4),
    ),
}


def profile_named(name: Any, where: str) -> Profile:
    """The profile a manifest names (one sentence when it names none we know)."""
    if name not in PROFILES:
        raise UserError(f"{where}: profile must be one of {', '.join(PROFILES)}, got {name!r}")
    return PROFILES[name]
