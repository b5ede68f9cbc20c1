"""Shared by perception tests: one MediaPipe-backed detector, since models load slowly."""

from __future__ import annotations

import pytest

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
