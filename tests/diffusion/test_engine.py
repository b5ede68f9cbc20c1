"""The diffusion engine end to end on the tiny random-weight models folder, through its real loader."""

from __future__ import annotations

import numpy as np
import pytest

from tpc.attention import person_token_order
from tpc_backend.engines.diffusion.pipeline import latent_cells
from tpc_backend.errors import UserError


def render(engine, job, start: int = 0, cancelled=lambda: False):
    frames, progress = {}, []
    engine.render(job, start, lambda index, rgb: frames.__setitem__(index, rgb.copy()), cancelled, lambda f, m: progress.append(f))
    return frames, progress


@pytest.fixture(scope="module")
def baseline(tiny_engine, make_job):
    return render(tiny_engine, make_job(seed=7))


def test_one_frame_per_pose_frame_at_the_job_size_with_progress(baseline, make_job):
    frames, progress = baseline
    job = make_job(seed=7)
    assert sorted(frames) == list(range(len(job)))
    for frame in frames.values():
        assert frame.shape == (job.size[1], job.size[0], 3) and frame.dtype == np.uint8
    assert len({frame.tobytes() for frame in frames.values()}) == len(frames)  # every frame is its own
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)


def test_the_same_job_gives_the_same_bytes_from_any_start(tiny_engine, make_job, baseline):
    again, _ = render(tiny_engine, make_job(seed=7))
    resumed, _ = render(tiny_engine, make_job(seed=7), start=3)
    assert sorted(again) == sorted(baseline[0]) == [0, 1, 2, 3, 4]
    assert all(np.array_equal(baseline[0][i], again[i]) for i in baseline[0])
    assert sorted(resumed) == [3, 4]
    assert all(np.array_equal(baseline[0][i], resumed[i]) for i in resumed)


def test_tpc_off_whole_banks_another_groups_count_and_another_seed_each_change_the_frames(tiny_engine, make_job, baseline):
    reference = baseline[0]
    for settings in ({"tpc": False}, {"person_tokens": False}, {"groups": 2}, {"seed": 8}):
        frames, _ = render(tiny_engine, make_job(**{"seed": 7, **settings}))
        assert sorted(frames) == sorted(reference) == [0, 1, 2, 3, 4], settings
        assert all(not np.array_equal(reference[i], frames[i]) for i in reference), settings


def test_tpc_off_reads_no_calibrated_feature(tiny_engine, make_job):
    """Without TPC the groups setting has nothing to act on: plain reference attention either way."""
    plain, _ = render(tiny_engine, make_job(seed=7, tpc=False, groups=30))
    other, _ = render(tiny_engine, make_job(seed=7, tpc=False, groups=2))
    assert sorted(plain) == sorted(other) == [0, 1, 2, 3, 4]
    assert all(np.array_equal(plain[i], other[i]) for i in plain)


def test_the_calibrated_banks_keep_the_tokens_of_each_frames_calibrated_person(tiny_engine, make_job):
    """The engine hands the pipeline each frame's calibrated mask: the stored banks keep its person."""
    pipeline, states = tiny_engine.pipeline, []
    prepare = pipeline.prepare
    pipeline.prepare = lambda *args, **kwargs: states.append(prepare(*args, **kwargs)) or states[-1]
    try:
        job = make_job(frames=3, seed=7, steps=1)
        render(tiny_engine, job)
    finally:
        del pipeline.prepare
    (state,) = states
    assert state.inputs.person_tokens  # the default
    banks, _ = state.banks.gather(range(len(job)))
    assert banks.kept is not None
    grid = tuple(side // 8 for side in state.inputs.reference.shape[:2])
    for layer, kept, whole in zip(banks.layers, banks.kept, state.banks.reference.layers):
        expected = [person_token_order(latent_cells(job.calibration(i).mask, grid), whole.shape[1])[1] for i in range(len(job))]
        assert kept.tolist() == expected and layer.shape[1] == max(expected)
    assert 0 < sum(layer.shape[1] for layer in banks.layers) < sum(layer.shape[1] for layer in state.banks.reference.layers)


def test_the_pose_skeletons_guide_the_frames(tiny_engine, make_job):
    """ControlNet is wired in: with TPC off, only the poses differ between these jobs."""
    job = make_job(seed=7, tpc=False)
    moved = make_job(seed=7, tpc=False)
    moved.poses.frames = [[person + np.array([12.0, 0.0, 0.0]) for person in people] for people in job.poses.frames]
    a, _ = render(tiny_engine, job)
    b, _ = render(tiny_engine, moved)
    assert sorted(a) == sorted(b) == [0, 1, 2, 3, 4]
    assert all(not np.array_equal(a[i], b[i]) for i in a)


def test_frames_come_at_the_size_the_job_asks_for(tiny_engine, make_job):
    frames, _ = render(tiny_engine, make_job(frames=2, width=96, height=64))
    assert [frame.shape for frame in frames.values()] == [(64, 96, 3)] * 2


def test_cancelling_returns_promptly_without_frames(tiny_engine, make_job):
    polls = []

    def cancelled() -> bool:
        polls.append(1)
        return len(polls) > 3

    frames, _ = render(tiny_engine, make_job(seed=7), cancelled=cancelled)
    assert frames == {} and len(polls) == 4


def test_impossible_settings_are_one_sentence(tiny_engine, make_job):
    with pytest.raises(UserError, match="steps must be between 1 and 1000"):
        render(tiny_engine, make_job(steps=0))
