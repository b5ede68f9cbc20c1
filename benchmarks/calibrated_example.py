"""The bundled astronaut example, calibrated: a realistic person on black for the diffusion benchmarks.

What TPC's extra attention costs depends on how much of each calibrated image the person covers once
only the person's tokens are kept, so benchmarks use real calibrations rather than random pictures:
the astronaut photo warped onto the example's 48 target poses (512 x 512; the person shrinks to half
size and back, turns and drifts), where the calibrated person covers 10 to 44 % of the frame. Frames
0 to 8 are the largest (31 to 44 %), so a window starting at frame 0 is the costly case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpc_backend.calibration_job import load_poses, load_reference
from tpc_backend.engines.base import PreparedJob, RenderSettings
from tpc_backend.engines.diffusion.conditioning import letterbox, pose_image, resize
from tpc_backend.examples import ASTRONAUT


@dataclass
class CalibratedExample:
    """What a diffusion job is conditioned on, at ``size`` x ``size`` px (masks on the 512 px canvas)."""

    reference: np.ndarray
    reference_photo: np.ndarray
    poses: list[np.ndarray]
    calibrated: list[np.ndarray]
    masks: list[np.ndarray]

    @property
    def person_share(self) -> float:
        """Mean share of the frame the calibrated person covers."""
        return float(np.mean([(mask > 0).mean() for mask in self.masks]))


def example_job() -> PreparedJob:
    reference = load_reference(ASTRONAUT / "reference.jpg", ASTRONAUT / "reference_keypoints.json", ASTRONAUT / "reference_mask.png")
    poses = load_poses(ASTRONAUT / "poses.json")
    return PreparedJob("benchmark", reference.image, reference.people, poses, RenderSettings(engine="diffusion"))


def calibrated_example(frames: range, size: int) -> CalibratedExample:
    """Frames ``frames`` of the example (indices wrap around its 48 poses), prepared as the engine does."""
    job = example_job()
    indices = [index % len(job) for index in frames]
    calibrations = [job.calibration(index) for index in indices]
    return CalibratedExample(
        reference=letterbox(job.reference_image, (size, size)),
        reference_photo=job.reference_image,
        poses=[pose_image(job.poses.frames[index], job.poses.size, (size, size)) for index in indices],
        calibrated=[resize(calibration.image, (size, size)) for calibration in calibrations],
        masks=[calibration.mask for calibration in calibrations],
    )
