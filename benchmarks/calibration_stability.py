"""Does the calibrated person move as smoothly as the target, and how well does it cover it?

Smooth synthetic motions (tests/support/synthetic_poses.py ``make_motion``) from the packaged photos: the
person drifts, breathes in scale, sways and swings their limbs; keypoints jitter by 1 % of the
person's size per frame and one keypoint in a while disappears for 3 frames; every motion has one shot
cut. For each method, keypoints only (target shapes drawn from the keypoints) and with the true
target masks, the script prints:

- IoU: mean over frames of the IoU between the warped reference mask and the true target mask;
- error: mean over frames of the placement error, the RMS over the reference person's pixels of
  the distance between where the calibration puts them and where the true global map does, in %
  of the person's height on the target canvas;
- flicker: mean over neighbouring frames (within a shot) of the frame-to-frame change of that
  error (RMS over the same pixels of the change of the error vector), in % of the person's height;
  a calibrated person that follows the target exactly, or is off by a constant amount, has none;
- worst: the largest such change (99th percentile) — the visible jumps.

    .venv/bin/python -m benchmarks.calibration_stability [--motions 2] [--frames 96] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from tests.support.photos import PHOTOS, load_photo
from tests.support.synthetic_poses import CANVAS, Body, Motion, make_motion
from tpc import keypoints as kp
from tpc.calibration import CalibrationConfig, Calibrator
from tpc.masks import iou
from tpc.procrustes import Similarity, fit_similarity

_FACE = np.isin(np.arange(kp.NUM_KEYPOINTS), kp.BODY_PARTS["face"])
_ALL = np.ones(kp.NUM_KEYPOINTS, bool)


@dataclass
class Tally:
    ious: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    changes: list[float] = field(default_factory=list)
    seconds: float = 0.0
    frames: int = 0


def _procrustes(reference: np.ndarray, target: np.ndarray, subset: np.ndarray) -> Similarity:
    common = subset & kp.visible(reference) & kp.visible(target)
    fit = fit_similarity(reference[common, :2], target[common, :2]) if common.sum() >= 2 else None
    return fit or Similarity.identity()


def score_motion(matrices: list[np.ndarray], motion: Motion, mask: np.ndarray, points: np.ndarray, height: float, tally: Tally) -> None:
    """Add one motion's IoU, placement errors and their frame-to-frame changes to ``tally``."""
    previous = None
    for index, (matrix, case) in enumerate(zip(matrices, motion.frames)):
        warped = cv2.warpAffine(mask.astype(np.uint8), matrix, CANVAS, flags=cv2.INTER_NEAREST) > 0
        tally.ious.append(iou(warped, case.mask))
        error = points @ (matrix[:, :2] - case.truth_matrix[:, :2]).T + (matrix[:, 2] - case.truth_matrix[:, 2])
        size = height * case.truth.scale
        tally.errors.append(100 * float(np.sqrt((error**2).sum(axis=1).mean())) / size)
        if previous is not None and index not in motion.cuts:
            tally.changes.append(100 * float(np.sqrt(((error - previous) ** 2).sum(axis=1).mean())) / size)
        previous = error


def run(motions: int, frames: int, seed: int, noise: float) -> dict[str, dict[str, Tally]]:
    modes = {"keypoints only": False, "target masks": True}
    methods = ("Procrustes, face points", "Procrustes, all common points", "TPC, independent frames", "TPC, sequence")
    table = {mode: {method: Tally() for method in methods} for mode in modes}
    for photo_index, name in enumerate(PHOTOS):
        image, reference, mask = load_photo(name)
        body = Body(reference, mask)
        rows, cols = np.nonzero(mask)
        height = float(rows.max() - rows.min() + 1)
        points = np.stack([cols, rows], axis=1)[:: max(1, len(rows) // 4000)].astype(np.float64)
        sequence = Calibrator(image, [(reference, mask)], CANVAS)
        independent = Calibrator(image, [(reference, mask)], CANVAS, replace(sequence.config, independent=True))
        for number in range(motions):
            motion = make_motion(body, frames, seed=seed * 1000 + photo_index * 10 + number, noise=noise, cut_at=frames * 2 // 3)
            people = [[case.keypoints] for case in motion.frames]
            plain = {
                "Procrustes, face points": [_procrustes(reference, c.keypoints, _FACE).matrix for c in motion.frames],
                "Procrustes, all common points": [_procrustes(reference, c.keypoints, _ALL).matrix for c in motion.frames],
            }
            for mode, with_masks in modes.items():
                masks = [case.mask for case in motion.frames] if with_masks else None
                for method, matrices in plain.items():
                    score_motion(matrices, motion, mask, points, height, table[mode][method])
                for method, calibrator in (("TPC, independent frames", independent), ("TPC, sequence", sequence)):
                    started = time.perf_counter()
                    calibrated = calibrator.sequence(people, masks)
                    fits = [calibrated.fits(i)[0] for i in range(len(people))]
                    tally = table[mode][method]
                    tally.seconds += time.perf_counter() - started
                    tally.frames += len(fits)
                    score_motion([fit.transform.matrix for fit in fits], motion, mask, points, height, tally)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--motions", type=int, default=2, help="motions per photo (default 2)")
    parser.add_argument("--frames", type=int, default=96, help="frames per motion (default 96, 4 s at 24 fps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.01, help="keypoint jitter, share of person size (default 0.01)")
    args = parser.parse_args()
    config = CalibrationConfig()
    print(
        f"calibration stability on {len(PHOTOS)} photos x {args.motions} motions x {args.frames} frames (one shot cut each), "
        f"seed {args.seed}, keypoint jitter {args.noise:.1%}, 3-frame dropouts; sequence window "
        f"-{config.look_back}..+{config.look_ahead} frames"
    )
    for mode, methods in run(args.motions, args.frames, args.seed, args.noise).items():
        print(mode)
        print(f"  {'method':32s} {'IoU':>6s} {'error %':>8s} {'flicker %':>10s} {'worst %':>8s} {'ms/frame':>9s}")
        for method, tally in methods.items():
            ms = f"{1000 * tally.seconds / tally.frames:9.2f}" if tally.frames else "        -"
            print(
                f"  {method:32s} {np.mean(tally.ious):6.3f} {np.mean(tally.errors):8.2f} {np.mean(tally.changes):10.2f} "
                f"{np.percentile(tally.changes, 99):8.2f} {ms}"
            )
    print("error, flicker: placement error and its change between neighbouring frames, in % of the person's height")


if __name__ == "__main__":
    main()
