"""Optional pose estimator: any MMPose 2-D body model (RTMPose, ViTPose, HRNet...) from local files.

MMPose models are more accurate than BlazePose, especially for unusual poses, but MMPose needs
compiled mmcv and the user's own config and checkpoint, so it is never a dependency: it is imported
only when named, and its absence is one sentence saying how to install it. Without a person
detector config the model looks at the whole view it is given (MMPose's ``whole_image`` mode); the
search around estimators (turns, zoomed tiles, close-ups of each person, greying out found people)
then plays the detector's part. Any model whose first 17 keypoints follow the COCO order works
(COCO, Halpe-26, COCO-WholeBody).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from tpc import keypoints as kp
from tpc_protocol.errors import ErrorCode

from ..errors import UserError
from .estimators import Detection, EstimatorSettings, torch_device

INSTALL = (
    "the mmpose pose estimator needs MMPose, which is not installed: "
    "pip install -U openmim && mim install mmengine 'mmcv>=2.0.1' 'mmpose>=1.1.0' "
    "(add 'mmdet>=3.1.0' to use a person detector), then pass --mmpose-config and --mmpose-checkpoint"
)
NEEDS_MODEL = (
    "the mmpose pose estimator needs a model config and its checkpoint on this machine: pass "
    "--mmpose-config CONFIG.py --mmpose-checkpoint WEIGHTS.pth (for example RTMPose-m for COCO from the MMPose model zoo)"
)


class MMPosePose:
    """MMPose's inferencer on one view at a time; people sorted by mean keypoint score."""

    name = "mmpose"

    def __init__(self, settings: EstimatorSettings) -> None:
        try:
            from mmpose.apis import MMPoseInferencer
        except ImportError:
            raise UserError(INSTALL, ErrorCode.MISSING_PACKAGE) from None
        if not settings.mmpose_config or not settings.mmpose_checkpoint:
            raise UserError(NEEDS_MODEL, ErrorCode.MISSING_CHECKPOINT)
        files = [("config", settings.mmpose_config), ("checkpoint", settings.mmpose_checkpoint)]
        if settings.mmpose_detector_config:
            files.append(("detector config", settings.mmpose_detector_config))
        if settings.mmpose_detector_checkpoint:
            files.append(("detector checkpoint", settings.mmpose_detector_checkpoint))
        for what, path in files:
            if not Path(path).is_file():
                raise UserError(f"mmpose {what} {path} does not exist", ErrorCode.MISSING_CHECKPOINT)
        self._lock = threading.Lock()
        self._inferencer = MMPoseInferencer(
            pose2d=settings.mmpose_config,
            pose2d_weights=settings.mmpose_checkpoint,
            det_model=settings.mmpose_detector_config or "whole_image",
            det_weights=settings.mmpose_detector_checkpoint,
            det_cat_ids=[0],  # person
            device=torch_device(settings.device),
        )

    def detect(self, image: np.ndarray) -> list[Detection]:
        bgr = np.ascontiguousarray(image[:, :, ::-1])  # MMPose reads arrays as OpenCV BGR
        with self._lock:
            result = next(self._inferencer(bgr, show=False, return_vis=False))
        people = []
        for instance in result["predictions"][0]:
            points = np.asarray(instance["keypoints"], dtype=np.float64)
            scores = np.asarray(instance["keypoint_scores"], dtype=np.float64)
            if points.shape[0] < kp.NUM_KEYPOINTS:
                raise UserError(f"the mmpose model gives {points.shape[0]} keypoints; a body model with the 17 COCO keypoints is needed")
            keypoints = np.column_stack([points[: kp.NUM_KEYPOINTS, :2], np.clip(scores[: kp.NUM_KEYPOINTS], 0.0, 1.0)])
            people.append(keypoints)
        people.sort(key=lambda k: -float(k[:, 2].mean()))
        return [Detection(keypoints=k) for k in people]
