"""Reference attention with calibrated features, as diffusers attention processors (paper Sec. 4.3).

Reference-attention animators (AnimateAnyone, MagicAnimate, MusePose, Champ) run a copy of the UNet
(the reference UNet) on the reference image and let every spatial self-attention layer of the
denoising UNet attend to that copy's features as well: K = V = [own tokens, r]. TPC adds the
calibrated image of the frame: K = V = [own tokens, r, c_i]. Both are one operation -- each row of the
batch attends to its own tokens plus the *banks* (spatial self-attention inputs) of a few images -- so
one reader serves plain reference attention, TPC, iterative propagation (which only changes which
calibrated bank a row reads, per step) and classifier-free guidance's unconditional rows (which read
no bank).

Why banks and not images: the reference UNet runs once per job, at t = 0, on the reference and every
calibrated image in one batch (:class:`BankWriter`); the denoising loop only indexes the result. Bank
keys and values are projected per UNet call, and only for the images some row reads, so a step costs
the projections of a handful of images, not of every frame's copy.

Person tokens (:func:`person_tokens`): a calibrated image is the warped reference person on black, so
outside the person its bank holds the same black background in every frame. Keeping only the tokens
whose cell overlaps the person (grown by one token) cuts the extra keys TPC adds -- the whole of its
cost -- roughly by the share of the frame the person does not cover, and the bank memory with them.
Attention stays dense: in one UNet call every image of such banks gives the same number of tokens,
the most any of them keeps, the others adding the tokens nearest their person (real tokens, never
padding, which would need an attention mask and the slower kernels that take one), so one plain
``scaled_dot_product_attention`` per row group still does the work.

Only ``attn1`` of the transformer blocks inside ``Transformer2DModel`` (spatial self-attention) is
touched. Cross-attention and the temporal (motion) layers keep their processors, so this plugs into
any diffusers UNet2DConditionModel or UNetMotionModel, and into pipelines that are not ours.

Needs torch and OpenCV; diffusers is imported only when processors are installed.
"""

from __future__ import annotations

import bisect
import contextlib
import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

Reads = Sequence[Sequence[int]]  # per batch row: the bank images it attends to, in order
# Tokens around the person's cells kept as the person's: the reference UNet's convolutions spread the
# person's edge into the neighbouring tokens' features, so the ring next to it is not background.
PERSON_DILATION = 1


