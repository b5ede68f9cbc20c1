"""Finished denoising steps on disk, so a diffusion job interrupted mid-denoising does not start over.

A diffusion job denoises the whole sequence before it can emit its first frame, so a crash, a SIGTERM
or a cancel at step 24 of 25 would otherwise throw away nearly all of its GPU time. After each step
the blended noise prediction the scheduler stepped with is written durably (``.npy``). A resumed job
builds its banks again, replays the saved predictions through a fresh scheduler (no UNet runs), and
goes on from the first missing step.

Why predictions and not latents: replaying ``scheduler.step`` rebuilds every scheduler's state
exactly, multistep ones included (their history is the same calls), and advances the scheduler's
random generator exactly as the first run did, so the frames are byte-identical to an uninterrupted
run's. The cost is one prediction per step on disk (4 x frames x h/8 x w/8 float32: 7.9 MB per step
for 120 frames at 512x512), removed once the job is done.

The checkpoints belong to one job run by one models folder, device, precision and pipeline
configuration; ``fingerprint`` records them, and checkpoints with another fingerprint are discarded.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tpc.image_io import write_atomic

log = logging.getLogger("tpc_backend.engines")

_FINGERPRINT = "fingerprint.json"
_STEP = "step_{:05d}.npy"


class DenoisingCheckpoints:
    """The saved steps of one job, in ``folder``."""

    def __init__(self, folder: str | Path, fingerprint: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))  # as it reads back

    def saved(self, steps: int) -> int:
        """How many steps, from the first on, are saved for this fingerprint (0..steps). Checkpoints of
        another fingerprint are removed."""
        path = self.folder / _FINGERPRINT
        try:
            matches = json.loads(path.read_text(encoding="utf-8")) == self.fingerprint
        except (OSError, ValueError):
            matches = False
        if not matches:
            if self.folder.exists():
                log.info("denoising checkpoints in %s are for other models or settings; starting over", self.folder)
                self.clear()
            return 0
        count = 0
        while count < steps and (self.folder / _STEP.format(count)).is_file():
            count += 1
        if count:
            log.info("resuming after denoising step %d of %d (saved in %s)", count, steps, self.folder)
        return count

    def load(self, step: int, device: torch.device) -> torch.Tensor:
        """The prediction saved for ``step``, as the float32 tensor it was."""
        array = np.load(self.folder / _STEP.format(step), allow_pickle=False)
        return torch.from_numpy(array).to(device)

    def save(self, step: int, prediction: torch.Tensor) -> None:
        """Keep ``step``'s prediction (durably: a crash right after does not lose it)."""
        if step == 0 or not (self.folder / _FINGERPRINT).is_file():
            self.clear()
            write_atomic(self.folder / _FINGERPRINT, json.dumps(self.fingerprint, sort_keys=True).encode(), durable=True)
        buffer = io.BytesIO()
        np.save(buffer, prediction.detach().to("cpu", torch.float32).numpy(), allow_pickle=False)
        write_atomic(self.folder / _STEP.format(step), buffer.getvalue(), durable=True)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
