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
They live in the job's :class:`~tpc_backend.engines.scratch.JobScratch`, which the service provides:
the job's folder in the backend process, or the gateway's disk when the engine runs on a Ray worker.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import numpy as np
import torch

from ..scratch import JobScratch

log = logging.getLogger("tpc_backend.engines")

_FINGERPRINT = "denoising/fingerprint.json"
_STEP = "denoising/step_{:05d}.npy"


class DenoisingCheckpoints:
    """The saved steps of one job, in its scratch."""

    def __init__(self, scratch: JobScratch, fingerprint: dict[str, Any]) -> None:
        self.scratch = scratch
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))  # as it reads back

    def saved(self, steps: int) -> int:
        """How many steps, from the first on, are saved for this fingerprint (0..steps). Checkpoints of
        another fingerprint are removed."""
        names = self.scratch.names()
        try:
            matches = json.loads(self.scratch.read(_FINGERPRINT).decode("utf-8")) == self.fingerprint
        except (KeyError, ValueError):
            matches = False
        if not matches:
            if names:
                log.info("the saved denoising steps are for other models or settings; starting over")
                self.clear()
            return 0
        count = 0
        while count < steps and _STEP.format(count) in names:
            count += 1
        if count:
            log.info("resuming after denoising step %d of %d", count, steps)
        return count

    def load(self, step: int, device: torch.device) -> torch.Tensor:
        """The prediction saved for ``step``, as the float32 tensor it was."""
        array = np.load(io.BytesIO(self.scratch.read(_STEP.format(step))), allow_pickle=False)
        return torch.from_numpy(array).to(device)

    def save(self, step: int, prediction: torch.Tensor) -> None:
        """Keep ``step``'s prediction (durably: a crash right after does not lose it)."""
        if step == 0 or _FINGERPRINT not in self.scratch.names():
            self.clear()
            self.scratch.write(_FINGERPRINT, json.dumps(self.fingerprint, sort_keys=True).encode())
        buffer = io.BytesIO()
        np.save(buffer, prediction.detach().to("cpu", torch.float32).numpy(), allow_pickle=False)
        self.scratch.write(_STEP.format(step), buffer.getvalue())

    def clear(self) -> None:
        self.scratch.clear()
