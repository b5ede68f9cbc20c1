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
from pathlib import Path

from tests.support.released_layout import FIXTURES, unet_config, write_downloaded_vae_and_encoder, write_released

BACKEND = str(Path(sys.executable).with_name("tpc-backend"))


def write_release(root: Path) -> int:
    """An SD1.5-size random release in Moore's download layout; returns the bytes written."""
    manifest = json.loads((FIXTURES / "animate_anyone_sd15_keys.json").read_text(encoding="utf-8"))
    write_released(root, manifest, unet_config("sd15"), "stable-diffusion-v1-5/unet")  # one file's tensors at a time
    write_downloaded_vae_and_encoder(root, "sd15")
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
