"""Shared fixtures: real photos shipped by installed packages, with their keypoints and masks."""

from __future__ import annotations

import os

os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging

import numpy as np
import pytest

from tests.support.photos import load_photo


@pytest.fixture(scope="session")
def astronaut() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-image's astronaut: image (512, 512, 3), COCO-17 keypoints, boolean mask."""
    return load_photo("astronaut")


@pytest.fixture(scope="session")
def grace_hopper() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return load_photo("grace_hopper")
