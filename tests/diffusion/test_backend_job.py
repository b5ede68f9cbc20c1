"""Acceptance: `tpc-backend models tiny`, `tpc-backend serve --models`, `tpc submit --engine diffusion`.

Real console scripts, a real backend process on loopback, the tiny models written by the real command.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support.backend import BACKEND, TPC, Backend
from tests.support.example_jobs import example_files, job
from tests.support.waiting import wait_until
from tpc.image_io import read_image

FRAMES, SIZE = 4, 128


def run(command: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([command, *args], capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "tiny"
    result = run(BACKEND, "models", "tiny", str(folder))
    assert result.returncode == 0, result.stderr
    assert f"serve them with `tpc-backend serve --models {folder}`" in result.stderr
    return folder


@pytest.fixture(scope="module")
def backend(tmp_path_factory, models):
    server = Backend(tmp_path_factory.mktemp("backend") / "data", "--models", str(models)).start()
    yield server
    if server.alive:
        assert server.stop() == 0, server.log()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    arguments = job(example_files(), frames=FRAMES, size=SIZE)
    (folder / "reference.jpg").write_bytes(arguments["reference_image"])
    (folder / "poses.json").write_text(json.dumps(arguments["poses"]))
    (folder / "keypoints.json").write_text(json.dumps(arguments["reference_keypoints"]))
    (folder / "mask.png").write_bytes(arguments["reference_mask"])
    return folder


def submit(backend, files: Path, out: Path, job_id: str, *settings: str) -> list[np.ndarray]:
    result = run(
        TPC, "submit", "--backend", backend.address, "--out", str(out), "--job-id", job_id, "--engine", "diffusion",
        "--steps", "2", "--guidance", "2.5", "--reference", str(files / "reference.jpg"), "--poses", str(files / "poses.json"),
        "--reference-keypoints", str(files / "keypoints.json"), "--reference-mask", str(files / "mask.png"), *settings,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + backend.log()
    return [read_image(path) for path in sorted(out.glob("0*.png"))]


def test_a_diffusion_job_through_the_backend_is_reproducible_and_tpc_and_groups_matter(backend, files, tmp_path):
    first = submit(backend, files, tmp_path / "a", "seed-5-a", "--seed", "5")
    assert len(first) == FRAMES and all(frame.shape == (SIZE, SIZE, 3) for frame in first)
    again = submit(backend, files, tmp_path / "b", "seed-5-b", "--seed", "5")
    assert len(again) == FRAMES and all(np.array_equal(x, y) for x, y in zip(first, again))
    for job_id, extra in (("no-tpc", ("--no-tpc",)), ("groups-2", ("--groups", "2"))):
        other = submit(backend, files, tmp_path / job_id, job_id, "--seed", "5", *extra)
        assert len(other) == FRAMES
        assert all(not np.array_equal(x, y) for x, y in zip(first, other)), extra


def test_a_diffusion_job_killed_mid_denoising_resumes_after_its_last_finished_step(models, files, tmp_path):
    steps = ("--steps", "20", "--seed", "5")  # many steps, so the kill lands mid-denoising
    backend = Backend(tmp_path / "data", "--models", str(models)).start()
    try:
        first = subprocess.Popen(
            [TPC, "submit", "--backend", backend.address, "--out", str(tmp_path / "first"), "--job-id", "killed",
             "--engine", "diffusion", "--guidance", "2.5", *steps, "--reference", str(files / "reference.jpg"),
             "--poses", str(files / "poses.json"), "--reference-keypoints", str(files / "keypoints.json"),
             "--reference-mask", str(files / "mask.png")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        saved = backend.data / "jobs" / "killed" / "scratch" / "denoising"

        def three_steps_saved() -> bool:
            assert first.poll() is None, backend.log()
            return (saved / "step_00002.npy").exists()

        wait_until(three_steps_saved, 300, lambda: f"three denoising steps were never saved:\n{backend.log()}")
        backend.kill()
        first.kill()
        first.wait()
        assert not list((backend.data / "jobs" / "killed" / "frames").glob("*.png")), "the kill must land mid-denoising"

        backend.start()  # resumes the job at once; the submit below attaches to it
        resumed = submit(backend, files, tmp_path / "resumed", "killed", *steps)
        line = next(line for line in backend.log().splitlines() if "resuming after denoising step" in line)
        assert 3 <= int(line.split("resuming after denoising step ")[1].split()[0]) < 20, line
        assert not saved.parent.exists(), "a finished job keeps no scratch files"
        uninterrupted = submit(backend, files, tmp_path / "uninterrupted", "uninterrupted", *steps)
    finally:
        if backend.alive:
            backend.kill()
    assert len(resumed) == len(uninterrupted) == FRAMES and all(np.array_equal(x, y) for x, y in zip(resumed, uninterrupted))


def test_pull_without_internet_is_one_sentence(tmp_path):
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens on port 9
    result = run(BACKEND, "models", "pull", str(tmp_path / "models"), env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tpc-backend: error: cannot reach http://127.0.0.1:9 to download")
    assert "copy diffusers-format folders into" in lines[0]
    assert not (tmp_path / "models" / "models.json").exists()


def test_a_models_folder_that_is_a_file_is_one_sentence(tmp_path):
    (tmp_path / "plain").write_text("not a folder")
    clash = run(BACKEND, "models", "tiny", str(tmp_path / "plain"))
    assert (
        clash.returncode == 2
        and clash.stderr.strip() == f"tpc-backend: error: {tmp_path / 'plain'} exists and is not a folder; give a folder for the models"
    )


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """A tiny Moore-AnimateAnyone release converted by the real `models convert` command (served at 128 px:
    the tiny UNet's deepest blocks need more than 1 x 1 cells)."""
    from tests.support.released_layout import write_tiny_release

    root = tmp_path_factory.mktemp("released")
    source = write_tiny_release(root / "pretrained_weights")
    folder = root / "moore"
    result = run(BACKEND, "models", "convert", "--from", "animate-anyone", str(source), str(folder))
    assert result.returncode == 0, result.stderr
    assert f"serve them with `tpc-backend serve --models {folder}`" in result.stderr
    manifest = json.loads((folder / "models.json").read_text())
    (folder / "models.json").write_text(json.dumps({**manifest, "resolution": 128}))
    return folder


def test_converted_animate_anyone_models_serve_reproducible_jobs_and_no_tpc_differs(converted, files, tmp_path):
    backend = Backend(tmp_path / "data", "--models", str(converted)).start()
    try:
        first = submit(backend, files, tmp_path / "a", "moore-a", "--seed", "3")
        again = submit(backend, files, tmp_path / "b", "moore-b", "--seed", "3")
        plain = submit(backend, files, tmp_path / "plain", "moore-plain", "--seed", "3", "--no-tpc")
    finally:
        assert backend.stop() == 0, backend.log()
    assert len(first) == len(again) == len(plain) == FRAMES
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    assert all(not np.array_equal(x, y) for x, y in zip(first, plain))


def test_convert_of_a_broken_release_is_one_sentence_and_writes_nothing(tmp_path):
    (tmp_path / "pretrained_weights").mkdir()
    result = run(BACKEND, "models", "convert", "--from", "musepose", str(tmp_path / "pretrained_weights"), str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "lacks MusePose/denoising_unet.pth (it comes from TMElyralab/MusePose on Hugging Face)" in lines[0]
    assert not (tmp_path / "out").exists()


def test_pulling_a_released_family_without_internet_is_one_sentence(tmp_path):
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9"}
    result = run(BACKEND, "models", "pull", "--profile", "musepose", str(tmp_path / "muse"), env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach http://127.0.0.1:9" in lines[0] and "models convert --from musepose SRC" in lines[0]
    assert list(tmp_path.iterdir()) == []
