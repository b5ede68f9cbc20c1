"""Rebuild the bundled example in backend/examples/astronaut/ (run once; its output is committed).

The reference is scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain), stored as JPEG.
Its keypoints and mask come from MediaPipe's bundled pose model; the target motion is synthetic: the
person shrinks to half size and back, turns by +-25 degrees, drifts across the frame and swings both
arms, which is exactly the compositional misalignment TPC is for.

    .venv/bin/python scripts/make_example.py
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2
import mediapipe as mp
import numpy as np
import skimage.data

from tpc import keypoints as kp
from tpc.image_io import write_png
from tpc.pose_sequence import PoseSequence
from tpc.procrustes import Similarity

OUT = Path(__file__).resolve().parents[1] / "backend" / "examples" / "astronaut"
FRAMES, FPS, CANVAS = 48, 24.0, (512, 512)


def rotate_about(points: np.ndarray, pivot: np.ndarray, degrees: float) -> np.ndarray:
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (points - pivot) @ rotation.T + pivot


def main() -> None:
    image = skimage.data.astronaut()
    height, width = image.shape[:2]
    with mp.solutions.pose.Pose(static_image_mode=True, enable_segmentation=True, model_complexity=1) as pose:
        result = pose.process(image)
    landmarks = np.array([[p.x * width - 0.5, p.y * height - 0.5, p.visibility] for p in result.pose_landmarks.landmark])
    reference = kp.convert_to_coco17(landmarks, "blazepose33")
    outside = (reference[:, 0] < 0) | (reference[:, 0] >= width) | (reference[:, 1] < 0) | (reference[:, 1] >= height)
    reference[outside, 2] = 0.0
    reference[:, 2] = np.round(reference[:, 2], 3)
    mask = (result.segmentation_mask > 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    mask = (labels == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])).astype(np.uint8) * 255

    OUT.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(OUT / "reference.jpg"), image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    write_png(OUT / "reference_mask.png", mask)
    PoseSequence(width, height, FPS, [[reference]]).save(OUT / "reference_keypoints.json")

    # The target shows arms that the photo half hides: give them full confidence in the motion.
    body = reference.copy()
    body[[kp.LEFT_ELBOW, kp.RIGHT_ELBOW, kp.LEFT_WRIST, kp.RIGHT_WRIST], 2] = 0.9
    body[kp.LEFT_WRIST, 2] = 0.9
    centre = body[[kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER], :2].mean(axis=0)
    frames = []
    for index in range(FRAMES):
        phase = index / (FRAMES - 1)
        person = body.copy()
        swing = 55.0 * np.sin(2 * np.pi * phase)
        for shoulder, elbow, wrist, side in (
            (kp.LEFT_SHOULDER, kp.LEFT_ELBOW, kp.LEFT_WRIST, -1.0),
            (kp.RIGHT_SHOULDER, kp.RIGHT_ELBOW, kp.RIGHT_WRIST, 1.0),
        ):
            pivot = person[shoulder, :2]
            person[[elbow, wrist], :2] = rotate_about(person[[elbow, wrist], :2], pivot, side * swing)
            person[[wrist], :2] = rotate_about(person[[wrist], :2], person[elbow, :2], side * 0.6 * swing)
        scale = 1.0 - 0.5 * np.sin(np.pi * phase)
        turn = np.radians(25.0 * np.sin(2 * np.pi * phase))
        drift = np.array([80.0 * np.sin(np.pi * phase), 60.0 * phase])
        motion = Similarity(scale=scale, angle=turn, translation=(0.0, 0.0))
        moved = motion.apply(np.column_stack([person[:, :2] - centre, person[:, 2]]))
        moved[:, :2] += centre + drift
        moved[:, 2] = np.where(person[:, 2] > 0, person[:, 2], 0.0)
        frames.append([np.round(moved, 2)])
    PoseSequence(CANVAS[0], CANVAS[1], FPS, frames).save(OUT / "poses.json")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
