"""How well does each calibration line the reference person up with misaligned targets?

Targets are made from real photos (scikit-image's astronaut and camera, Matplotlib's Grace Hopper)
by tests/support/synthetic_poses.py: limbs swung about their joints, then scale 0.4-2.2x, any rotation, any
position, keypoint jitter and hidden keypoints; a separate table covers targets seen "from behind"
(mirrored). For each method the script
prints the mean IoU between the calibrated mask and the true target mask, and the share of cases in
the paper's robust region: bounding-box IoU > 0.7 and torso axis (pelvis, or shoulders for a
half-length photo, to nose) within 30 degrees.

    .venv/bin/python -m benchmarks.calibration_quality [--cases 100] [--seed 0] [--facing-away-cases 20]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from tests.support.photos import PHOTOS, load_photo
from tests.support.synthetic_poses import CANVAS, Case, make_cases, torso_axis
from tpc import keypoints as kp
from tpc.calibration import CalibrationConfig, Calibrator
from tpc.masks import iou
from tpc.procrustes import Similarity, fit_similarity


@dataclass
class Tally:
    ious: list[float] = field(default_factory=list)
    robust: list[bool] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, value: float, is_robust: bool) -> None:
        self.ious.append(value)
        self.robust.append(is_robust)


def _box(mask: np.ndarray) -> np.ndarray | None:
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return None
    return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], dtype=np.float64)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    box_a, box_b = _box(a), _box(b)
    if box_a is None or box_b is None:
        return 0.0
    x0, y0 = np.maximum(box_a[:2], box_b[:2])
    x1, y1 = np.minimum(box_a[2:], box_b[2:])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    area = lambda box: (box[2] - box[0]) * (box[3] - box[1])  # noqa: E731
    return float(inter / (area(box_a) + area(box_b) - inter))


def axis_error_deg(matrix: np.ndarray, reference: np.ndarray, case: Case) -> float:
    start, end = torso_axis(reference)
    mapped = np.array([start, end]) @ matrix[:, :2].T + matrix[:, 2]
    ours = mapped[1] - mapped[0]
    truth = case.axis[1] - case.axis[0]
    angle = np.degrees(np.arctan2(ours[1], ours[0]) - np.arctan2(truth[1], truth[0]))
    return float(abs((angle + 180.0) % 360.0 - 180.0))


def evaluate(matrix: np.ndarray, reference_mask: np.ndarray, reference: np.ndarray, case: Case, tally: Tally) -> None:
    """Score a 2x3 map of reference pixels onto the target canvas."""
    warped = cv2.warpAffine(reference_mask.astype(np.uint8), matrix, CANVAS, flags=cv2.INTER_NEAREST) > 0
    robust = box_iou(warped, case.mask) > 0.7 and axis_error_deg(matrix, reference, case) < 30.0
    tally.add(iou(warped, case.mask), robust)


def procrustes_on(reference: np.ndarray, case: Case, subset: np.ndarray) -> Similarity:
    """Plain Procrustes on the given keypoints that both show; identity when fewer than two."""
    common = subset & kp.visible(reference) & kp.visible(case.keypoints)
    fit = fit_similarity(reference[common, :2], case.keypoints[common, :2]) if common.sum() >= 2 else None
    return fit or Similarity.identity()


def run_table(cases_per_photo: int, seed: int, mirrored_share: float, noise: float) -> dict[str, Tally]:
    face = np.zeros(kp.NUM_KEYPOINTS, bool)
    face[list(kp.BODY_PARTS["face"])] = True
    everything = np.ones(kp.NUM_KEYPOINTS, bool)
    methods = {
        "ground truth (the true global map)": Tally(),
        "no calibration": Tally(),
        "Procrustes, face points": Tally(),
        "Procrustes, all common points": Tally(),
        "TPC subset search, keypoint shapes": Tally(),
        "TPC subset search, target masks": Tally(),
    }
    for photo_index, name in enumerate(PHOTOS):
        image, reference, mask = load_photo(name)
        calibrator = Calibrator(image, [(reference, mask)], CANVAS, CalibrationConfig())
        cases = make_cases(reference, mask, cases_per_photo, seed=seed * 1000 + photo_index, mirrored_share=mirrored_share, noise=noise)
        for case in cases:
            evaluate(case.truth_matrix, mask, reference, case, methods["ground truth (the true global map)"])
            evaluate(Similarity.identity().matrix, mask, reference, case, methods["no calibration"])
            evaluate(procrustes_on(reference, case, face).matrix, mask, reference, case, methods["Procrustes, face points"])
            evaluate(procrustes_on(reference, case, everything).matrix, mask, reference, case, methods["Procrustes, all common points"])
            for label, target_mask in (
                ("TPC subset search, keypoint shapes", None),
                ("TPC subset search, target masks", case.mask),
            ):
                started = time.perf_counter()
                fit = calibrator.fit([case.keypoints], target_mask=target_mask)[0]
                methods[label].seconds += time.perf_counter() - started
                evaluate(fit.transform.matrix, mask, reference, case, methods[label])
    return methods


def print_table(title: str, methods: dict[str, Tally]) -> None:
    print(title)
    print(f"  {'method':42s} {'mean IoU':>9s} {'robust':>8s} {'fit ms':>7s}")
    for label, tally in methods.items():
        ms = f"{1000 * tally.seconds / len(tally.ious):7.2f}" if tally.seconds else "      -"
        print(f"  {label:42s} {np.mean(tally.ious):9.3f} {100 * np.mean(tally.robust):7.1f}% {ms}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100, help="cases per photo (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.01, help="keypoint jitter, share of person size (default 0.01)")
    parser.add_argument("--facing-away-cases", type=int, default=20, help="extra mirrored cases per photo, reported apart (default 20)")
    args = parser.parse_args()
    print(
        f"calibration quality on {len(PHOTOS)} photos ({', '.join(PHOTOS)}), seed {args.seed}, "
        f"keypoint jitter {args.noise:.1%} of person size"
    )
    print_table(
        f"misaligned targets: {len(PHOTOS)} x {args.cases}",
        run_table(args.cases, args.seed, 0.0, args.noise),
    )
    if args.facing_away_cases:
        print_table(
            f"seen from behind (mirrored targets; no similarity can match an asymmetric mirrored shape): "
            f"{len(PHOTOS)} x {args.facing_away_cases}",
            run_table(args.facing_away_cases, args.seed + 7919, 1.0, args.noise),
        )
    print("robust: bounding-box IoU > 0.7 and torso axis within 30 degrees (the paper's robust region)")


if __name__ == "__main__":
    main()
