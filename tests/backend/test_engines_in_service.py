"""Engines are picked by name through the service: the diffusion engine from a `--models` folder,
checked when the backend starts, and refused at submit when the backend has none.

The models are the tiny random-weight set of `tpc-backend models tiny`, in the real on-disk format,
loaded by the backend process exactly as full-size weights would be.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.backend import BACKEND, Backend
from tests.support.example_jobs import collect, job
from tpc.image_io import decode_image
from tpc_backend.engines.diffusion.model_folder import write_manifest
from tpc_protocol.client import JobFailed


def test_the_diffusion_engine_renders_through_the_service(tmp_path, example):
    written = subprocess.run([BACKEND, "models", "tiny", str(tmp_path / "models")], capture_output=True, text=True, timeout=600)
    assert written.returncode == 0, written.stderr
    backend = Backend(tmp_path / "data", "--models", str(tmp_path / "models")).start(timeout=300)
    try:
        with backend.client(timeout=300) as client:
            info = client.hello()
            assert info["engines"] == ["preview", "diffusion"] and info["unavailable"] == {}
            result = collect(client.submit("diffused", **job(example, frames=2, size=64, engine="diffusion", steps=1)))
        assert result["done"] and sorted(result["frames"]) == [0, 1]
        assert decode_image(result["frames"][1]).shape == (64, 64, 3)
        assert result["report"].report_json["summary"]["frames"] == 2
    finally:
        assert backend.stop() == 0, backend.log()


def test_without_a_models_folder_hello_names_the_diffusion_engine_unavailable_and_its_jobs_are_refused(shared_backend, example):
    sentence = "the diffusion engine needs a models folder: start the backend with `tpc-backend serve --models DIR`"
    with shared_backend.client() as client:
        info = client.hello()
        assert info["engines"] == ["preview"] and info["unavailable"] == {"diffusion": sentence}
        with pytest.raises(JobFailed, match=re.escape(sentence)) as refused:
            collect(client.submit("no-models", **job(example, frames=1, engine="diffusion")))
        with pytest.raises(JobFailed, match="this backend has no job no-models"):
            client.status("no-models")  # refused before it was journaled
    assert refused.value.code == "missing_models"


def broken_models_folders(root: Path) -> dict[str, tuple[Path, str]]:
    """Models folders `serve --models` must refuse at start, each with what its sentence says."""
    missing_config, wrong_class = root / "missing-config", root / "wrong-class"
    for folder in (missing_config, wrong_class):
        folder.mkdir()
        write_manifest(folder, 512)
    for name in ("unet", "vae", "controlnet", "motion_adapter"):
        (wrong_class / name).mkdir(parents=True)
        (wrong_class / name / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL"}))
    return {
        "no folder": (root / "nowhere", f"{root / 'nowhere'} is not a models folder (no models.json)"),
        "no config": (missing_config, f"the unet folder {missing_config / 'unet'} has no config.json"),
        "wrong class": (wrong_class, "holds 'AutoencoderKL', not 'UNet2DConditionModel'"),
    }


def test_an_unusable_models_folder_stops_the_backend_at_start_with_one_sentence(tmp_path):
    for name, (folder, words) in broken_models_folders(tmp_path).items():
        data = tmp_path / f"data-{name.replace(' ', '-')}"
        result = subprocess.run(
            [BACKEND, "serve", "--bind", "tcp://127.0.0.1:0", "--data", str(data), "--models", str(folder)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tpc-backend: error: ") and words in lines[0], (name, lines)
        assert not data.exists(), "nothing is set up for a backend that cannot start"
