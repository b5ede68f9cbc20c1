"""The pictures the model is conditioned on, at the size it works at.

SD1.5-family models generate well near their training resolution, and their UNet needs sides that are
multiples of 64 pixels (three 2x downsamplings of an 8x-downsampled latent). So a job is rendered at a
*working size* -- the job's aspect ratio, long side at the model's resolution, sides rounded to 64 --
and the frames are resized to the job's size at the end. Pose pictures are drawn directly at the
working size, DWPose-style (crisp lines of the right width, OpenPose's limb colours, hands and face
as the models were trained), and the calibrated images, which live on the poses' canvas, are resized
to it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from tpc.drawing import render_openpose
from tpc.wholebody import HandsFace

SIDE_MULTIPLE = 64


def working_size(size: tuple[int, int], resolution: int) -> tuple[int, int]:
    """(W, H) with ``size``'s aspect ratio, long side near ``resolution``, both multiples of 64."""
    width, height = size
    scale = resolution / max(width, height)

    def side(length: int) -> int:
        return max(SIDE_MULTIPLE, int(length * scale / SIDE_MULTIPLE + 0.5) * SIDE_MULTIPLE)

    return side(width), side(height)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an image to ``size`` = (W, H): area averaging when shrinking, bicubic when enlarging."""
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
    return cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Fit ``image`` into ``size`` keeping its proportions (the person's shape is what we calibrate);
    the borders repeat the image's edge rather than adding black bars the model would copy."""
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    fitted = resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))))
    left, top = (width - fitted.shape[1]) // 2, (height - fitted.shape[0]) // 2
    return cv2.copyMakeBorder(fitted, top, height - fitted.shape[0] - top, left, width - fitted.shape[1] - left, cv2.BORDER_REPLICATE)


def pose_image(
    people: Sequence[np.ndarray],
    canvas: tuple[int, int],
    size: tuple[int, int],
    hands_face: Sequence[HandsFace] | None = None,
    *,
    face: bool = True,
) -> np.ndarray:
    """DWPose-style pictures of ``people`` (COCO-17 on ``canvas``, with their hands and faces when
    given) drawn at ``size``; ``face=False`` for models trained without faces (MusePose)."""
    sx, sy = size[0] / canvas[0], size[1] / canvas[1]
    scale = np.array([sx, sy, 1.0])
    parts = None if hands_face is None else [extra.scaled(sx, sy) for extra in hands_face]
    return render_openpose([np.asarray(person, dtype=np.float64) * scale for person in people], size, parts, face=face)
