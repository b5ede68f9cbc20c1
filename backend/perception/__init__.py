"""Perception: people, COCO-17 keypoints, hands, faces and person masks from photos and videos, offline.

:func:`detect_people` is the entry point the backend service and the ``tpc`` command use. Models sit
behind two small interfaces (:mod:`.estimators`) picked by name: ``mediapipe`` (default, bundled,
CPU) for pose and masks, ``mmpose`` for pose and ``sam`` for masks when the user has them. The
search around the models (turns, zoom-ins, several people) is in :mod:`.people`; videos in
:mod:`.video`.
"""

from .estimators import (
    MASK_ESTIMATORS,
    POSE_ESTIMATORS,
    Detection,
    EstimatorSettings,
    MaskEstimator,
    PoseEstimator,
    mask_estimator,
    pose_estimator,
)
from .people import NO_PERSON, PeopleDetector, Person, detect_people, segment_people

__all__ = [
    "Detection",
    "EstimatorSettings",
    "MASK_ESTIMATORS",
    "MaskEstimator",
    "NO_PERSON",
    "POSE_ESTIMATORS",
    "PeopleDetector",
    "Person",
    "PoseEstimator",
    "detect_people",
    "mask_estimator",
    "pose_estimator",
    "segment_people",
]
