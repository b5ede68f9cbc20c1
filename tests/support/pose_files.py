"""Pose files in other tools' formats, written from a PoseSequence: OpenPose frames and COCO keypoints.

Tests and benchmarks send these through every path that reads pose files (``tpc submit``, JobClient,
the Blender add-on) and compare against the PoseSequence they came from. OpenPose files are laid out
as OpenPose writes them (one ``<clip>_<12-digit frame>_keypoints.json`` per frame, BODY_25 or COCO-18
points, no picture size); the COCO file is a dataset document with one image per frame.
"""

from __future__ import annotations

import json

import numpy as np

from tpc import keypoints as kp
from tpc.pose_sequence import PoseSequence

OPENPOSE_LAYOUTS = {"body25": 25, "openpose_coco18": 18}


def openpose_frames(poses: PoseSequence, layout: str = "body25", clip: str = "clip") -> list[tuple[str, bytes]]:
    """One OpenPose JSON document per frame, as (file name, bytes), in frame order."""
    count = OPENPOSE_LAYOUTS[layout]
    places = kp.SOURCE_LAYOUTS[layout][1]
    documents = []
    for index, people in enumerate(poses.frames):
        entries = []
        for person in people:
            points = np.zeros((count, 3))
            points[list(places)] = person
            if layout == "body25":  # mid-hip, which COCO-17 has no place for
                points[8] = (points[9] + points[12]) / 2 if person[11, 2] > 0 and person[12, 2] > 0 else 0
            entries.append({"person_id": [-1], "pose_keypoints_2d": points.ravel().tolist()})
        document = {"version": 1.3, "people": entries}
        documents.append((f"{clip}_{index:012d}_keypoints.json", json.dumps(document).encode()))
    return documents


def coco_keypoints(poses: PoseSequence) -> bytes:
    """A COCO keypoint dataset document: one image per frame (with the canvas size), one annotation per
    person, confidence written as COCO's visibility flag (2 seen, 1 half sure, 0 not labelled)."""
    images, annotations = [], []
    for index, people in enumerate(poses.frames):
        image_id = 1000 + index
        images.append({"id": image_id, "file_name": f"{index:06d}.jpg", "width": poses.width, "height": poses.height})
        for person in people:
            flags = np.where(person[:, 2] >= 0.75, 2, np.where(person[:, 2] > 0, 1, 0))
            flat = np.column_stack([person[:, :2], flags]).ravel().tolist()
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                                "keypoints": flat, "num_keypoints": int((flags > 0).sum())})  # fmt: skip
    return json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}).encode()
