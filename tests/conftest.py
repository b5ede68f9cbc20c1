"""Shared fixtures: real photos shipped by installed packages, with their keypoints and masks; Hypothesis settings."""

from __future__ import annotations

import os

os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging

import numpy as np
import pytest
from hypothesis import settings

from tests.support.photos import load_photo

# No per-example time limit (Hypothesis' default is 200 ms): on a loaded machine it fails correct code,
# speed belongs in benchmarks, and pytest-timeout (pyproject.toml) still fails a test that hangs.
settings.register_profile("tpc", deadline=None)
settings.load_profile("tpc")


@pytest.fixture(scope="session")
def astronaut() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-image's astronaut: image (512, 512, 3), COCO-17 keypoints, boolean mask."""
    return load_photo("astronaut")


@pytest.fixture(scope="session")
def grace_hopper() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return load_photo("grace_hopper")
