"""Settings of the calibration: the per-frame subset search and the sequence smoother."""

from __future__ import annotations

from dataclasses import dataclass

from . import keypoints as kp


@dataclass(frozen=True)
class CalibrationConfig:
    """The defaults are what the benchmarks measure (benchmarks/calibration_quality.py for the search,
    benchmarks/calibration_stability.py for the sequence)."""

    confidence_threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD
    score_resolution: int = 96  # long side, in cells, of the grid the IoU is counted on
    # Rounds of toggling single keypoints of the best part-union subset (0: off). Measured on
    # benchmarks/calibration_quality.py with the polish below: 2 rounds change the mean IoU by less
    # than 0.001 and cost 0.4-0.8 ms per frame, so they are off.
    refine_rounds: int = 0
    # Rounds of nudging the winning transform towards a higher IoU (0: off). Only against target
    # masks: against shapes drawn from keypoints it was measured to lose IoU. On
    # benchmarks/calibration_quality.py 3 rounds reach 0.863 mean IoU, 5 rounds 0.866 (0.4 ms more
    # per frame), 8 rounds 0.867 (2 ms more).
    polish_rounds: int = 5
    facing_away: bool = True  # swap left/right correspondences for a person seen from behind
    # Within this much IoU, prefer the subset with more keypoints (it averages out keypoint jitter).
    # Shapes drawn from keypoints are rough, so there small IoU differences are noise: measured on
    # benchmarks/calibration_quality.py, 0.05 there and 0.002 against given masks do best.
    tie_margin: float = 0.002
    tie_margin_drawn: float = 0.05
    max_cells: int = 2048  # IoU terms are counted on at most this many cells per shape (an even stride)

    # -- sequences (tpc.temporal) ----------------------------------------------------------------------
    # True: every frame is calibrated on its own (the paper). False: frames are calibrated as a
    # sequence, each frame's transform chosen and smoothed with its neighbours' (tpc.temporal).
    independent: bool = False
    # A frame's transform depends on at most this many frames before and after it (the same shot and
    # tracked person), never on any other: so any frame can be calibrated first, with the same result.
    look_back: int = 10
    look_ahead: int = 10
    smoothing: float = 5.0  # frames: the standard deviation of the smoother's Gaussian weights

    def __post_init__(self) -> None:
        if not 8 <= self.score_resolution <= 1024:
            raise ValueError(f"score_resolution must be between 8 and 1024, got {self.score_resolution}")
        if self.max_cells < 16:
            raise ValueError(f"max_cells must be at least 16, got {self.max_cells}")
        if min(self.refine_rounds, self.polish_rounds) < 0 or min(self.tie_margin, self.tie_margin_drawn) < 0:
            raise ValueError("rounds and tie margins cannot be negative")
        if not (0 <= self.look_back <= 64 and 0 <= self.look_ahead <= 64):
            raise ValueError(f"look_back and look_ahead must be between 0 and 64 frames, got {self.look_back}, {self.look_ahead}")
        if not 0.5 <= self.smoothing <= 64:
            raise ValueError(f"smoothing must be between 0.5 and 64 frames, got {self.smoothing}")
