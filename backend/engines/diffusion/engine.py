"""The ``diffusion`` engine: pose-guided video diffusion with TPC, from a local models folder.

The models are loaded when the engine is built (the backend builds each engine once) and stay on the
device for every later job: loading SD1.5-size weights takes longer than a short job, and a broken
models folder should fail at start, not at the first job. Renders are serialised: one GPU, one job
at a time, and the attention reader's per-call state is not shared between threads.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from tpc import __version__

from ...errors import UserError
from ...progress import ProgressCallback
from ..base import Cancelled, Engine, FrameSink, PreparedJob
from .checkpoints import DenoisingCheckpoints
from .components import load_components
from .conditioning import letterbox, pose_image, resize, working_size
from .model_folder import MANIFEST, ModelFolder
from .pipeline import AnimationInputs, AnimationPipeline

MAX_STEPS = 1000


class DiffusionEngine(Engine):
    """SD1.5 UNet + reference UNet + pose conditioning + AnimateDiff motion modules, with TPC.

    The models folder's profile says how the pose enters (ControlNet OpenPose, or the AnimateAnyone
    family's pose guider); its ``inference`` settings give the steps, guidance and context window the
    models were trained with, used when a job leaves steps or guidance out.
    """

    name = "diffusion"

    def __init__(
        self, models: str | os.PathLike | ModelFolder, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> None:
        self.folder = models if isinstance(models, ModelFolder) else ModelFolder.read(models)
        self.pipeline = AnimationPipeline(load_components(self.folder, device, dtype))
        self._lock = threading.Lock()
        self._models_identity = _models_identity(self.folder, self.pipeline)

    def render(self, job: PreparedJob, start: int, emit: FrameSink, cancelled: Cancelled, progress: ProgressCallback) -> None:
        settings = job.settings
        trained = self.folder.inference
        steps = trained.steps if settings.steps is None else settings.steps
        guidance = trained.guidance if settings.guidance is None else settings.guidance
        if not 1 <= steps <= MAX_STEPS:
            raise UserError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
        if not 0.0 <= guidance <= 30.0:
            raise UserError(f"guidance must be between 0 and 30, got {guidance}")
        with self._lock:
            pipeline = self.pipeline
            size = working_size(job.size, pipeline.components.resolution)
            inputs = AnimationInputs(
                reference=letterbox(job.reference_image, size),
                reference_photo=job.reference_image,
                poses=[
                    pose_image(people, job.poses.size, size, job.poses.hands_face_of(index), face=trained.draw_face)
                    for index, people in enumerate(job.poses.frames)
                ],
                calibrated=_CalibratedImages(job, size) if settings.tpc else None,
                calibrated_masks=_CalibratedMasks(job) if settings.tpc and settings.person_tokens else None,
                seed=settings.seed,
                steps=steps,
                guidance=guidance,
                groups=settings.groups,
                person_tokens=settings.person_tokens,
            )
            checkpoints = None
            if job.scratch is not None:
                checkpoints = DenoisingCheckpoints(job.scratch, self._fingerprint(job, size))
            pipeline(inputs, start, lambda index, frame: emit(index, resize(frame, job.size)), cancelled, progress, checkpoints)

    def _fingerprint(self, job: PreparedJob, size: tuple[int, int]) -> dict[str, Any]:
        """What a job's saved denoising steps depend on: the models loaded and this job's settings and shape."""
        return {**self._models_identity, "settings": asdict(job.settings), "frames": len(job), "size": list(size)}


def _models_identity(folder: ModelFolder, pipeline: AnimationPipeline) -> dict[str, Any]:
    """The loaded models, device, precision, windows and scheduler, so that steps saved before a restart
    with other models (or weights replaced in place: other sizes or times) are not reused."""
    files = hashlib.sha256((folder.root / MANIFEST).read_bytes())
    for name, path in sorted(folder.components.items()):
        for file in sorted(path.rglob("*")):
            if file.is_file():
                stat = file.stat()
                files.update(f"{name}/{file.relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return {
        "tpc": __version__,
        "models": str(folder.root.resolve()),
        "files": files.hexdigest(),
        "device": pipeline.device.type,
        "dtype": str(pipeline.dtype),
        "windows": [pipeline.context_frames, pipeline.context_overlap, pipeline.chunk],
        "scheduler": pipeline.components.scheduler_config,
    }


class _CalibratedImages(Sequence):
    """Calibrated image of each frame at the working size, computed when the bank pass asks for it."""

    def __init__(self, job: PreparedJob, size: tuple[int, int]) -> None:
        self.job, self.size = job, size

    def __len__(self) -> int:
        return len(self.job)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        return resize(self.job.calibration(index).image, self.size)


class _CalibratedMasks(Sequence):
    """Calibrated person mask of each frame, on the poses' canvas (the pipeline reduces it to its grid).

    The pipeline asks for a frame's mask right after its image, so the job's one-frame cache serves
    both from one calibration.
    """

    def __init__(self, job: PreparedJob) -> None:
        self.job = job

    def __len__(self) -> int:
        return len(self.job)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        return self.job.calibration(index).mask
