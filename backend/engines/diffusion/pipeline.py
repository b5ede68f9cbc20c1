"""TPC-conditioned video denoising: reference banks at t = 0, then pose-guided, windowed denoising.

One job, in order:
1. The reference photo's CLIP image embedding is the cross-attention context (no tokenizer needed);
   the unconditional context of classifier-free guidance is zeros. AnimateAnyone-family profiles show
   the encoder the whole photo squashed to its square input, as they were trained.
2. The reference and every calibrated image are encoded by the VAE (each calibrated image asked for
   once, its person mask right after it, reduced to the latent grid), then the reference UNet runs
   once, at t = 0, on those latents in batched chunks (:class:`tpc.attention.BankWriter`). The
   calibrated banks keep the person's tokens only (:func:`tpc.attention.person_tokens`; off with
   ``person_tokens=False``), as many per frame and layer as the frame that keeps the most, which is
   why every mask is read before the first bank is stored. The banks go to a :class:`BankStore`
   (GPU while small, pinned host memory when long).
3. Each step, every context window of frames conditions the motion UNet on its pose pictures (the
   profile's way: ControlNet residuals, or pose-guider features added after conv_in) and runs it; its
   spatial self-attention reads K = V = [own, r, c_sel(i)] on the conditional rows
   (``sel`` from :class:`tpc.IterativePropagation`, re-drawn each step; with person tokens, every
   c_sel(i) of a window gives as many tokens as the one that keeps the most) and only its own tokens
   on the unconditional rows. Window predictions are blended, guidance applied, and the scheduler
   steps the whole sequence at once.
4. The VAE decodes frames in fixed chunks of absolute frame indices, so a resumed job decodes each
   frame exactly as an uninterrupted one does.

With :class:`DenoisingCheckpoints` each step's prediction is kept on disk, and a job interrupted
mid-denoising replays those steps instead of running the UNets for them again.

Everything depends on the inputs and the seed only; the initial noise is drawn on the CPU so the
same seed gives the same video on any device.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image

from tpc.attention import (
    PERSON_DILATION,
    BankReader,
    Banks,
    BankWriter,
    person_token_order,
    person_tokens,
    reference_reads,
)
from tpc.propagation import IterativePropagation

from ...progress import ProgressCallback
from ..base import Cancelled, FrameSink
from .bank_store import BankStore, default_budget
from .checkpoints import DenoisingCheckpoints
from .components import Components
from .windows import blend_weights, context_windows

# Shares of the progress bar: banks, denoising, decoding.
_BANKS_SHARE, _DENOISE_SHARE = 0.1, 0.8


@dataclass
class AnimationInputs:
    """What one job is conditioned on; every image is RGB uint8 at the working size unless noted."""

    reference: np.ndarray  # (H, W, 3) reference photo fitted to the working size
    reference_photo: np.ndarray  # the photo as given, for the CLIP image encoder
    poses: Sequence[np.ndarray]  # L OpenPose skeleton images
    calibrated: Sequence[np.ndarray] | None  # L calibrated images (read once each); None: TPC off
    # L person masks (H, W) of the calibrated images, any size with the same framing (each is read
    # once, right after its image); needed with person tokens.
    calibrated_masks: Sequence[np.ndarray] | None = None
    seed: int = 0
    steps: int = 25
    guidance: float = 3.5
    groups: int = 30  # iterative propagation M
    # The calibrated banks keep only the tokens on the person (grown by one token): fewer keys, less
    # bank memory, no black background. False: whole calibrated banks, as in the paper's Sec. 4.3.
    person_tokens: bool = True

    def __len__(self) -> int:
        return len(self.poses)


@dataclass
class DenoisingState:
    """A job between steps: latents, schedule, context and banks."""

    inputs: AnimationInputs
    latents: torch.Tensor  # (1, 4, L, h, w) float32
    scheduler: Any
    timesteps: torch.Tensor
    context: torch.Tensor  # (1, 1, D) image embedding of the reference
    banks: BankStore  # the reference's bank; calibrated frame i's (TPC only)
    propagation: IterativePropagation | None
    windows: list[range]
    weights: list[torch.Tensor]  # blend weight per window frame, (n,) float32 on the device
    step_extras: dict[str, Any]

    @property
    def guided(self) -> bool:
        return self.inputs.guidance > 1.0


class AnimationPipeline:
    """Turns :class:`AnimationInputs` into frames with :class:`Components`; create once, reuse."""

    def __init__(
        self,
        components: Components,
        context_frames: int | None = None,
        context_overlap: int | None = None,
        chunk: int = 8,
        bank_budget: int | None | str = "auto",
    ) -> None:
        """``context_frames``/``context_overlap``: the window (None: as the models were trained,
        ``components.inference``); ``bank_budget``: bytes of banks kept on the compute device before
        the rest waits in host memory (None: no limit; "auto": 1 GiB on CUDA, no limit on the CPU)."""
        self.components = components
        trained = components.inference
        self.context_frames = min(context_frames or trained.context_frames, components.max_window)
        overlap = trained.context_overlap if context_overlap is None else context_overlap
        self.context_overlap = min(overlap, self.context_frames - 1)
        self.chunk = chunk
        self.bank_budget = default_budget(components.device) if bank_budget == "auto" else bank_budget
        self.writer = BankWriter(components.reference_unet)
        self.reader = BankReader(components.unet)

    @property
    def device(self) -> torch.device:
        return self.components.device

    @property
    def dtype(self) -> torch.dtype:
        return self.components.dtype

    # -- the whole job ----------------------------------------------------------------------------
    def __call__(
        self,
        inputs: AnimationInputs,
        start: int,
        emit: FrameSink,
        cancelled: Cancelled = lambda: False,
        progress: ProgressCallback = lambda fraction, message: None,
        checkpoints: DenoisingCheckpoints | None = None,
    ) -> bool:
        """Denoise the whole sequence and emit frames ``start ..``; False if cancelled. With
        ``checkpoints``, steps saved by an interrupted run are replayed and each new one is saved."""
        state = self.prepare(inputs, cancelled, progress)
        if state is None:
            return False
        steps = len(state.timesteps)
        replayed = self.replay(state, checkpoints) if checkpoints is not None else 0
        if replayed:
            progress(_BANKS_SHARE + _DENOISE_SHARE * replayed / steps, f"resumed after denoising step {replayed}/{steps}")
        for step in range(replayed, steps):
            prediction = self.predict(state, step, cancelled)
            if prediction is None:
                return False
            if checkpoints is not None:
                checkpoints.save(step, prediction)
            self.advance(state, step, prediction)
            progress(_BANKS_SHARE + _DENOISE_SHARE * (step + 1) / steps, f"denoising step {step + 1}/{steps}")
        total = len(inputs)
        for index, frame in self.decode(state.latents, start):
            if cancelled():
                return False
            emit(index, frame)
            decoded = (index + 1 - start) / max(1, total - start)
            progress(_BANKS_SHARE + _DENOISE_SHARE + (1 - _BANKS_SHARE - _DENOISE_SHARE) * decoded, f"frame {index + 1}/{total}")
        return True

    # -- 1, 2: context and banks ------------------------------------------------------------------
    @torch.inference_mode()
    def prepare(
        self, inputs: AnimationInputs, cancelled: Cancelled = lambda: False, progress: ProgressCallback = lambda f, m: None
    ) -> DenoisingState | None:
        """Context, banks at t = 0, initial noise and schedule; None if cancelled meanwhile."""
        frames = len(inputs)
        height, width = inputs.reference.shape[:2]
        tpc = inputs.calibrated is not None
        with_masks = tpc and inputs.person_tokens
        if with_masks and inputs.calibrated_masks is None:
            raise ValueError("person tokens need the calibrated images' person masks (calibrated_masks), or person_tokens=False")
        context = self._embed(inputs.reference_photo)
        # Bank images: the reference, then (TPC) every calibrated frame; latents first, with the masks.
        images: Sequence[np.ndarray] = [inputs.reference] if not tpc else _Prepended(inputs.reference, inputs.calibrated)
        factor = 2 ** (len(self.components.vae.config.block_out_channels) - 1)
        grid = (height // factor, width // factor)
        chunks, people = [], []  # latents per chunk; person cells of each calibrated frame on the latent grid
        for begin in range(0, len(images), self.chunk):
            if cancelled():
                return None
            batch = []
            for index in range(begin, min(begin + self.chunk, len(images))):
                batch.append(images[index])
                if with_masks and index > 0:
                    people.append(latent_cells(inputs.calibrated_masks[index - 1], grid))
            chunks.append(self._encode(np.stack(batch)))
            progress(_BANKS_SHARE / 2 * (begin + len(batch)) / len(images), "encoding the reference and calibrated images")
        banks = BankStore(frames if tpc else 0, self.device, self.bank_budget)
        widths = None  # person tokens kept per calibrated frame and layer: the most any frame keeps
        for number, latents in enumerate(chunks):
            if cancelled():
                return None
            written = self.reference_banks(latents, context)
            first = number * self.chunk - 1  # the calibrated frame of the chunk's first image: images are [r, c_0, c_1, ...]
            if number == 0:
                banks.write_reference(written.take([0]))
                written, first = written.take(range(1, len(written))), 0
            if len(written):
                if with_masks:
                    if widths is None:
                        widths = person_widths(people, [layer.shape[1] for layer in written.layers])
                    written = person_tokens(written, people[first : first + len(written)], widths=widths)
                banks.write(first, written)
            progress(_BANKS_SHARE * (0.5 + 0.5 * (number + 1) / len(chunks)), "reference and calibrated features")

        scheduler = self.components.new_scheduler()
        scheduler.set_timesteps(inputs.steps, device=self.device)
        noise = torch.randn((1, 4, frames, height // 8, width // 8), generator=torch.Generator("cpu").manual_seed(inputs.seed))
        latents = noise.to(self.device) * scheduler.init_noise_sigma
        windows = context_windows(frames, self.context_frames, self.context_overlap)
        weights = [
            torch.as_tensor(blend_weights(w, frames, self.context_overlap), dtype=torch.float32, device=self.device) for w in windows
        ]
        step_extras: dict[str, Any] = {}
        if "generator" in inspect.signature(scheduler.step).parameters:
            step_extras["generator"] = torch.Generator("cpu").manual_seed(inputs.seed + 1)
        return DenoisingState(
            inputs=inputs,
            latents=latents,
            scheduler=scheduler,
            timesteps=scheduler.timesteps,
            context=context,
            banks=banks,
            propagation=IterativePropagation(frames, inputs.groups, inputs.seed) if tpc else None,
            windows=windows,
            weights=weights,
            step_extras=step_extras,
        )

    def reference_banks(self, latents: torch.Tensor, context: torch.Tensor) -> Banks:
        """Banks of images (their latents, (N, 4, h, w)): the reference UNet once at t = 0, conditioned
        on the reference's image embedding ``context`` (1, 1, D), as AnimateAnyone writes its bank."""
        timestep = torch.zeros((), dtype=torch.long, device=self.device)
        contexts = context.expand(len(latents), -1, -1)
        return self.writer.collect(lambda: self.components.reference_unet(latents, timestep, encoder_hidden_states=contexts))

    # -- 3: one denoising step ------------------------------------------------------------------
    def step(self, state: DenoisingState, step: int, cancelled: Cancelled = lambda: False) -> bool:
        """Denoising step ``step`` over every window; False if cancelled before it finished."""
        prediction = self.predict(state, step, cancelled)
        if prediction is None:
            return False
        self.advance(state, step, prediction)
        return True

    @torch.inference_mode()
    def predict(self, state: DenoisingState, step: int, cancelled: Cancelled = lambda: False) -> torch.Tensor | None:
        """The blended, guided noise prediction of step ``step`` (None if cancelled meanwhile)."""
        t = state.timesteps[step]
        selection = state.propagation.selection(step) if state.propagation is not None else None
        prediction = torch.zeros_like(state.latents)
        coverage = torch.zeros(state.latents.shape[2], dtype=torch.float32, device=self.device)
        for window, weight in zip(state.windows, state.weights):
            if cancelled():
                return None
            noise = self._predict(state, window, t, None if selection is None else selection[window.start : window.stop])
            prediction[:, :, window.start : window.stop] += noise * weight[None, None, :, None, None]
            coverage[window.start : window.stop] += weight
        return prediction / coverage[None, None, :, None, None]

    @torch.inference_mode()
    def advance(self, state: DenoisingState, step: int, prediction: torch.Tensor) -> None:
        """The scheduler's step ``step`` with ``prediction``: the latents one step less noisy."""
        state.latents = state.scheduler.step(prediction, state.timesteps[step], state.latents, **state.step_extras).prev_sample

    def replay(self, state: DenoisingState, checkpoints: DenoisingCheckpoints) -> int:
        """Advance ``state`` through the steps ``checkpoints`` holds; returns how many."""
        saved = checkpoints.saved(len(state.timesteps))
        for step in range(saved):
            self.advance(state, step, checkpoints.load(step, self.device))
        return saved

    def _predict(self, state: DenoisingState, window: range, t: torch.Tensor, selection: np.ndarray | None) -> torch.Tensor:
        """Noise prediction (1, 4, n, h, w) float32 of one window, guidance applied."""
        frames = len(window)
        copies = 2 if state.guided else 1
        latents = state.latents[:, :, window.start : window.stop]
        model_input = state.scheduler.scale_model_input(torch.cat([latents] * copies), t).to(self.dtype)
        per_frame = state.context.expand(frames, -1, -1)
        context = torch.cat([torch.zeros_like(per_frame), per_frame]) if state.guided else per_frame
        poses = self._pose_tensor(state.inputs.poses[window.start : window.stop])
        noise = self.unet_prediction(model_input, t, context, poses, *self.bank_reads(state, window, selection)).float()
        if state.guided:
            unconditional, conditional = noise.chunk(2)
            return unconditional + state.inputs.guidance * (conditional - unconditional)
        return noise

    def unet_prediction(
        self,
        model_input: torch.Tensor,
        t: torch.Tensor,
        context: torch.Tensor,
        poses: torch.Tensor,
        banks: Sequence[Banks],
        reads: Sequence[Sequence[int]],
    ) -> torch.Tensor:
        """The motion UNet's raw output for ``model_input`` (copies, 4, n, h, w), pose-conditioned on
        ``poses`` (n, 3, H, W in [0, 1]) and reading ``banks`` as ``reads`` says per batch row."""
        copies = model_input.shape[0]
        flat = model_input.transpose(1, 2).flatten(0, 1)  # (copies * n, 4, h, w), frames of each copy together
        with self.components.poses.applied(flat, t, context, poses.to(self.dtype), copies) as pose_inputs:
            with self.reader.reading(banks, reads):
                return self.components.unet(model_input, t, encoder_hidden_states=context, **pose_inputs).sample

    @staticmethod
    def bank_reads(state: DenoisingState, window: range, selection: np.ndarray | None) -> tuple[list[Banks], list[tuple[int, ...]]]:
        """Banks and reads of one window: r for every conditional row, and (TPC) c_selection[i] for row i
        (``selection``: the calibrated frame each frame of the window reads this step)."""
        banks = [state.banks.reference]
        calibrated = None
        if selection is not None:  # and the calibrated frames this window draws, each once
            distinct, drawn = np.unique(selection, return_inverse=True)
            drawn_banks, positions = state.banks.gather(distinct)
            banks.append(drawn_banks)
            calibrated = [positions[j] for j in drawn]
        return banks, reference_reads(len(window), calibrated, unconditional=state.guided)

    # -- 4: frames ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def decode(self, latents: torch.Tensor, start: int = 0) -> Iterator[tuple[int, np.ndarray]]:
        """(index, RGB uint8) of frames ``start ..``, decoded in chunks aligned to absolute indices."""
        vae = self.components.vae
        frames = latents.shape[2]
        for begin in range(start - start % self.chunk, frames, self.chunk):
            stop = min(begin + self.chunk, frames)
            flat = latents[0, :, begin:stop].transpose(0, 1).to(self.dtype) / vae.config.scaling_factor
            images = vae.decode(flat).sample.float()
            pixels = ((images / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
            for offset, frame in enumerate(pixels):
                if begin + offset >= start:
                    yield begin + offset, frame

    # -- helpers -----------------------------------------------------------------------------------
    def _embed(self, photo: np.ndarray) -> torch.Tensor:
        if self.components.profile.clip_input == "squashed":  # the whole photo, as AnimateAnyone shows it
            side = int(self.components.image_encoder.config.image_size)
            photo = np.array(Image.fromarray(photo).resize((side, side), Image.Resampling.BICUBIC))
        pixels = self.components.feature_extractor(images=photo, return_tensors="pt").pixel_values
        embedding = self.components.image_encoder(pixels.to(self.device, self.dtype)).image_embeds
        return embedding[:, None, :]

    def _encode(self, images: np.ndarray) -> torch.Tensor:
        vae = self.components.vae
        pixels = torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2).to(self.dtype) / 127.5 - 1.0
        return vae.encode(pixels).latent_dist.mode() * vae.config.scaling_factor

    def _pose_tensor(self, poses: Sequence[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(poses)).to(self.device).permute(0, 3, 1, 2).to(torch.float32) / 255.0


def latent_cells(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Which cells of the latent grid (rows, columns) a person mask of any size overlaps."""
    person = (np.asarray(mask) > 0).astype(np.float32)  # area averaging: > 0 wherever a cell holds any of it
    return person > 0 if person.shape == grid else cv2.resize(person, (grid[1], grid[0]), interpolation=cv2.INTER_AREA) > 0


def person_widths(people: Sequence[np.ndarray], tokens: Sequence[int], dilation: int = PERSON_DILATION) -> list[int]:
    """Per layer of ``tokens`` tokens: the most person tokens any frame keeps (the width of every frame's bank)."""
    most = {count: max((person_token_order(cells, count, dilation)[1] for cells in people), default=0) for count in set(tokens)}
    return [most[count] for count in tokens]


class _Prepended(Sequence):
    """[first, *rest] without copying rest (calibrated images are produced on demand)."""

    def __init__(self, first: np.ndarray, rest: Sequence[np.ndarray]) -> None:
        self.first, self.rest = first, rest

    def __len__(self) -> int:
        return 1 + len(self.rest)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        return self.first if index == 0 else self.rest[index - 1]
