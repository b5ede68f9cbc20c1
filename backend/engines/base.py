"""The boundary between the service and the engines that make frames.

A worker takes a journaled job, prepares it once (reference, poses, calibration) into a
:class:`PreparedJob`, and hands it to an :class:`Engine`. The engine knows nothing about sockets,
journals or clients; it emits frames in order through a callback. Keeping this boundary narrow is
what lets workers run elsewhere later (scale-out) and lets new engines plug in.

Contract for every engine:
- ``render`` emits frames ``start .. len(job) - 1`` in increasing order, each an (H, W, 3) uint8 RGB
  array at ``job.settings.size``.
- Deterministic: the same job (inputs and settings, seed included) gives byte-identical frames,
  whatever ``start`` is, so a job resumed after a crash equals an uninterrupted run.
- Cancellation: ``cancelled()`` is polled at least once per frame or denoising step; when it returns
  True, ``render`` returns promptly without raising.
- ``progress(fraction, message)`` may be called any time; fraction in [0, 1] over the whole job.
- ``job.scratch``, when set, is the job's own :class:`~tpc_backend.engines.scratch.JobScratch`
  (named byte strings that outlive the engine's process), for work worth keeping across an
  interruption (the diffusion engine's finished denoising steps). The service chooses where it
  lives (the job's folder, or the gateway's disk when the engine runs on a Ray worker) and removes
  it once the job is done; an engine never touches the job's folder itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np

from tpc.calibration import CalibrationConfig, Calibrator, FrameCalibration, PersonFit
from tpc.pose_sequence import PoseSequence
from tpc.propagation import DEFAULT_GROUPS
from tpc.temporal import SequenceCalibration

from ..progress import ProgressCallback
from .scratch import JobScratch

FrameSink = Callable[[int, np.ndarray], None]
Cancelled = Callable[[], bool]


@dataclass(frozen=True)
class RenderSettings:
    """What the user chose for a job; engines ignore what does not apply to them."""

    engine: str = "preview"
    seed: int = 0
    steps: int | None = None  # None: as the diffusion engine's models were trained (models.json "inference")
    guidance: float | None = None
    groups: int = DEFAULT_GROUPS  # iterative propagation M (paper Algorithm 1)
    tpc: bool = True  # False: plain reference conditioning, no calibrated images
    person_tokens: bool = True  # diffusion: calibrated banks keep the person's tokens; False: whole banks (paper Sec. 4.3)
    independent: bool = False  # calibrate every frame on its own (the paper); False: as a sequence (tpc.temporal)
    width: int = 0  # output size; 0 = the poses' canvas
    height: int = 0


@dataclass
class PreparedJob:
    """Everything an engine needs, decoded and checked, with calibration ready for random access.

    Frames are calibrated as a sequence (or each on its own with ``settings.independent``): frame i
    depends on at most ``calibration_config.look_back``/``look_ahead`` neighbours and nothing else, so
    an engine may ask for frames in any order and a resumed job calibrates exactly as before.
    """

    job_id: str
    reference_image: np.ndarray  # (H, W, 3) uint8 RGB
    reference_people: list[tuple[np.ndarray, np.ndarray]]  # per person: (17, 3) keypoints, bool mask
    poses: PoseSequence
    settings: RenderSettings
    target_masks: list[np.ndarray] | None = None  # per frame (canvas size, bool), or None
    calibration_config: CalibrationConfig = field(default_factory=CalibrationConfig)
    scratch: JobScratch | None = None  # the job's own store for work that survives restarts (None: none)
    _sequence: SequenceCalibration | None = field(default=None, init=False, repr=False)
    _last: FrameCalibration | None = field(default=None, init=False, repr=False)
    _fits: dict[int, list[PersonFit]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.calibration_config = replace(self.calibration_config, independent=self.settings.independent)

    def __len__(self) -> int:
        return len(self.poses)

    @property
    def size(self) -> tuple[int, int]:
        """Output (W, H): the settings' size, or the poses' canvas."""
        if self.settings.width and self.settings.height:
            return (self.settings.width, self.settings.height)
        return self.poses.size

    @property
    def sequence(self) -> SequenceCalibration:
        """The job's frames as a calibrated sequence, built at the first frame asked for."""
        if self._sequence is None:
            calibrator = Calibrator(self.reference_image, self.reference_people, self.poses.size, self.calibration_config)
            self._sequence = calibrator.sequence(self.poses.frames, self.target_masks)
        return self._sequence

    def calibration(self, index: int) -> FrameCalibration:
        """Calibrated image, mask and fits of frame ``index`` (any order).

        The latest frame is kept, so the engine and the service's report asking for the same frame
        one after the other calibrate it once.
        """
        if self._last is not None and self._last.index == index:
            return self._last
        self._last = self.sequence.calibration(index)
        self._fits[index] = self._last.fits
        return self._last

    def fits(self, index: int) -> list[PersonFit]:
        """The fits of frame ``index`` without its images: what a frame calibrated earlier found, or
        found now without warping. The service's report needs every frame's fits but only a few images."""
        if index not in self._fits:
            self._fits[index] = self.sequence.fits(index)
        return self._fits[index]


class Engine(ABC):
    """Turns a prepared job into frames; see the module docstring for the contract."""

    name: ClassVar[str]

    @abstractmethod
    def render(self, job: PreparedJob, start: int, emit: FrameSink, cancelled: Cancelled, progress: ProgressCallback) -> None:
        """Emit frames ``start`` onwards, in order, through ``emit(index, rgb)``."""