def spatial_self_attention(unet: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """(name, Attention) of every spatial self-attention layer, in module order.

    The order is the same in a UNet2DConditionModel and the UNetMotionModel built from it, which is
    how a writer's layer k meets a reader's layer k.
    """
    from diffusers.models.transformers.transformer_2d import Transformer2DModel

    layers = []
    for name, module in unet.named_modules():
        if isinstance(module, Transformer2DModel):
            for index, block in enumerate(module.transformer_blocks):
                if not getattr(block, "only_cross_attention", False):
                    layers.append((f"{name}.transformer_blocks.{index}.attn1", block.attn1))
    if not layers:
        raise ValueError(f"{type(unet).__name__} has no spatial self-attention layers (Transformer2DModel blocks)")
    return layers


@dataclass(frozen=True)
class Banks:
    """Spatial self-attention inputs of a batch of images: one (images, tokens, channels) tensor per layer.

    ``kept`` marks person-token banks (:func:`person_tokens`): per layer, an (images,) int64 CPU
    tensor saying how many of each image's leading tokens are its person's; the tokens are stored in
    the order they are kept. None: every image is read whole.
    """

    layers: tuple[torch.Tensor, ...]
    kept: tuple[torch.Tensor, ...] | None = None

    def __len__(self) -> int:
        return int(self.layers[0].shape[0])

    @property
    def nbytes(self) -> int:
        return sum(layer.numel() * layer.element_size() for layer in self.layers)

    @property
    def device(self) -> torch.device:
        return self.layers[0].device

    def take(self, images: Sequence[int] | torch.Tensor) -> Banks:
        """The banks of these images, in this order (a copy)."""
        index = torch.as_tensor(images, dtype=torch.long)
        layers = tuple(layer.index_select(0, index.to(self.device)) for layer in self.layers)
        return Banks(layers, None if self.kept is None else tuple(kept.index_select(0, index.cpu()) for kept in self.kept))

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Banks:
        return Banks(tuple(layer.to(device=device, dtype=dtype) for layer in self.layers), self.kept)

    @staticmethod
    def cat(parts: Sequence[Banks]) -> Banks:
        """Images of ``parts`` one after another (all on one device, all whole or all person tokens)."""
        if len({part.kept is None for part in parts}) > 1:
            raise ValueError("cannot concatenate whole banks with person-token banks; read them as separate parts")
        layers = tuple(torch.cat(layers) for layers in zip(*(part.layers for part in parts)))
        kept = None if parts[0].kept is None else tuple(torch.cat(kept) for kept in zip(*(part.kept for part in parts)))
        return Banks(layers, kept)


def token_grid(shape: tuple[int, int], tokens: int) -> tuple[int, int]:
    """(rows, columns) of a layer's ``tokens`` when an image of ``shape`` (H, W) tiles into them."""
    height, width = shape
    factor = round(math.sqrt(height * width / tokens)) if tokens > 0 else 0
    if factor < 1 or height % factor or width % factor or (height // factor) * (width // factor) != tokens:
        raise ValueError(
            f"a {width}x{height} mask does not tile into a layer of {tokens} tokens; give masks at the size "
            "of the images (or latents) the banks were written from"
        )
    return height // factor, width // factor


def person_token_order(mask: np.ndarray, tokens: int, dilation: int = PERSON_DILATION) -> tuple[np.ndarray, int]:
    """A layer's token indices, the person's first, and how many are the person's.

    ``mask`` (H, W) is the person in the image the layer's tokens tile (see :func:`token_grid`). The
    person's tokens are the cells that overlap it, grown by ``dilation`` tokens; the others follow
    nearest first (chessboard distance in tokens, then raster order), so an image asked for more
    tokens than it keeps gives the ring around its person next.
    """
    person = np.asarray(mask) > 0
    if person.ndim != 2:
        raise ValueError(f"a person mask is (H, W), got shape {person.shape}")
    rows, columns = token_grid(person.shape, tokens)
    cells = person.reshape(rows, person.shape[0] // rows, columns, person.shape[1] // columns).any(axis=(1, 3))
    if not cells.any():
        return np.arange(tokens, dtype=np.int64), 0
    distance = cv2.distanceTransform((~cells).astype(np.uint8), cv2.DIST_C, 3).ravel()
    return np.argsort(distance, kind="stable").astype(np.int64), int((distance <= dilation).sum())


def person_tokens(banks: Banks, masks: Sequence[np.ndarray], dilation: int = PERSON_DILATION, widths: Sequence[int] | None = None) -> Banks:
    """``banks`` (of calibrated images, one person mask each) reduced to their persons' tokens.

    Per layer, each image's tokens are reordered person first (:func:`person_token_order`) and cut to
    ``widths[layer]`` tokens (default: the most any of these images keeps), so every image keeps at
    least all of its person's. A caller that writes banks in chunks passes the widths of the whole
    job, so that every chunk has the same shape.
    """
    if len(masks) != len(banks):
        raise ValueError(f"{len(masks)} person masks for {len(banks)} bank images")
    if banks.kept is not None:
        raise ValueError("these banks already hold person tokens only")
    layers, kept = [], []
    orders: dict[int, list[tuple[np.ndarray, int]]] = {}  # layers of one token count share a grid
    for index, layer in enumerate(banks.layers):
        tokens = layer.shape[1]
        if tokens not in orders:
            orders[tokens] = [person_token_order(mask, tokens, dilation) for mask in masks]
        counts = [count for _, count in orders[tokens]]
        width = max(counts, default=0) if widths is None else int(widths[index])
        if not max(counts, default=0) <= width <= tokens:
            raise ValueError(f"layer {index}: width {width} must hold every kept token ({max(counts)}) and at most {tokens}")
        order = torch.from_numpy(np.stack([order[:width] for order, _ in orders[tokens]])).to(layer.device)
        layers.append(layer[torch.arange(len(banks), device=layer.device)[:, None], order])
        kept.append(torch.tensor(counts, dtype=torch.long))
    return Banks(tuple(layers), tuple(kept))


def reference_reads(frames: int, calibrated: Sequence[int] | None = None, unconditional: bool = False) -> list[tuple[int, ...]]:
    """Reads for ``frames`` rows attending to banks laid out as [r, c_0, c_1, ...].

    The layout may be one :class:`Banks` or two parts read together: [reference, calibrated banks]
    (the calibrated ones e.g. :func:`person_tokens`).

    ``calibrated`` None gives plain reference attention (every row reads r); otherwise row i reads
    r and c_calibrated[i] (TPC). ``unconditional`` prepends ``frames`` rows that read nothing: the
    first half of a classifier-free-guidance batch, in the diffusers order [unconditional, conditional].
    """
    if calibrated is None:
        conditional = [(0,)] * frames
    else:
        if len(calibrated) != frames:
            raise ValueError(f"{len(calibrated)} calibrated indices for {frames} frames")
        conditional = [(0, 1 + int(index)) for index in calibrated]
    return [()] * (frames if unconditional else 0) + conditional


class _Processor:
    """Base of our processors: wraps the processor that was there, which does all unread attention."""

    def __init__(self, inner: Callable) -> None:
        self.inner = inner
        parameters = inspect.signature(inner).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        self._accepts: Callable[[str], bool] = (lambda name: True) if takes_any else parameters.__contains__

    def call_inner(self, attn, hidden_states, encoder_hidden_states, attention_mask, temb, kwargs) -> torch.Tensor:
        kwargs = {key: value for key, value in kwargs.items() if self._accepts(key)}
        if temb is not None:
            kwargs["temb"] = temb
        return self.inner(attn, hidden_states, encoder_hidden_states=encoder_hidden_states, attention_mask=attention_mask, **kwargs)


class _WritingProcessor(_Processor):
    def __init__(self, writer: BankWriter, layer: int, inner: Callable) -> None:
        super().__init__(inner)
        self.writer, self.layer = writer, layer

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        if encoder_hidden_states is None:
            self.writer._record(self.layer, hidden_states)
        return self.call_inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, kwargs)


class _ReadingProcessor(_Processor):
    def __init__(self, reader: BankReader, layer: int, inner: Callable) -> None:
        super().__init__(inner)
        self.reader, self.layer = reader, layer

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        plan = self.reader._plan
        if plan is None or encoder_hidden_states is not None:
            return self.call_inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, kwargs)
        if attention_mask is not None or attn.spatial_norm is not None or attn.group_norm is not None or hidden_states.ndim != 3:
            raise ValueError(
                "reference attention reads banks only in plain token self-attention "
                "(no attention mask, spatial norm, group norm or 4-D input)"
            )
        return plan.attend(attn, hidden_states, self.layer)


class _Installed:
    """Processors installed on one UNet's spatial self-attention layers; ``remove`` puts the old ones back."""

    def __init__(self, unet: torch.nn.Module, make: Callable[[int, Callable], _Processor]) -> None:
        self.names: list[str] = []
        self.attentions: list[torch.nn.Module] = []
        self.processors: list[_Processor] = []
        for layer, (name, attention) in enumerate(spatial_self_attention(unet)):
            inner = attention.processor
            if isinstance(inner, _Processor):  # installing twice replaces, never stacks
                inner = inner.inner
            processor = make(layer, inner)
            attention.set_processor(processor)
            self.names.append(name)
            self.attentions.append(attention)
            self.processors.append(processor)

    def __len__(self) -> int:
        return len(self.attentions)

    def check(self, role: str) -> None:
        """Refuse to work silently when a later writer/reader took these layers over."""
        if any(attention.processor is not processor for attention, processor in zip(self.attentions, self.processors)):
            raise RuntimeError(
                f"this {role}'s attention processors were replaced (by another {role} on the same UNet, or by "
                "set_attn_processor); use the newest one"
            )

    def remove(self) -> None:
        for attention in self.attentions:
            if isinstance(attention.processor, _Processor):
                attention.set_processor(attention.processor.inner)


class BankWriter:
    """Write mode: records the banks of a reference UNet's forward passes.

    >>> writer = BankWriter(reference_unet)
    >>> with torch.no_grad():
    ...     banks = writer.collect(lambda: reference_unet(latents, 0, context))  # banks[k] of image k

    ``device``/``dtype`` say where banks are kept (default: where the UNet computes).
    """

    def __init__(self, unet: torch.nn.Module, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        self.device, self.dtype = device, dtype
        self._recorded: list[list[torch.Tensor]] | None = None
        self._installed = _Installed(unet, lambda layer, inner: _WritingProcessor(self, layer, inner))

    @property
    def layer_names(self) -> list[str]:
        return list(self._installed.names)

    def collect(self, forward: Callable[[], Any]) -> Banks:
        """Run ``forward`` (one or more passes of the reference UNet) and return the banks it produced.

        The passes run without autograd: banks are detached and the UNet's output is not kept.
        """
        self._installed.check("BankWriter")
        self._recorded = [[] for _ in range(len(self._installed))]
        try:
            with torch.no_grad():
                forward()
            recorded = self._recorded
        finally:
            self._recorded = None
        if any(not parts for parts in recorded):
            raise RuntimeError("the forward pass did not run every spatial self-attention layer of the reference UNet")
        return Banks(tuple(parts[0] if len(parts) == 1 else torch.cat(parts) for parts in recorded))

    def remove(self) -> None:
        """Restore the UNet's own processors."""
        self._installed.remove()

    def _record(self, layer: int, hidden_states: torch.Tensor) -> None:
        if self._recorded is not None:
            self._recorded[layer].append(hidden_states.detach().to(device=self.device, dtype=self.dtype))


class BankReader:
    """Read mode: the denoising UNet's spatial self-attention also attends to banks.

    Between :meth:`read` and :meth:`stop` (or inside :meth:`reading`), row b of every batch the UNet
    sees attends to K = V = [its own tokens, bank of image reads[b][0], bank of reads[b][1], ...].
    A row with no reads, or a UNet call outside reading, is exactly the UNet's own attention.

    The banks may come in parts (e.g. [the reference's whole banks, the calibrated images' person
    tokens]), their images numbered through the parts in order. A whole image gives all its tokens;
    the images of a person-token part that one UNet call reads all give the same number, the most
    any of them keeps.
    """

    def __init__(self, unet: torch.nn.Module) -> None:
        self._plan: _ReadPlan | None = None
        self._installed = _Installed(unet, lambda layer, inner: _ReadingProcessor(self, layer, inner))

    @property
    def layer_names(self) -> list[str]:
        return list(self._installed.names)

    def read(self, banks: Banks | Sequence[Banks], reads: Reads) -> None:
        """From now on, batch row b attends to the banks of images ``reads[b]`` as well."""
        self._installed.check("BankReader")
        parts = [banks] if isinstance(banks, Banks) else list(banks)
        for part in parts:
            if len(part.layers) != len(self._installed):
                raise ValueError(
                    f"the banks have {len(part.layers)} layers but this UNet has {len(self._installed)} spatial "
                    "self-attention layers; write them with a reference UNet of the same architecture"
                )
            for layer, attention in zip(part.layers, self._installed.attentions):
                if layer.shape[-1] != attention.to_k.in_features:
                    raise ValueError(f"a bank has {layer.shape[-1]} channels where the UNet's layer takes {attention.to_k.in_features}")
        self._plan = _ReadPlan(parts, reads)

    def stop(self) -> None:
        self._plan = None

    @contextlib.contextmanager
    def reading(self, banks: Banks | Sequence[Banks], reads: Reads) -> Iterator[None]:
        self.read(banks, reads)
        try:
            yield
        finally:
            self.stop()

    def remove(self) -> None:
        """Restore the UNet's own processors."""
        self.stop()
        self._installed.remove()


@dataclass(frozen=True)
class _RowGroup:
    """Rows whose reads come from the same parts, slot by slot; they share one attention call."""

    rows: slice | torch.Tensor
    slots: tuple[tuple[int, torch.Tensor], ...]  # per read: (part, (rows,) positions in the part's used images)


class _ReadPlan:
    """A set of reads, grouped once per UNet call and shared by all its layers."""

    def __init__(self, parts: Sequence[Banks], reads: Reads) -> None:
        self.parts = parts
        self.rows = len(reads)
        starts = np.cumsum([0] + [len(part) for part in parts])
        images = sorted({int(image) for row in reads for image in row})
        if images and (images[0] < 0 or images[-1] >= starts[-1]):
            raise ValueError(f"reads name bank images up to {images[-1]}, but there are {starts[-1]}")
        part_of = {image: bisect.bisect_right(starts, image) - 1 for image in images}
        used: list[list[int]] = [[] for _ in parts]  # per part: the local indices some row reads, ascending
        position = {}
        for image in images:
            part = part_of[image]
            position[image] = len(used[part])
            used[part].append(image - int(starts[part]))
        self._used = [torch.tensor(indices, dtype=torch.long) for indices in used]
        # Tokens each part gives per layer: all (whole banks), or the most that its read images keep.
        self._widths = [
            [None] * len(part.layers) if part.kept is None or not used[p] else [int(kept[self._used[p]].max()) for kept in part.kept]
            for p, part in enumerate(parts)
        ]
        by_parts: dict[tuple[int, ...], list[int]] = {}
        for row, read in enumerate(reads):
            by_parts.setdefault(tuple(part_of[int(image)] for image in read), []).append(row)
        self._groups = [
            (rows, [(part, [position[int(reads[row][slot])] for row in rows]) for slot, part in enumerate(signature)])
            for signature, rows in sorted(by_parts.items())
        ]
        self._on: dict[torch.device, tuple[list[torch.Tensor], list[_RowGroup]]] = {}

    def _for(self, device: torch.device) -> tuple[list[torch.Tensor], list[_RowGroup]]:
        if device not in self._on:
            groups = []
            for rows, slots in self._groups:
                contiguous = rows == list(range(rows[0], rows[-1] + 1))
                index = slice(rows[0], rows[-1] + 1) if contiguous else torch.tensor(rows, device=device)
                groups.append(_RowGroup(index, tuple((part, torch.tensor(at, device=device)) for part, at in slots)))
            self._on[device] = ([used.to(device) for used in self._used], groups)
        return self._on[device]

    def attend(self, attn, hidden_states: torch.Tensor, layer: int) -> torch.Tensor:
        if hidden_states.shape[0] != self.rows:
            raise ValueError(
                f"the reads describe {self.rows} batch rows but the UNet's batch has {hidden_states.shape[0]} "
                "(frames x videos x guidance copies)"
            )
        used, groups = self._for(hidden_states.device)
        query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        bank_keys, bank_values = {}, {}
        for part, index in enumerate(used):
            if len(index):
                bank = self.parts[part].layers[layer]
                width = self._widths[part][layer]
                if width is not None:
                    bank = bank[:, :width]
                images = bank.index_select(0, index.to(bank.device)).to(hidden_states.device, hidden_states.dtype)
                bank_keys[part], bank_values[part] = attn.to_k(images), attn.to_v(images)
        heads = attn.heads
        out = value.new_empty(value.shape)
        for group in groups:
            q, k, v = query[group.rows], key[group.rows], value[group.rows]
            if group.slots:
                k = torch.cat([k, *(bank_keys[part][at] for part, at in group.slots)], dim=1)
                v = torch.cat([v, *(bank_values[part][at] for part, at in group.slots)], dim=1)
            q, k, v = (x.unflatten(-1, (heads, -1)).transpose(1, 2) for x in (q, k, v))
            if attn.norm_q is not None:
                q = attn.norm_q(q)
            if attn.norm_k is not None:
                k = attn.norm_k(k)
            attended = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=False)
            out[group.rows] = attended.transpose(1, 2).flatten(2).to(out.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor
