"""Rebuild tests/support/data: keypoints and masks of the packaged photos (run once; output committed).

.venv/bin/python -m scripts.make_photo_fixtures
"""

from __future__ import annotations

import os

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2
import mediapipe as mp
import numpy as np

from tests.support.photos import DATA, PHOTOS, load_image
from tpc import keypoints as kp
from tpc.image_io import write_png
from tpc.pose_sequence import PoseSequence


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        image = load_image(name)
        height, width = image.shape[:2]
        with mp.solutions.pose.Pose(static_image_mode=True, enable_segmentation=True, model_complexity=1) as pose:
            result = pose.process(image)
        landmarks = np.array([[p.x * width - 0.5, p.y * height - 0.5, p.visibility] for p in result.pose_landmarks.landmark])
        keypoints = kp.convert_to_coco17(landmarks, "blazepose33")
        outside = (keypoints[:, 0] < 0) | (keypoints[:, 0] >= width) | (keypoints[:, 1] < 0) | (keypoints[:, 1] >= height)
        keypoints[outside, 2] = 0.0
        keypoints[:, 2] = np.round(keypoints[:, 2], 3)
        mask = (result.segmentation_mask > 0.5).astype(np.uint8)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
        mask = (labels == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])).astype(np.uint8) * 255
        PoseSequence(width, height, 30.0, [[keypoints]]).save(DATA / f"{name}_keypoints.json")
        write_png(DATA / f"{name}_mask.png", mask)
        print(name, "visible:", int(kp.visible(keypoints).sum()), "mask share:", round(float((mask > 0).mean()), 3))


if __name__ == "__main__":
    main()
