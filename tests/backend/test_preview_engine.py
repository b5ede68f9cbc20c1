"""The preview engine from stored inputs, as a worker runs it: deterministic from any frame, cancellable."""

from __future__ import annotations

import json

import pytest

from tests.support.example_jobs import job
from tpc.image_io import encode_png
from tpc_backend.engines.registry import EngineOptions, EngineRegistry
from tpc_backend.errors import UserError
from tpc_backend.service.data_folder import DataFolder
from tpc_backend.service.job_inputs import JobInputs, prepare_job, render_settings


@pytest.fixture
def prepared(tmp_path, example):
    def make(**settings):
        arguments = job(example, frames=6, size=160)
        folder = DataFolder(tmp_path / "data").job("engine-test")
        JobInputs(
            arguments["reference_image"], json.dumps(arguments["poses"]).encode(),
            json.dumps(arguments["reference_keypoints"]).encode(), arguments["reference_mask"],
        ).write(folder)  # fmt: skip
        return prepare_job("engine-test", folder, render_settings(settings, "preview"))

    return make


def render(job, start=0, cancel_after=None):
    frames = {}
    engine = EngineRegistry().get("preview")

    def emit(index, rgb):
        frames[index] = encode_png(rgb)

    engine.render(job, start, emit, lambda: cancel_after is not None and len(frames) >= cancel_after, lambda f, m: None)
    return frames


def test_any_start_gives_the_same_frames(prepared):
    full = render(prepared())
    assert sorted(full) == list(range(6))
    assert render(prepared(), start=4) == {4: full[4], 5: full[5]}


def test_cancel_is_noticed_within_a_frame(prepared):
    assert sorted(render(prepared(), cancel_after=2)) == [0, 1]


def test_without_tpc_the_reference_is_not_calibrated(prepared):
    assert render(prepared(tpc=False))[3] != render(prepared())[3]


def test_engines_load_once_and_unknown_ones_are_named():
    registry = EngineRegistry(EngineOptions())
    assert registry.get("preview") is registry.get("preview")
    with pytest.raises(UserError, match="unknown engine 'nope'; this backend knows preview, diffusion"):
        registry.get("nope")
    with pytest.raises(UserError, match="needs a models folder"):
        registry.get("diffusion")


def test_the_fits_of_calibrated_frames_are_kept_and_the_others_found_without_warping(prepared):
    """What the worker's report reads: after the diffusion engine's order (every frame calibrated
    before the first is emitted) the fits are those calibrations' own, and without them a search finds
    the same ones."""
    job = prepared()
    calibrated = [job.calibration(index) for index in range(len(job))]
    assert all(job.fits(index) is calibration.fits for index, calibration in enumerate(calibrated))
    searched = prepared(tpc=False)
    assert [[fit.to_report() for fit in searched.fits(index)] for index in range(len(job))] == [
        [fit.to_report() for fit in calibration.fits] for calibration in calibrated
    ]
