"""The ``preview`` engine: what the diffusion model will be conditioned on, in seconds, on any machine.

Each frame is the target pose drawn as DWPose draws it, hands and face included (the picture
pose-guided models read), with the calibrated reference person laid over it. With TPC off, the
uncalibrated reference person is laid over instead, so the misalignment TPC removes is plain to see.
No weights, no randomness: a frame depends only on its own inputs, so any frame can be rendered
first, and a resumed job gives the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import cv2
import numpy as np

from tpc.drawing import render_openpose

from ..progress import ProgressCallback
from .base import Cancelled, Engine, FrameSink, PreparedJob

PERSON_OPACITY = 0.7  # the skeleton shows through the person at 30 %


class PreviewEngine(Engine):
    name = "preview"

    def render(self, job: PreparedJob, start: int, emit: FrameSink, cancelled: Cancelled, progress: ProgressCallback) -> None:
        total = len(job)
        plain = None if job.settings.tpc else _letterboxed_reference(job)
        for index in range(start, total):
            if cancelled():
                return
            if plain is None:
                calibration = job.calibration(index)
                person, mask = calibration.image, calibration.mask
            else:
                person, mask = plain
            pose = render_openpose(job.poses.frames[index], job.poses.size, job.poses.hands_face_of(index))
            frame = _composite(pose, person, mask)
            if job.size != job.poses.size:
                frame = cv2.resize(frame, job.size, interpolation=cv2.INTER_AREA)
            emit(index, frame)
            progress((index + 1) / total, f"frame {index + 1} of {total}")


def _composite(skeleton: np.ndarray, person: np.ndarray, mask: np.ndarray) -> np.ndarray:
    blended = cv2.addWeighted(person, PERSON_OPACITY, skeleton, 1.0 - PERSON_OPACITY, 0.0)
    return cv2.copyTo(blended, mask, skeleton.copy())


def _letterboxed_reference(job: PreparedJob) -> tuple[np.ndarray, np.ndarray]:
    """The reference people (background removed) scaled to fit the canvas, centred: no calibration."""
    image = job.reference_image
    mask = np.zeros(image.shape[:2], bool)
    for _, person_mask in job.reference_people:
        mask |= np.asarray(person_mask, bool)
    width, height = job.poses.size
    zoom = min(width / image.shape[1], height / image.shape[0])
    size = (max(1, round(image.shape[1] * zoom)), max(1, round(image.shape[0] * zoom)))
    cutout = cv2.resize(np.where(mask[..., None], image, 0).astype(np.uint8), size, interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask.astype(np.uint8) * 255, size, interpolation=cv2.INTER_NEAREST)
    person = np.zeros((height, width, 3), np.uint8)
    person_mask = np.zeros((height, width), np.uint8)
    x, y = (width - size[0]) // 2, (height - size[1]) // 2
    person[y : y + size[1], x : x + size[0]] = cutout
    person_mask[y : y + size[1], x : x + size[0]] = small_mask
    return person, person_mask
