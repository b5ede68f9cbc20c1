"""A driving video made from a real photo, with the keypoints every frame should give.

No video of a person ships with our packages, so one is made: the packaged photo of a person
(tests/support/photos.py) moves, turns and scales over a plain background, frame by frame, and is encoded
with PyAV like any phone video. The photo's keypoints moved the same way are what pose extraction
should find. Tests and benchmarks/video_pose_speed.py share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from tpc.procrustes import Similarity

from .photos import load_photo


@dataclass
class DrivingVideo:
    """Frames (RGB), the photo's keypoints mapped into every frame, and the per-frame transforms."""

    frames: list[np.ndarray]
    keypoints: list[np.ndarray]
    motions: list[Similarity]
    fps: float


def make_driving_video(
    photo: str = "astronaut",
    frames: int = 24,
    size: tuple[int, int] = (512, 512),
    fps: float = 24.0,
    *,
    still: bool = False,
    noise: float = 0.0,
    seed: int = 0,
) -> DrivingVideo:
    """The person of ``photo`` drifting, turning (up to 20 degrees) and scaling (0.7-1.0x) over time.

    ``still`` keeps them in place (for measuring jitter); ``noise`` adds Gaussian sensor noise of
    that standard deviation (in grey levels), different in every frame, as a camera would.
    """
    image, keypoints, mask = load_photo(photo)
    rng = np.random.default_rng(seed)
    width, height = size
    centre = np.array([image.shape[1] / 2.0, image.shape[0] / 2.0])
    background = np.full((height, width, 3), (96, 112, 128), dtype=np.uint8)
    video = DrivingVideo(frames=[], keypoints=[], motions=[], fps=fps)
    for index in range(frames):
        phase = index / max(1, frames - 1)
        if still:
            scale, angle, shift = 0.8, 0.0, np.zeros(2)
        else:
            scale = 1.0 - 0.3 * np.sin(np.pi * phase)
            angle = np.radians(20.0 * np.sin(2 * np.pi * phase))
            shift = np.array([60.0 * np.sin(2 * np.pi * phase), 30.0 * phase])
        # Rotate and scale about the photo's centre, then place that centre mid-canvas (+ shift).
        target = np.array([width / 2.0, height / 2.0]) + shift
        turn = Similarity(scale=scale, angle=angle)
        tx, ty = target - turn.apply(centre[None])[0]
        motion = Similarity(scale=scale, angle=angle, translation=(float(tx), float(ty)))
        person = cv2.warpAffine(image, motion.matrix, size, flags=cv2.INTER_LINEAR)
        inside = cv2.warpAffine(np.ones(image.shape[:2], np.uint8), motion.matrix, size, flags=cv2.INTER_NEAREST) > 0
        frame = np.where(inside[:, :, None], person, background)
        if noise:
            frame = np.clip(frame + rng.normal(0.0, noise, frame.shape), 0, 255).astype(np.uint8)
        moved = motion.apply(keypoints)
        moved[keypoints[:, 2] <= 0, 2] = 0.0
        video.frames.append(frame)
        video.keypoints.append(moved)
        video.motions.append(motion)
    return video


def encode_video(path: str | Path, frames: list[np.ndarray], fps: float, codec: str = "mpeg4", rotation: int = 0) -> Path:
    """Encode RGB frames with PyAV (``codec`` must be in ``av.codecs_available``).

    ``rotation`` (degrees, counter-clockwise) is stored as the stream's display rotation, as phones
    do for portrait videos; players (and tpc pose) turn the frames by it when showing them.
    """
    import av

    path = Path(path)
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 8_000_000  # a phone's quality; encoders' defaults are far blurrier
        if rotation:
            stream.set_display_rotation(rotation)
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
