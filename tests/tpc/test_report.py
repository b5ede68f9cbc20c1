"""The calibration report from fits alone: the same report.json and report.png as from full
calibrations, with full calibrations asked for only for the frames the picture shows."""

from __future__ import annotations

from functools import partial

import numpy as np

from tests.support.synthetic_poses import CANVAS, make_cases
from tpc.calibration import Calibrator
from tpc.report import CalibrationReport

FRAMES = 10
WORST_AT = 7  # not one of the evenly spaced samples (0, 4, 9)


def test_fits_give_the_same_report_and_only_the_pictured_frames_are_calibrated(astronaut):
    image, points, mask = astronaut
    calibrator = Calibrator(image, [(points, mask)], CANVAS)
    frames = [[case.keypoints] for case in make_cases(points, mask, FRAMES, seed=5)]
    # Best first, the worst moved to WORST_AT: frames 0..WORST_AT are each the worst so far when they
    # arrive, so a report that made thumbnails of every new worst frame would calibrate all of them.
    scores = [min(fit.score for fit in calibrator.fit(people)) for people in frames]
    assert len(set(scores)) == FRAMES
    order = [int(i) for i in np.argsort(scores)[::-1]]
    order.insert(WORST_AT, order.pop())
    frames = [frames[i] for i in order]

    full = CalibrationReport(image, [(points, mask)], CANVAS, FRAMES)
    from_fits = CalibrationReport(image, [(points, mask)], CANVAS, FRAMES)
    calibrated: list[int] = []

    def calibration(index: int):
        calibrated.append(index)
        return calibrator.calibrate(frames[index], index=index)

    for index, people in enumerate(frames):
        full.add(calibrator.calibrate(people, index=index), people)
        from_fits.add_fits(index, calibrator.fit(people), people, partial(calibration, index))
    assert calibrated == [0, 4, 9]  # the evenly spaced samples; the worst is not certain before the end
    assert from_fits.to_json() == full.to_json()
    assert np.array_equal(from_fits.render(), full.render())
    assert calibrated == [0, 4, 9, WORST_AT]
    assert from_fits.to_json()["summary"]["min_score"] == round(min(scores), 4)
