"""Context windows: long sequences denoised a window of frames at a time, overlaps blended.

The motion module attends over a bounded number of frames (AnimateDiff: trained on 16, at most 32),
so a sequence longer than that is covered by overlapping windows. Every step, each window predicts
the noise of its frames and the predictions are averaged with weights that ramp down towards a
window's inner edges; neighbouring windows thus hand over smoothly instead of meeting at a seam.
"""

from __future__ import annotations

import numpy as np


def context_windows(frames: int, size: int, overlap: int) -> list[range]:
    """Windows of ``size`` frames, consecutive ones sharing at least ``overlap``, covering every frame.

    The last window ends at the last frame (it may overlap its neighbour by more), so every window
    the motion module sees is full length.
    """
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size, got size {size}, overlap {overlap}")
    if frames <= size:
        return [range(0, frames)]
    stride = size - overlap
    starts = list(range(0, frames - size, stride)) + [frames - size]
    return [range(start, start + size) for start in starts]


def blend_weights(window: range, frames: int, overlap: int) -> np.ndarray:
    """Per-frame weights of ``window``: 1 inside, ramping towards edges shared with another window."""
    length = len(window)
    position = np.arange(length, dtype=np.float64)
    ramp = np.ones(length)
    if window.start > 0:
        ramp = np.minimum(ramp, (position + 1) / (overlap + 1))
    if window.stop < frames:
        ramp = np.minimum(ramp, (length - position) / (overlap + 1))
    return ramp
