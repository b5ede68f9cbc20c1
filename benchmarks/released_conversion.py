"""Converting an SD1.5-size AnimateAnyone release: wall time, peak memory and bytes of `models convert`.

    .venv/bin/python -m benchmarks.released_conversion                 # needs about 20 GB of free disk
    .venv/bin/python -m benchmarks.released_conversion --dtype fp16

Writes random weights in Moore-AnimateAnyone's released layout at the real sizes -- the four ``.pth``
files with every key and shape of tests/diffusion/fixtures/released/animate_anyone_sd15_keys.json in
fp32 (as released), SD1.5's UNet config, the sd-vae-ft-mse-size VAE and a two-layer CLIP image encoder
with ViT-L/14's input and projection, both as the downloads hold them (pickled ``.bin``) -- then runs
the real ``tpc-backend models convert`` in a child process and prints its wall time, its peak resident
memory (the child's maxrss, which counts the memory-mapped checkpoint pages it touched) and what it
wrote. Speed depends on the disk more than on the values, so random weights measure what real ones cost.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import torch

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "diffusion" / "fixtures" / "released"
BACKEND = str(Path(sys.executable).with_name("tpc-backend"))


def write_release(root: Path) -> int:
    """An SD1.5-size random release in Moore's download layout; returns the bytes written."""
    from diffusers.models.embeddings import SinusoidalPositionalEmbedding

    from tpc_backend.engines.diffusion.random_models import build_random

    manifest = json.loads((FIXTURES / "animate_anyone_sd15_keys.json").read_text(encoding="utf-8"))
    generator = torch.Generator().manual_seed(0)

    def tensor(key: str, shape: list[int]) -> torch.Tensor:
        if key.endswith("pos_encoder.pe"):  # a buffer: AnimateDiff's sinusoid, the same in both attention blocks
            return SinusoidalPositionalEmbedding(shape[2], shape[1]).pe.clone()
        return torch.randn(shape, generator=generator) * 0.02

    for name, keys in manifest.items():
        state = OrderedDict((key, tensor(key, shape)) for key, shape in keys.items())
        torch.save(state, root / name)
        del state
    base = root / "stable-diffusion-v1-5" / "unet"
    base.mkdir(parents=True)
    config = json.loads((FIXTURES / "unet_configs.json").read_text(encoding="utf-8"))["sd15"]
    (base / "config.json").write_text(json.dumps(config), encoding="utf-8")
    models = build_random("sd15")
    models.vae.save_pretrained(root / "sd-vae-ft-mse", safe_serialization=False)
    encoder = root / "image_encoder"
    encoder.mkdir()
    models.image_encoder.config.to_json_file(encoder / "config.json")
    torch.save(models.image_encoder.state_dict(), encoder / "pytorch_model.bin")
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), help="passed to models convert")
    parser.add_argument("--work", type=Path, help="folder for the release and the converted models (default: a temporary one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tpc-convert-", dir=args.work))
    try:
        source = work / "pretrained_weights"
        source.mkdir()
        started = time.perf_counter()
        written = write_release(source)
        print(f"random SD1.5-size release: {written / 2**30:.2f} GiB written in {time.perf_counter() - started:.0f} s")
        command = [BACKEND, "models", "convert", "--from", "animate-anyone", str(source), str(work / "models")]
        if args.dtype:
            command += ["--dtype", args.dtype]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(result.stderr)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # kilobytes on Linux
        out = sum(path.stat().st_size for path in (work / "models").rglob("*") if path.is_file())
        print(
            f"models convert{' --dtype ' + args.dtype if args.dtype else ''}: {seconds:.0f} s, peak resident memory "
            f"{peak / 2**30:.2f} GiB, {out / 2**30:.2f} GiB written ({out / seconds / 2**20:.0f} MiB/s)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
