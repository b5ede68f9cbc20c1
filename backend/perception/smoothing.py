"""Temporal smoothing of keypoints from a video: the One-Euro filter (Casiez et al., CHI 2012).

A pose model looks at every frame afresh, so a person standing still jitters by a few pixels, and
that jitter becomes a shaking calibrated image. A plain low-pass filter would also make fast moves
lag. The One-Euro filter adapts its cut-off frequency to the speed: slow points are smoothed hard,
fast ones hardly at all. Coordinates are filtered in units of the frame height, so the settings
mean the same at any resolution. A keypoint that disappears (confidence below the visibility
threshold) restarts its filter when it comes back, instead of sliding in from where it was, and a
point's first speed is taken as measured rather than from rest, so a move under way at the start
is not lagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpc import keypoints as kp


@dataclass(frozen=True)
class OneEuroSettings:
    """Cut-off for still points (Hz), its growth with speed (per frame-height/second), derivative cut-off.

    The defaults halve the frame-to-frame jitter of a person standing still and add about one pixel
    of lag to fast moves at 512 pixels (measured on the driving video of tests/support/driving_video.py).
    """

    min_cutoff: float = 0.5
    beta: float = 40.0
    derivative_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and self.beta >= 0 and self.derivative_cutoff > 0):
            raise ValueError("One-Euro cut-offs must be positive and beta must not be negative")


def _smoothing_factor(cutoff: np.ndarray | float, elapsed: float) -> np.ndarray:
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / elapsed)


class KeypointFilter:
    """One-Euro filter for one person's (N, 3) points over time (the body's 17, a hand's 21, a face's
    68); confidences pass through."""

    def __init__(self, settings: OneEuroSettings, unit: float, count: int = kp.NUM_KEYPOINTS) -> None:
        self.settings = settings
        self.unit = float(unit)  # pixels per filter unit (the frame height)
        self._value = np.zeros((count, 2))
        self._speed = np.zeros((count, 2))
        self._alive = np.zeros(count, dtype=bool)
        self._has_speed = np.zeros(count, dtype=bool)  # a speed estimate exists (not just 0)
        self._time: float | None = None

    def __call__(self, time: float, keypoints: np.ndarray) -> np.ndarray:
        """The filtered keypoints at ``time`` (seconds, increasing)."""
        points = np.asarray(keypoints, dtype=np.float64)
        seen = kp.visible(points)
        value = points[:, :2] / self.unit
        elapsed = None if self._time is None else time - self._time
        self._time = time
        if elapsed is None or elapsed <= 0:
            keep = np.zeros_like(seen)
        else:
            keep = seen & self._alive
        if keep.any():
            speed = (value[keep] - self._value[keep]) / elapsed
            # A point's first speed is taken as measured: starting from 0 would make it lag at once.
            alpha_d = np.where(self._has_speed[keep], _smoothing_factor(self.settings.derivative_cutoff, elapsed), 1.0)[:, None]
            speed = self._speed[keep] + alpha_d * (speed - self._speed[keep])
            cutoff = self.settings.min_cutoff + self.settings.beta * np.linalg.norm(speed, axis=1, keepdims=True)
            alpha = _smoothing_factor(cutoff, elapsed)
            self._value[keep] = self._value[keep] + alpha * (value[keep] - self._value[keep])
            self._speed[keep] = speed
        start = seen & ~keep
        self._value[start] = value[start]
        self._speed[start] = 0.0
        self._has_speed = keep | (self._has_speed & seen & ~start)
        self._alive = seen
        out = points.copy()
        out[seen, :2] = self._value[seen] * self.unit
        return out
