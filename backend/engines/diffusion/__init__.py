"""The ``diffusion`` engine: SD1.5 + reference UNet + pose conditioning + AnimateDiff, with TPC.

Importing this package is cheap; torch, diffusers and transformers load when an engine is built or a
model folder is written.

- :class:`DiffusionEngine` (engine.py): the :class:`~tpc_backend.engines.base.Engine` for the service.
- model_folder.py: the ``models.json`` manifest; profiles.py: the architectures a folder can hold and
  how they were trained to run; components.py: loading from local folders.
- pose_conditioning.py, pose_guider.py: ControlNet residuals or the AnimateAnyone pose guider;
  temporal_norm.py: per-frame norms in the motion modules.
- pipeline.py: banks at t = 0, pose-guided windowed denoising with TPC, decoding.
- released.py, convert.py: the released AnimateAnyone-family files and ``models convert``;
  random_models.py: tiny random-weight sets (``models tiny``); pull.py: ``models pull``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import DiffusionEngine

__all__ = ["DiffusionEngine"]


def __getattr__(name: str) -> Any:
    if name == "DiffusionEngine":
        from .engine import DiffusionEngine

        return DiffusionEngine
    raise AttributeError(name)
