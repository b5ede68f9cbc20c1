"""Engines are picked by name through the service: the diffusion engine from a `--models` folder.

The models are the tiny random-weight set of `tpc-backend models tiny`, in the real on-disk format,
loaded by the backend process exactly as full-size weights would be.
"""

from __future__ import annotations

import subprocess

import pytest

from benchmarks.backend_jobs import BACKEND, Backend, collect, job
from tpc.image_io import decode_image
from tpc_protocol.client import JobFailed


def test_the_diffusion_engine_renders_through_the_service(tmp_path, example):
    written = subprocess.run([BACKEND, "models", "tiny", str(tmp_path / "models")], capture_output=True, text=True, timeout=600)
    assert written.returncode == 0, written.stderr
    backend = Backend(tmp_path / "data", "--models", str(tmp_path / "models")).start(timeout=300)
    try:
        with backend.client(timeout=300) as client:
            assert client.hello()["engines"] == ["preview", "diffusion"]
            result = collect(client.submit("diffused", **job(example, frames=2, size=64, engine="diffusion", steps=1)))
        assert result["done"] and sorted(result["frames"]) == [0, 1]
        assert decode_image(result["frames"][1]).shape == (64, 64, 3)
        assert result["report"].report_json["summary"]["frames"] == 2
    finally:
        assert backend.stop() == 0, backend.log()


def test_without_a_models_folder_the_diffusion_engine_says_so(shared_backend, example):
    with shared_backend.client() as client:
        with pytest.raises(JobFailed, match="needs a models folder: start the backend with `tpc-backend serve --models DIR`"):
            collect(client.submit("no-models", **job(example, frames=1, engine="diffusion")))
