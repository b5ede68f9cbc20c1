"""The diffusion engine's pose pictures: whole-body DWPose drawings at the working size, faces optional."""

from __future__ import annotations

import numpy as np

from tpc.wholebody import HandsFace
from tpc_backend.engines.diffusion.conditioning import pose_image


def test_hands_and_face_are_scaled_to_the_working_size_and_faces_can_be_left_out(astronaut):
    _, keypoints, _ = astronaut
    hand = np.column_stack([np.linspace(100, 300, 21), np.full(21, 450.0), np.full(21, 0.9)])
    face = np.column_stack([np.linspace(180, 260, 68), np.full(68, 60.0), np.full(68, 0.9)])
    extras = [HandsFace(left_hand=hand, face=face)]
    with_face = pose_image([keypoints], (512, 512), (256, 384), extras)
    assert with_face.shape == (384, 256, 3)
    x, y = int(round(hand[0, 0] * 0.5)), int(round(hand[0, 1] * 0.75))
    assert tuple(with_face[y, x]) == (0, 0, 255)  # the wrist's blue joint, where the working size puts it
    assert tuple(with_face[int(round(60 * 0.75)), int(round(220 * 0.5))]) == (255, 255, 255)
    without = pose_image([keypoints], (512, 512), (256, 384), extras, face=False)  # as MusePose was trained
    assert not (without == 255).all(axis=2).any() and tuple(without[y, x]) == (0, 0, 255)
    body_only = pose_image([keypoints], (512, 512), (256, 384))
    assert tuple(body_only[y, x]) != (0, 0, 255)
