"""Draw docs/images/overview.png, the README's picture: reference, target pose, calibrated, preview.

    .venv/bin/python scripts/make_overview_picture.py [--frame 4] [--out docs/images/overview.png]

The bundled astronaut example (a public-domain NASA photo shipped by scikit-image) and one of its
target poses: the photo, the pose as the models see it, the photo calibrated onto the pose (TPC), and
the preview engine's frame. The diffusion engine's video is what the models make of the last two.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from tpc.drawing import render_openpose
from tpc.image_io import encode_png
from tpc_backend.calibration_job import load_poses, load_reference
from tpc_backend.engines.base import PreparedJob, RenderSettings
from tpc_backend.engines.preview import PreviewEngine
from tpc_backend.examples import ASTRONAUT

PANEL = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame", type=int, default=4, help="which of the example's 48 poses")
    parser.add_argument("--out", type=Path, default=Path("docs/images/overview.png"))
    args = parser.parse_args()
    reference = load_reference(ASTRONAUT / "reference.jpg", ASTRONAUT / "reference_keypoints.json", ASTRONAUT / "reference_mask.png")
    poses = load_poses(ASTRONAUT / "poses.json")
    job = PreparedJob("overview", reference.image, reference.people, poses, RenderSettings())
    calibration = job.calibration(args.frame)
    pose = render_openpose(poses.frames[args.frame], poses.size, poses.hands_face_of(args.frame))
    frames = {}
    PreviewEngine().render(job, args.frame, frames.__setitem__, lambda: len(frames) > 0, lambda fraction, message: None)
    panels = [reference.image, pose, calibration.image, frames[args.frame]]
    labels = ["reference photo", "target pose", "calibrated (TPC)", "preview frame"]
    row = [_panel(image, label) for image, label in zip(panels, labels)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(encode_png(np.concatenate(row, axis=1), compression=9))
    print(f"wrote {args.out}")


def _panel(image: np.ndarray, label: str) -> np.ndarray:
    scale = PANEL / max(image.shape[:2])
    fitted = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    panel = np.full((PANEL + 24, PANEL, 3), 255, np.uint8)
    top, left = (PANEL - fitted.shape[0]) // 2, (PANEL - fitted.shape[1]) // 2
    panel[top : top + fitted.shape[0], left : left + fitted.shape[1]] = fitted
    cv2.putText(panel, label, (8, PANEL + 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (40, 40, 40), 1, cv2.LINE_AA)
    return panel


if __name__ == "__main__":
    main()
