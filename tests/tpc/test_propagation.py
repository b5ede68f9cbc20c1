"""Iterative propagation (paper Algorithm 1): groups, uniform draws, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tpc.propagation import DEFAULT_GROUPS, IterativePropagation


@given(frames=st.integers(1, 500), groups=st.integers(1, 60), seed=st.integers(0, 2**40), step=st.integers(0, 1000))
def test_groups_partition_the_frames_and_draws_stay_in_their_group(frames, groups, seed, step):
    propagation = IterativePropagation(frames, groups, seed)
    expected_groups = min(groups, frames)
    size = frames // expected_groups
    assert len(propagation.groups) == expected_groups
    assert [len(g) for g in propagation.groups[:-1]] == [size] * (expected_groups - 1)
    assert len(propagation.groups[-1]) == size + frames % expected_groups  # the remainder joins the last group
    assert sum(len(g) for g in propagation.groups) == frames
    selection = propagation.selection(step)
    assert selection.shape == (frames,)
    for group in propagation.groups:
        chosen = set(selection[group.start : group.stop].tolist())
        assert len(chosen) == 1 and chosen.pop() in group


def test_same_seed_same_draws_whatever_the_order_of_calls():
    a = IterativePropagation(120, seed=7)
    b = IterativePropagation(120, seed=7)
    forwards = [a.selection(t).tolist() for t in range(25)]
    backwards = [b.selection(t).tolist() for t in reversed(range(25))][::-1]
    assert forwards == backwards  # a job resumed at step t sees the same draws
    other = IterativePropagation(120, seed=8)
    assert any(other.selection(t).tolist() != forwards[t] for t in range(25))
    assert len({tuple(s) for s in forwards}) > 20  # draws change from step to step


def test_draws_are_uniform_within_a_group():
    propagation = IterativePropagation(120, groups=30, seed=0)  # groups of 4
    starts = np.array([g.start for g in propagation.groups])
    counts = np.zeros(4)
    for step in range(4000):
        counts += np.bincount(propagation.draws(step) - starts, minlength=4)
    expected = counts.sum() / 4
    chi_square = ((counts - expected) ** 2 / expected).sum()
    assert chi_square < 16.3  # p = 0.001 for 3 degrees of freedom


def test_defaults_and_bad_arguments():
    assert DEFAULT_GROUPS == 30
    assert len(IterativePropagation(120).groups) == 30
    assert IterativePropagation(3, groups=30).num_groups == 3
    with pytest.raises(ValueError):
        IterativePropagation(0)
    with pytest.raises(ValueError):
        IterativePropagation(10, groups=0)
    with pytest.raises(ValueError):
        IterativePropagation(10, seed=-1)


def test_every_bit_of_the_seed_counts():
    low, high = IterativePropagation(300, seed=5), IterativePropagation(300, seed=5 + 2**32)
    assert any(low.selection(t).tolist() != high.selection(t).tolist() for t in range(5))
