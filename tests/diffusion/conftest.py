"""A tiny random-weight models folder, written once through `models tiny`'s code, and jobs to render."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpc_backend.calibration_job import load_poses, load_reference
from tpc_backend.engines.base import PreparedJob, RenderSettings
from tpc_backend.engines.diffusion.model_folder import ModelFolder
from tpc_backend.engines.diffusion.random_models import write_tiny_models

EXAMPLE = Path(__file__).resolve().parents[2] / "backend" / "examples" / "astronaut"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> ModelFolder:
    return write_tiny_models(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_engine(tiny_models):
    from tpc_backend.engines.diffusion import DiffusionEngine

    return DiffusionEngine(tiny_models.root)


@pytest.fixture(scope="session")
def make_job():
    """PreparedJob of the bundled astronaut example, first ``frames`` poses, with these settings."""
    reference = load_reference(EXAMPLE / "reference.jpg", EXAMPLE / "reference_keypoints.json", EXAMPLE / "reference_mask.png")
    poses = load_poses(EXAMPLE / "poses.json")

    def make(frames: int = 5, **settings) -> PreparedJob:
        clip = type(poses)(width=poses.width, height=poses.height, fps=poses.fps, frames=poses.frames[:frames])
        settings = {"engine": "diffusion", "steps": 3, **settings}
        return PreparedJob(
            job_id="diffusion-test",
            reference_image=reference.image,
            reference_people=reference.people,
            poses=clip,
            settings=RenderSettings(**settings),
        )

    return make


@pytest.fixture(scope="session")
def moore_release(tmp_path_factory) -> Path:
    """A tiny Moore-AnimateAnyone release in its download layout (tests/support/released_layout.py)."""
    from tests.support.released_layout import write_tiny_release

    return write_tiny_release(tmp_path_factory.mktemp("release") / "pretrained_weights")


@pytest.fixture(scope="session")
def moore_models(moore_release, tmp_path_factory) -> ModelFolder:
    """``moore_release`` converted by ``models convert``'s code into a reference-poseguider models folder."""
    from tpc_backend.engines.diffusion.convert import convert_released

    return convert_released("animate-anyone", moore_release, tmp_path_factory.mktemp("converted") / "moore")
