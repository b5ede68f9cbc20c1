"""Where a job's banks live: on the GPU while they fit a budget, in pinned host memory beyond.

A bank is every spatial self-attention input of one image: about 22 MiB in fp16 at 512 x 512 with
SD1.5, so a 120-frame job's whole calibrated banks take 2.6 GiB; person tokens only (the default)
keep a share set by the job's largest calibrated person: 56 % on the bundled example, whose person
covers up to 44 % of the frame (benchmarks/bank_memory.py). The reference bank is read by every
conditional row at every step, so it always stays on the compute device. Of the calibrated banks a
window reads at most one per frame (fewer with iterative propagation, which shares one per group),
so when they wait in host memory only those are moved to the GPU: the GPU footprint is then bounded
by the window, not by the length of the job. Short jobs keep everything on the GPU and skip the
copies.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tpc.attention import Banks

DEFAULT_GPU_BUDGET = 1 << 30  # bytes of banks kept on a GPU before the calibrated ones move to the host


def default_budget(device: torch.device) -> int | None:
    """The GPU budget on CUDA; no limit on the CPU, where host and device memory are one."""
    return DEFAULT_GPU_BUDGET if torch.device(device).type == "cuda" else None


def keeps_on_device(nbytes: int, budget: int | None) -> bool:
    """Whether a job's ``nbytes`` of banks all stay on the compute device (None: no limit)."""
    return budget is None or nbytes <= budget


class BankStore:
    """The reference bank and the calibrated banks of ``frames`` frames, written at t = 0, gathered per window and step."""

    def __init__(self, frames: int, device: torch.device, budget: int | None) -> None:
        self.frames = int(frames)
        self.device = torch.device(device)
        self.budget = budget
        self.reference: Banks | None = None  # on the compute device
        self.resident = True  # decided by the first calibrated write
        self._layers: list[torch.Tensor] | None = None
        self._kept: tuple[torch.Tensor, ...] | None = None  # person tokens: kept count per frame and layer
        self.peak_gathered_bytes = 0  # largest copy to the device for one window and step

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame's calibrated bank (0 before the first write or without TPC)."""
        return sum(layer[0].numel() * layer.element_size() for layer in self._layers or ())

    @property
    def nbytes(self) -> int:
        return (self.reference.nbytes if self.reference is not None else 0) + self.frames * self.frame_bytes

    @property
    def device_bytes(self) -> int:
        """Bytes resident on the compute device."""
        return self.nbytes if self.resident else self.reference.nbytes

    def write_reference(self, banks: Banks) -> None:
        self.reference = banks.to(self.device)

    def write(self, start: int, banks: Banks) -> None:
        """Store calibrated ``banks`` as frames ``start ..``; the first write decides where they all live."""
        if self.reference is None:
            raise RuntimeError("write the reference bank first")
        if self._layers is None:
            frame_bytes = banks.nbytes // max(1, len(banks))
            self.resident = keeps_on_device(self.reference.nbytes + self.frames * frame_bytes, self.budget)
            where = self.device if self.resident else torch.device("cpu")
            pin = not self.resident and self.device.type == "cuda"
            self._layers = [
                torch.empty((self.frames, *layer.shape[1:]), dtype=layer.dtype, device=where, pin_memory=pin) for layer in banks.layers
            ]
            if banks.kept is not None:
                self._kept = tuple(torch.zeros(self.frames, dtype=torch.long) for _ in banks.kept)
        if (banks.kept is None) != (self._kept is None):
            raise ValueError("a job's calibrated banks are either all whole or all person tokens")
        for stored, layer in zip(self._layers, banks.layers):
            stored[start : start + len(banks)].copy_(layer)
        for stored, kept in zip(self._kept or (), banks.kept or ()):
            stored[start : start + len(banks)] = kept

    def gather(self, frames: Sequence[int]) -> tuple[Banks, list[int]]:
        """Calibrated banks holding ``frames`` on the compute device, and the position of each frame in them.

        Banks kept on the device are handed over whole (readers index them directly, no copy);
        banks on the host are copied over, just these frames, in this order.
        """
        if self._layers is None:
            raise RuntimeError("no calibrated banks were written")
        frames = [int(frame) for frame in frames]
        if self.resident:
            return Banks(tuple(self._layers), self._kept), frames
        index = torch.tensor(frames, dtype=torch.long)
        staged = []  # gathered into (pinned) host memory, then one asynchronous copy per layer
        for layer in self._layers:
            buffer = torch.empty((len(index), *layer.shape[1:]), dtype=layer.dtype, pin_memory=layer.is_pinned())
            staged.append(torch.index_select(layer, 0, index, out=buffer).to(self.device, non_blocking=True))
        kept = None if self._kept is None else tuple(kept.index_select(0, index) for kept in self._kept)
        picked = Banks(tuple(staged), kept)
        self.peak_gathered_bytes = max(self.peak_gathered_bytes, picked.nbytes)
        return picked, list(range(len(frames)))
