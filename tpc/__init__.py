"""Test-time Procrustes Calibration (Yoon et al., NeurIPS 2024) as a library.

The pieces, in the order a job uses them:

- :mod:`tpc.keypoints`, :mod:`tpc.pose_sequence`: COCO-17 people and the PoseSequence format;
  :mod:`tpc.wholebody`: the hands and faces people may carry beside the body.
- :class:`tpc.Calibrator`: Procrustes warping with the optimal keypoint subset (paper Eq. 4), giving
  one calibrated image and mask per target frame; the frames of a video calibrated as a sequence
  (:mod:`tpc.temporal`), so the calibrated person moves as smoothly as the target.
- :class:`tpc.IterativePropagation`: which calibrated frame each frame reads at each denoising step
  (paper Algorithm 1).
- :mod:`tpc.attention` (needs torch): attention processors that add the calibrated features to a
  diffusers UNet's reference attention.

This package imports numpy and OpenCV only (torch for the attention processors): no service, no
Blender, no job logic.
"""

from .calibration import CalibrationConfig, Calibrator, FrameCalibration, PersonFit
from .pose_sequence import PoseFormatError, PoseSequence
from .procrustes import Similarity, SimilarityBatch, fit_similarity, fit_similarity_batch
from .propagation import DEFAULT_GROUPS, IterativePropagation

__version__ = "0.1.0"

__all__ = [
    "CalibrationConfig",
    "Calibrator",
    "DEFAULT_GROUPS",
    "FrameCalibration",
    "IterativePropagation",
    "PersonFit",
    "PoseFormatError",
    "PoseSequence",
    "Similarity",
    "SimilarityBatch",
    "fit_similarity",
    "fit_similarity_batch",
]
