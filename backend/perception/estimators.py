"""The two small interfaces every perception model implements, and the registry that picks them by name.

A *pose estimator* finds people and their COCO-17 keypoints in an image (and, when it can and is
asked to, their hands and face); a *mask estimator* cuts out the people it is given. Keeping the
two apart lets a user pair any keypoint model with any segmenter (MediaPipe with SAM, MMPose with
MediaPipe...), and keeps everything around them (views, retries, several people, videos)
model-agnostic. Optional models are imported only when asked for, so a missing package costs
nothing until someone names it, and then it costs one sentence.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from tpc.wholebody import HandsFace
from tpc_protocol.errors import ErrorCode

from ..errors import UserError


@dataclass
class Detection:
    """One person as a model sees them, in the pixels of the image it was given.

    ``mask`` is the model's own soft person mask (0..1, image size) when it makes one (MediaPipe's
    pose model does); mask estimators may use it as a hint. ``hands_face`` is None from a model
    that does not look for hands and face (or was not asked to).
    """

    keypoints: np.ndarray  # (17, 3): x, y, confidence
    mask: np.ndarray | None = None
    hands_face: HandsFace | None = None


class PoseEstimator(Protocol):
    """Finds people: ``detect(image_rgb)`` returns zero or more detections, most prominent first."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]: ...


class MaskEstimator(Protocol):
    """Cuts people out: one soft (0..1) or boolean mask of the image's size per given person."""

    name: str

    def segment(self, image: np.ndarray, people: Sequence[Detection]) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class EstimatorSettings:
    """Everything the optional models need from the user: local files and a device.

    ``sam_model_type`` (vit_b, vit_l, vit_h) is optional: the architecture is read from the
    checkpoint, and a stated type is checked against it. ``device`` defaults to CUDA when present.
    ``whole_body`` asks the pose estimator for hands and face too (MediaPipe only; others ignore it).
    """

    sam_checkpoint: str | None = None
    sam_model_type: str | None = None
    mmpose_config: str | None = None
    mmpose_checkpoint: str | None = None
    mmpose_detector_config: str | None = None
    mmpose_detector_checkpoint: str | None = None
    device: str | None = None
    whole_body: bool = False


def torch_device(requested: str | None) -> str:
    """The torch device to run on: the requested one, else CUDA when present, else the CPU."""
    import torch

    if requested:
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise UserError(f"device {requested!r} was requested but CUDA is not available here; use --device cpu")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def _mediapipe_pose(settings: EstimatorSettings) -> PoseEstimator:
    from .mediapipe_estimators import MediaPipePose

    return MediaPipePose(whole_body=settings.whole_body)


def _mmpose_pose(settings: EstimatorSettings) -> PoseEstimator:
    from .mmpose_estimator import MMPosePose

    return MMPosePose(settings)


def _mediapipe_mask(settings: EstimatorSettings) -> MaskEstimator:
    from .mediapipe_estimators import MediaPipeMask

    return MediaPipeMask()


def _sam_mask(settings: EstimatorSettings) -> MaskEstimator:
    from .sam_estimator import SamMask

    return SamMask(settings)


# name -> (factory, the settings it reads); estimators are shared per name and those settings.
_MMPOSE_FIELDS = ("mmpose_config", "mmpose_checkpoint", "mmpose_detector_config", "mmpose_detector_checkpoint", "device")
POSE_ESTIMATORS: dict[str, tuple[Callable[[EstimatorSettings], PoseEstimator], tuple[str, ...]]] = {
    "mediapipe": (_mediapipe_pose, ("whole_body",)),
    "mmpose": (_mmpose_pose, _MMPOSE_FIELDS),
}
MASK_ESTIMATORS: dict[str, tuple[Callable[[EstimatorSettings], MaskEstimator], tuple[str, ...]]] = {
    "mediapipe": (_mediapipe_mask, ()),
    "sam": (_sam_mask, ("sam_checkpoint", "sam_model_type", "device")),
}


@dataclass
class _Cache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    made: dict = field(default_factory=dict)


_CACHE = _Cache()


def _shared(kind: str, table: dict, name: str, settings: EstimatorSettings):
    if name not in table:
        raise UserError(f"unknown {kind} estimator {name!r}; choose {' or '.join(table)}", ErrorCode.UNKNOWN_ESTIMATOR)
    factory, fields = table[name]
    key = (kind, name) + tuple(getattr(settings, f) for f in fields)
    with _CACHE.lock:
        if key not in _CACHE.made:
            _CACHE.made[key] = factory(settings)
        return _CACHE.made[key]


def pose_estimator(name: str, settings: EstimatorSettings | None = None) -> PoseEstimator:
    """The pose estimator called ``name``, made once per settings and shared (models load slowly).

    Shared estimators serialise their own calls, so threads may use them at the same time.
    Raises :class:`UserError` for an unknown name, a missing package or a missing file.
    """
    return _shared("pose", POSE_ESTIMATORS, name, settings or EstimatorSettings())


def mask_estimator(name: str, settings: EstimatorSettings | None = None) -> MaskEstimator:
    """The mask estimator called ``name``; see :func:`pose_estimator`."""
    return _shared("mask", MASK_ESTIMATORS, name, settings or EstimatorSettings())
