"""Where a job's banks live: on the GPU while they fit a budget, in pinned host memory beyond.

A bank is every spatial self-attention input of one image: about 23 MB in fp16 at 512 x 512 with
SD1.5, so a 120-frame job's calibrated banks take 2.8 GB. At each denoising step a window reads the
reference bank and at most one calibrated bank per frame (fewer with iterative propagation, which
shares one per group), so only those are moved to the GPU: the GPU footprint is then bounded by the
window, not by the length of the job. Short jobs keep everything on the GPU and skip the copies.
"""

from __future__ import annotations

from typing import Sequence

import torch

from tpc.attention import Banks

DEFAULT_GPU_BUDGET = 1 << 30  # bytes of banks kept on a GPU before they move to the host


def default_budget(device: torch.device) -> int | None:
    """The GPU budget on CUDA; no limit on the CPU, where host and device memory are one."""
    return DEFAULT_GPU_BUDGET if torch.device(device).type == "cuda" else None


def keeps_on_device(image_bytes: int, count: int, budget: int | None) -> bool:
    """Whether ``count`` banks of ``image_bytes`` each stay on the compute device (None: no limit)."""
    return budget is None or image_bytes * count <= budget


class BankStore:
    """Banks of ``count`` images, written in chunks at t = 0, gathered per window and step."""

    def __init__(self, count: int, device: torch.device, budget: int | None) -> None:
        self.count = int(count)
        self.device = torch.device(device)
        self.budget = budget
        self.resident = True  # decided by the first write
        self._layers: list[torch.Tensor] | None = None
        self.peak_gathered_bytes = 0  # largest copy to the device for one window and step

    @property
    def nbytes(self) -> int:
        return sum(layer.numel() * layer.element_size() for layer in self._layers or ())

    @property
    def device_bytes(self) -> int:
        """Bytes resident on the compute device (0 when kept on the host)."""
        return self.nbytes if self.resident else 0

    def write(self, start: int, banks: Banks) -> None:
        """Store ``banks`` as images ``start ..``; the first write decides where everything lives."""
        if self._layers is None:
            self.resident = keeps_on_device(banks.nbytes // max(1, len(banks)), self.count, self.budget)
            where = self.device if self.resident else torch.device("cpu")
            pin = not self.resident and self.device.type == "cuda"
            self._layers = [
                torch.empty((self.count, *layer.shape[1:]), dtype=layer.dtype, device=where, pin_memory=pin)
                for layer in banks.layers
            ]
        for stored, layer in zip(self._layers, banks.layers):
            stored[start : start + len(banks)].copy_(layer)

    def gather(self, images: Sequence[int]) -> tuple[Banks, list[int]]:
        """Banks holding ``images`` on the compute device, and the position of each image in them.

        Banks kept on the device are handed over whole (readers index them directly, no copy);
        banks on the host are copied over, just these images, in this order.
        """
        if self._layers is None:
            raise RuntimeError("no banks were written")
        images = [int(image) for image in images]
        if self.resident:
            return Banks(tuple(self._layers)), images
        index = torch.tensor(images, dtype=torch.long)
        staged = []  # gathered into (pinned) host memory, then one asynchronous copy per layer
        for layer in self._layers:
            buffer = torch.empty((len(index), *layer.shape[1:]), dtype=layer.dtype, pin_memory=layer.is_pinned())
            staged.append(torch.index_select(layer, 0, index, out=buffer).to(self.device, non_blocking=True))
        picked = Banks(tuple(staged))
        self.peak_gathered_bytes = max(self.peak_gathered_bytes, picked.nbytes)
        return picked, list(range(len(images)))
