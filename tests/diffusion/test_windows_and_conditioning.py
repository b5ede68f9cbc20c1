"""Context windows and the conditioning pictures (pure numpy/OpenCV parts of the diffusion engine)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tpc.drawing import OPENPOSE_COLORS
from tpc_backend.engines.diffusion.conditioning import letterbox, pose_image, working_size
from tpc_backend.engines.diffusion.windows import blend_weights, context_windows


@given(frames=st.integers(1, 200), size=st.integers(1, 32), data=st.data())
def test_windows_are_full_length_overlap_enough_and_cover_every_frame(frames, size, data):
    overlap = data.draw(st.integers(0, size - 1))
    windows = context_windows(frames, size, overlap)
    covered = np.zeros(frames, int)
    for window in windows:
        assert len(window) == min(size, frames) and 0 <= window.start and window.stop <= frames
        covered[window.start : window.stop] += 1
    assert covered.min() >= 1
    for first, second in zip(windows, windows[1:]):
        assert first.start < second.start and first.stop - second.start >= overlap
    total = np.zeros(frames)
    for window in windows:
        weights = blend_weights(window, frames, overlap)
        assert (weights > 0).all() and (weights <= 1).all()
        total[window.start : window.stop] += weights
    assert total.min() > 0  # every frame's blended prediction is defined


def test_blend_weights_ramp_only_towards_shared_edges():
    windows = context_windows(28, 16, 4)
    assert windows == [range(0, 16), range(12, 28)]
    first, last = (blend_weights(w, 28, 4) for w in windows)
    assert first[0] == 1 and last[-1] == 1  # sequence ends are not blended
    np.testing.assert_allclose(first[-4:], [0.8, 0.6, 0.4, 0.2])
    np.testing.assert_allclose(last[:4], [0.2, 0.4, 0.6, 0.8])
    with pytest.raises(ValueError):
        context_windows(10, 4, 4)


@pytest.mark.parametrize(
    "size, resolution, expected",
    [
        ((512, 512), 512, (512, 512)),
        ((1920, 1080), 512, (512, 320)),
        ((1080, 1920), 512, (320, 512)),
        ((100, 40), 64, (64, 64)),
        ((640, 480), 64, (64, 64)),
    ],
)
def test_working_size_keeps_the_aspect_with_sides_in_multiples_of_64(size, resolution, expected):
    assert working_size(size, resolution) == expected


def test_letterbox_keeps_proportions_and_fills_borders_with_the_edge():
    image = np.zeros((100, 50, 3), np.uint8)
    image[:, :, 0] = 200
    image[:, 0, 1] = 90  # a distinct left edge column
    boxed = letterbox(image, (128, 128))
    assert boxed.shape == (128, 128, 3)
    assert (boxed[:, :, 0] == 200).all()  # no black bars
    left = (128 - 64) // 2  # 100 x 50 fits as 128 x 64, centred
    assert boxed[64, left, 1] > 50 and all(np.array_equal(boxed[:, column], boxed[:, left]) for column in range(left))


def test_pose_images_are_openpose_skeletons_scaled_to_the_working_size(astronaut):
    _, keypoints, _ = astronaut
    small = pose_image([keypoints], (512, 512), (128, 128))
    assert small.shape == (128, 128, 3)
    colours = {tuple(int(c) for c in pixel) for pixel in small.reshape(-1, 3)}
    assert OPENPOSE_COLORS[0] in colours  # the nose joint's standard colour
    ys, xs = np.nonzero(small.any(axis=2))
    nose = keypoints[0, :2] / 4
    assert abs(xs.mean() - keypoints[keypoints[:, 2] > 0, 0].mean() / 4) < 16 and ys.min() <= nose[1] + 2
