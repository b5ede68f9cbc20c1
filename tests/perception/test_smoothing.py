"""The One-Euro filter: calms a still point, follows a moving one, restarts a point that reappears."""

from __future__ import annotations

import numpy as np
import pytest

from tpc import keypoints as kp
from tpc_backend.perception.smoothing import KeypointFilter, OneEuroSettings


def person_at(x: float, y: float, confidence: float = 0.9) -> np.ndarray:
    points = np.zeros((kp.NUM_KEYPOINTS, 3))
    points[:, 0] = x + np.arange(kp.NUM_KEYPOINTS) * 3.0
    points[:, 1] = y + np.arange(kp.NUM_KEYPOINTS) * 5.0
    points[:, 2] = confidence
    return points


def run(filter_: KeypointFilter, people: list[np.ndarray], fps: float = 30.0) -> np.ndarray:
    return np.array([filter_(i / fps, p) for i, p in enumerate(people)])


def test_still_point_jitter_shrinks_several_times():
    rng = np.random.default_rng(0)
    noisy = [person_at(200, 100) + np.c_[rng.normal(0, 3, (17, 2)), np.zeros(17)] for _ in range(90)]
    smoothed = run(KeypointFilter(OneEuroSettings(), unit=512.0), noisy)
    raw_steps = np.abs(np.diff(np.array(noisy)[:, :, :2], axis=0)).mean()
    smooth_steps = np.abs(np.diff(smoothed[:, :, :2], axis=0)).mean()
    assert smooth_steps < raw_steps / 3
    assert np.abs(smoothed[-30:, :, :2].mean(axis=0) - person_at(200, 100)[:, :2]).max() < 1.5


def test_fast_motion_is_followed_closely():
    # 300 pixels a second on a 512-pixel frame: an arm swing.
    moving = [person_at(100 + 10 * i, 100) for i in range(60)]
    smoothed = run(KeypointFilter(OneEuroSettings(), unit=512.0), moving)
    lag = np.abs(smoothed[-20:, :, 0] - np.array(moving)[-20:, :, 0]).max()
    assert lag < 6.0  # under a frame's worth of motion (10 px)
    slow = run(KeypointFilter(OneEuroSettings(min_cutoff=1.0, beta=0.0), unit=512.0), moving)
    assert np.abs(slow[-20:, :, 0] - np.array(moving)[-20:, :, 0]).max() > 2 * lag  # speed adaptation matters


def test_confidences_pass_through_and_hidden_points_restart():
    filter_ = KeypointFilter(OneEuroSettings(), unit=512.0)
    for i in range(10):
        filter_(i / 30, person_at(100, 100))
    hidden = person_at(100, 100)
    hidden[kp.LEFT_WRIST, 2] = 0.0
    out = filter_(10 / 30, hidden)
    assert out[kp.LEFT_WRIST, 2] == 0.0 and np.array_equal(out[kp.LEFT_WRIST], hidden[kp.LEFT_WRIST])
    back = person_at(100, 100)
    back[kp.LEFT_WRIST, :2] = (400.0, 400.0)  # reappears far away: no sliding in from the old place
    out = filter_(11 / 30, back)
    assert np.allclose(out[kp.LEFT_WRIST, :2], (400.0, 400.0))
    assert out[kp.NOSE, 2] == pytest.approx(0.9)


def test_settings_mean_the_same_at_any_resolution():
    rng = np.random.default_rng(1)
    noisy = [person_at(200, 100) + np.c_[rng.normal(0, 3, (17, 2)), np.zeros(17)] for _ in range(40)]
    small = run(KeypointFilter(OneEuroSettings(), unit=512.0), noisy)
    doubled = [p * np.array([2.0, 2.0, 1.0]) for p in noisy]
    large = run(KeypointFilter(OneEuroSettings(), unit=1024.0), doubled)
    assert np.allclose(large[:, :, :2], 2 * small[:, :, :2])
    with pytest.raises(ValueError):
        OneEuroSettings(min_cutoff=0.0)
