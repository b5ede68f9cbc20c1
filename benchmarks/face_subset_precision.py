"""Would the 68 face points make the face-only Procrustes fit more precise than COCO-17's 5?

TPC's subset search always tries the face alone (nose, eyes, ears). With a 68-point face the same
similarity could be fitted from far more points. This measures, on driving videos made from the
packaged photos (tests/support/driving_video.py: the photo moved, turned and scaled by a known
similarity every frame, then encoded), how far each fit lands from the true motion: both faces are
found by MediaPipe Holistic (`tpc pose`'s whole-body default) in the photo and in every frame, the
similarity photo -> frame is fitted from the 5 COCO face points and from the 68, and each fit is
compared with the true one over the person (mean displacement of the person-mask pixels, and IoU of
the mask moved by the fit vs by the truth). Not wired into calibration: a figure for deciding.

    .venv/bin/python -m benchmarks.face_subset_precision [--frames 24]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2
import numpy as np

from tests.support.driving_video import encode_video, make_driving_video
from tests.support.photos import PHOTOS, load_photo
from tpc import keypoints as kp
from tpc.masks import iou
from tpc.procrustes import Similarity, fit_similarity
from tpc_backend.perception import EstimatorSettings, PeopleDetector, mask_estimator, pose_estimator
from tpc_backend.perception.video import extract_video_poses

FACE5 = list(kp.BODY_PARTS["face"])


def fit(source: np.ndarray, target: np.ndarray) -> Similarity | None:
    seen = kp.visible(source) & kp.visible(target)
    return fit_similarity(source[seen, :2], target[seen, :2]) if seen.sum() >= 2 else None


def compare(found: Similarity | None, truth: Similarity, mask: np.ndarray) -> tuple[float, float]:
    """(mean pixel displacement over the person, IoU of the moved masks) of a fit against the truth."""
    if found is None:
        return float("nan"), 0.0
    ys, xs = np.nonzero(mask)
    pixels = np.column_stack([xs, ys]).astype(np.float64)
    error = float(np.linalg.norm(found.apply(pixels) - truth.apply(pixels), axis=1).mean())
    size = (mask.shape[1], mask.shape[0])
    moved = [cv2.warpAffine(mask.astype(np.uint8), s.matrix, size, flags=cv2.INTER_NEAREST) > 0 for s in (found, truth)]
    return error, iou(*moved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=24, help="frames per video (default 24)")
    args = parser.parse_args()
    detector = PeopleDetector(pose_estimator("mediapipe", EstimatorSettings(whole_body=True)), mask_estimator("mediapipe"))
    print("face-only similarity, photo -> video frame, against the true motion (mean over frames)")
    print(f"  {'photo':14s} {'5 COCO face points':>24s} {'68 face points':>24s}   (px error over the person, mask IoU)")
    totals: dict[str, list[tuple[float, float]]] = {"5": [], "68": []}
    with tempfile.TemporaryDirectory() as scratch:
        for name in PHOTOS:
            image, _, mask = load_photo(name)
            detector.quarter_turns = 0
            (person,) = detector.detect(image, 1)
            video = make_driving_video(name, frames=args.frames)
            path = encode_video(Path(scratch) / f"{name}.mp4", video.frames, video.fps)
            poses = extract_video_poses(path, detector, smoothing=None).poses
            rows: dict[str, list[tuple[float, float]]] = {"5": [], "68": []}
            for index, truth in enumerate(video.motions):
                if not poses.frames[index]:
                    continue
                body, extra = poses.frames[index][0], poses.hands_face_of(index)[0]
                rows["5"].append(compare(fit(person.keypoints[FACE5], body[FACE5]), truth, mask))
                rows["68"].append(compare(fit(person.hands_face.face, extra.face), truth, mask))
            for key in rows:
                totals[key] += rows[key]
            print(f"  {name:14s} {_cell(rows['5']):>24s} {_cell(rows['68']):>24s}")
    print(f"  {'all':14s} {_cell(totals['5']):>24s} {_cell(totals['68']):>24s}")


def _cell(rows: list[tuple[float, float]]) -> str:
    values = np.array(rows, dtype=np.float64)
    return f"{np.nanmean(values[:, 0]):6.2f} px  IoU {values[:, 1].mean():.3f}"


if __name__ == "__main__":
    main()
