"""Does calibration from a photo with no hints (perception's keypoints and mask) match given hints?

The misaligned targets are those of benchmarks/calibration_quality.py (real photos, limbs swung,
scaled 0.4-2.2x, any rotation and position). The reference photos' fixtures were themselves made
by MediaPipe on the upright photos, so comparing on the upright photo alone would compare MediaPipe
with itself. The reference photo is therefore also handed over turned by 90, 180 and 270 degrees
and shrunk to half and a quarter of its size (128 pixels: a thumbnail). "Given" means the
fixture mapped through the same change (masks resampled); "found" means what `tpc calibrate` finds with no
--reference-keypoints and no --reference-mask (the same load_reference call). Both are scored the
same way: the *given* mask warped by each fit, against the true target mask (mean IoU), and the
share of cases in the paper's robust region.

    .venv/bin/python -m benchmarks.perception_calibration [--cases 40] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2
import numpy as np

from tests.support.photos import PHOTOS, load_photo
from tests.support.synthetic_poses import CANVAS, make_cases
from tpc import keypoints as kp
from tpc.calibration import CalibrationConfig, Calibrator
from tpc.image_io import write_png
from tpc.masks import iou
from tpc.pose_sequence import PoseSequence
from tpc_backend.calibration_job import load_reference
from tpc_backend.errors import UserError
from tpc_backend.perception.views import View

from .calibration_quality import Tally, evaluate


def changes(size: tuple[int, int]) -> dict[str, tuple[np.ndarray, tuple[int, int]]]:
    """name -> (2x3 map of photo pixels into the changed photo, changed photo's size)."""
    width, height = size
    out = {}
    for turns in range(4):
        view = View.whole(size, turns)
        out["upright" if turns == 0 else f"turned {90 * turns}"] = (view.matrix, view.size)
    for share, label in ((0.5, "half size"), (0.25, "quarter size")):
        shrunk = View.box((0.0, 0.0, float(width), float(height)), share)
        out[label] = (shrunk.matrix, shrunk.size)
    return out


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    out = points.copy()
    out[:, :2] = points[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=40, help="misaligned targets per photo (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"calibration from found vs given reference hints: {len(PHOTOS)} photos x {args.cases} misaligned targets, seed {args.seed}")
    print(
        f"  {'reference photo':27s} {'keypoint err':>12s} {'mask IoU':>8s} {'find ms':>7s} | "
        f"{'given IoU':>9s} {'found IoU':>9s} {'given rob':>9s} {'found rob':>9s} | {'with target masks: given':>24s} {'found':>6s}"
    )
    totals: dict[str, list[float]] = {"given": [], "found": [], "given_m": [], "found_m": []}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for photo_index, name in enumerate(PHOTOS):
            image, keypoints, mask = load_photo(name)
            size = (image.shape[1], image.shape[0])
            cases = make_cases(keypoints, mask, args.cases, seed=args.seed * 1000 + photo_index)
            for label, (matrix, changed_size) in changes(size).items():
                photo = View(matrix=matrix, size=changed_size).render(image)
                given_points = apply(matrix, keypoints)
                outside = (given_points[:, 0] < 0) | (given_points[:, 0] > changed_size[0] - 1)
                outside |= (given_points[:, 1] < 0) | (given_points[:, 1] > changed_size[1] - 1)
                given_points[outside, 2] = 0.0
                given_mask = cv2.warpAffine(mask.astype(np.uint8), matrix, changed_size, flags=cv2.INTER_NEAREST) > 0
                write_png(folder / "photo.png", photo)
                write_png(folder / "mask.png", given_mask)
                PoseSequence(changed_size[0], changed_size[1], 30.0, [[given_points]]).save(folder / "kp.json")

                started = time.perf_counter()
                try:
                    found = load_reference(folder / "photo.png", None, None)  # `tpc calibrate` without hints
                except UserError as error:
                    print(f"  {name + ', ' + label:27s} {error}")
                    continue
                find_ms = 1000 * (time.perf_counter() - started)
                given = load_reference(folder / "photo.png", folder / "kp.json", folder / "mask.png")
                found_points, found_mask = found.people[0]
                sure = kp.visible(given_points, 0.9) & kp.visible(found_points, 0.9)
                back = np.linalg.norm(found_points[sure, :2] - given_points[sure, :2], axis=1) / np.hypot(*matrix[:, 0])
                tallies = {key: Tally() for key in totals}
                for key, reference in (("given", given), ("found", found)):
                    calibrator = Calibrator(reference.image, reference.people, CANVAS, CalibrationConfig())
                    for case in cases:
                        for suffix, target_mask in (("", None), ("_m", case.mask)):
                            fit = calibrator.fit([case.keypoints], target_mask=target_mask)[0]
                            evaluate(fit.transform.matrix, given_mask, given_points, case, tallies[key + suffix])
                for key, tally in tallies.items():
                    totals[key] += tally.ious
                mean = {key: float(np.mean(t.ious)) for key, t in tallies.items()}
                robust = {key: 100 * float(np.mean(t.robust)) for key, t in tallies.items()}
                print(
                    f"  {name + ', ' + label:27s} {np.median(back):9.1f} px {iou(found_mask, given_mask):8.3f} {find_ms:7.0f} | "
                    f"{mean['given']:9.3f} {mean['found']:9.3f} {robust['given']:8.1f}% {robust['found']:8.1f}% | "
                    f"{mean['given_m']:24.3f} {mean['found_m']:6.3f}"
                )
    print(
        f"  {'all':27s} {'':12s} {'':8s} {'':7s} | {np.mean(totals['given']):9.3f} {np.mean(totals['found']):9.3f} "
        f"{'':9s} {'':9s} | {np.mean(totals['given_m']):24.3f} {np.mean(totals['found_m']):6.3f}"
    )
    print(
        "keypoint err: median distance (in the upright photo's pixels) between found and given keypoints seen with "
        "confidence >= 0.9; find ms: perception time (the first includes loading the model); IoU columns: the given "
        "mask warped by each fit vs the true target mask (calibrated against keypoint-drawn target shapes, then "
        "against the true target masks); rob: share of cases in the paper's robust region"
    )


if __name__ == "__main__":
    main()
