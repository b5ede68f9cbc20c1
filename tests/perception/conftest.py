"""Shared by perception tests: one MediaPipe-backed detector, since models load slowly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.support.photos import PHOTOS, load_photo
from tpc_backend.perception import EstimatorSettings, PeopleDetector, mask_estimator, pose_estimator


@pytest.fixture(scope="session")
def detector() -> PeopleDetector:
    """The default estimators with the full search."""
    return PeopleDetector(pose_estimator("mediapipe"), mask_estimator("mediapipe"))


@pytest.fixture()
def fresh(detector) -> PeopleDetector:
    """The shared detector, with no orientation remembered from an earlier test."""
    detector.quarter_turns = 0
    return detector


@pytest.fixture(scope="session")
def whole_body() -> PeopleDetector:
    """The default estimators looking for hands and faces too (MediaPipe Holistic); each test sets
    ``quarter_turns`` itself when it matters."""
    return PeopleDetector(pose_estimator("mediapipe", EstimatorSettings(whole_body=True)), mask_estimator("mediapipe"))


@pytest.fixture(scope="session")
def group_photo() -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The packaged photos side by side at 400 px high, and the columns each one spans."""
    height, tiles, spans = 400, [], []
    for name in PHOTOS:
        image = load_photo(name)[0]
        width = int(round(image.shape[1] * height / image.shape[0]))
        start = sum(t.shape[1] for t in tiles)
        tiles.append(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))
        spans.append((start, start + width))
    return np.concatenate(tiles, axis=1), spans
