"""Iterative propagation of calibrated features (paper Sec. 4.2, Algorithm 1).

Consecutive target poses change little, so the calibrated features of neighbouring frames are nearly
interchangeable; using one per group of frames makes the conditioning temporally consistent, and
re-drawing the member at every denoising step lets every frame's own calibration contribute.

The L frames are split into M groups of m = floor(L / M) consecutive frames, the remainder joining
the last group. At every denoising step each group draws one member uniformly at random and every
frame of the group reads that member's calibrated feature. Draws depend only on (seed, step), never
on call order, so a job resumed at step t after a crash sees exactly the draws it would have seen.
"""

from __future__ import annotations

import numpy as np

DEFAULT_GROUPS = 30  # the paper's ablation (Table 2) picks M = 30


class IterativePropagation:
    """Which calibrated frame each frame reads, per denoising step.

    >>> propagation = IterativePropagation(num_frames=7, groups=3, seed=0)
    >>> propagation.groups
    [range(0, 2), range(2, 4), range(4, 7)]
    >>> selection = propagation.selection(step=10)  # len 7, constant within each group
    """

    def __init__(self, num_frames: int, groups: int = DEFAULT_GROUPS, seed: int = 0) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames}")
        if groups < 1:
            raise ValueError(f"groups must be at least 1, got {groups}")
        if seed < 0:
            raise ValueError(f"seed must not be negative, got {seed}")
        self.num_frames = int(num_frames)
        self.num_groups = min(int(groups), self.num_frames)  # never an empty group
        self.seed = int(seed)
        size = self.num_frames // self.num_groups
        starts = [g * size for g in range(self.num_groups)]
        ends = starts[1:] + [self.num_frames]
        self.groups: list[range] = [range(s, e) for s, e in zip(starts, ends)]
        self._starts = np.array(starts, dtype=np.int64)
        self._sizes = np.array([e - s for s, e in zip(starts, ends)], dtype=np.int64)
        self._group_of = np.repeat(np.arange(self.num_groups), self._sizes)

    def draws(self, step: int) -> np.ndarray:
        """The frame each group draws at ``step``: (M,) indices, one uniform member per group."""
        rng = np.random.default_rng([self.seed, int(step), 0x7EC])  # every bit of the seed counts
        return self._starts + rng.integers(0, self._sizes)

    def selection(self, step: int) -> np.ndarray:
        """(L,) calibrated-frame index each frame reads at ``step``."""
        return self.draws(step)[self._group_of]
