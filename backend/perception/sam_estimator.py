"""Optional mask estimator: Segment Anything (SAM), prompted by each person's keypoints and box.

SAM cuts out whatever it is pointed at, with sharper edges than MediaPipe's person mask, but it has
no idea what a person is: the prompt says so. Each person's torso and limb joints are positive
points, the other people's are negative points, and the person's box (keypoints, grown, joined with
the pose model's own mask) bounds it. SAM answers with three candidate masks (part, body, whole),
cut to that box (SAM's masks leak past it onto the background or a neighbour); the one kept is the
one with the best sum of SAM's own quality score and its agreement with the keypoints (this
person's inside, other people's outside), rather than blindly the first.

Weights are the user's: a segment-anything checkpoint (sam_vit_b_01ec64.pth and friends). The
architecture is read from the checkpoint itself (width, depth, heads and global-attention blocks
are all visible in its tensor shapes), so any SAM checkpoint loads, vit_b/vit_l/vit_h or smaller
ones built with segment_anything's own builder, through the same code; a stated model type is
checked against what the checkpoint holds.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tpc import keypoints as kp
from tpc_protocol.errors import ErrorCode

from ..errors import UserError
from .body import person_box
from .estimators import Detection, EstimatorSettings, torch_device

INSTALL = (
    "the sam mask estimator needs the segment-anything package and torch, which are not installed: "
    "pip install 'segment-anything==1.0' torch torchvision (or install tpc-animate with the [sam] extra)"
)
NEEDS_CHECKPOINT = (
    "the sam mask estimator needs a SAM checkpoint on this machine: pass --sam-checkpoint PATH "
    "(sam_vit_b_01ec64.pth, sam_vit_l_0b3195.pth or sam_vit_h_4b8939.pth from the segment-anything project)"
)

IMAGE_SIZE, PATCH_SIZE = 1024, 16  # fixed by segment_anything's builder
_GRID = IMAGE_SIZE // PATCH_SIZE


@dataclass(frozen=True)
class SamArchitecture:
    """The image encoder's shape; everything else in SAM is the same for every model size."""

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]


KNOWN_ARCHITECTURES = {
    "vit_b": SamArchitecture(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": SamArchitecture(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": SamArchitecture(1280, 32, 16, (7, 15, 23, 31)),
}


def architecture_of(state: dict, source: str) -> SamArchitecture:
    """Read the encoder's shape from a SAM state dict; :class:`UserError` when it is not one."""
    patch = state.get("image_encoder.patch_embed.proj.weight")
    position = state.get("image_encoder.pos_embed")
    if patch is None or position is None or "mask_decoder.iou_prediction_head.layers.0.weight" not in state:
        raise UserError(f"{source} is not a segment-anything (SAM) checkpoint")
    if tuple(patch.shape[1:]) != (3, PATCH_SIZE, PATCH_SIZE) or tuple(position.shape[1:3]) != (_GRID, _GRID):
        raise UserError(f"{source} is a SAM variant with another patch or image size; only 1024-pixel SAM models are supported")
    embed_dim = int(patch.shape[0])
    blocks = sorted({int(m.group(1)) for key in state if (m := re.match(r"image_encoder\.blocks\.(\d+)\.", key))})
    if not blocks or blocks != list(range(len(blocks))):
        raise UserError(f"{source} is not a complete SAM checkpoint (its image encoder blocks are missing)")
    head_dim = int(state["image_encoder.blocks.0.attn.rel_pos_h"].shape[1])
    global_blocks = tuple(i for i in blocks if state[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0] == 2 * _GRID - 1)
    return SamArchitecture(embed_dim, len(blocks), embed_dim // head_dim, global_blocks)


def load_sam(checkpoint: str | Path, model_type: str | None = None, device: str = "cpu"):
    """Build SAM with the checkpoint's architecture and load its weights (strictly) onto ``device``.

    ``model_type`` (vit_b, vit_l, vit_h), when given, must match the checkpoint. Raises
    :class:`UserError` for a missing package or file and for a file that is not a SAM checkpoint.
    """
    if model_type is not None and model_type not in KNOWN_ARCHITECTURES:
        raise UserError(f"unknown SAM model type {model_type!r}; choose {', '.join(KNOWN_ARCHITECTURES)}")
    path = Path(checkpoint)
    if not path.is_file():
        raise UserError(f"SAM checkpoint {path} does not exist", ErrorCode.MISSING_CHECKPOINT)
    try:
        import torch
        from segment_anything.build_sam import _build_sam
    except ImportError:
        raise UserError(INSTALL, ErrorCode.MISSING_PACKAGE) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many kinds for a file that is not a checkpoint
        raise UserError(f"SAM checkpoint {path} cannot be read as a PyTorch checkpoint; is it a .pth file from segment-anything?") from None
    if not isinstance(state, dict):
        raise UserError(f"{path} is not a segment-anything (SAM) checkpoint")
    architecture = architecture_of(state, f"SAM checkpoint {path}")
    if model_type is not None and KNOWN_ARCHITECTURES[model_type] != architecture:
        found = next((name for name, arch in KNOWN_ARCHITECTURES.items() if arch == architecture), "a custom size")
        raise UserError(f"SAM checkpoint {path} holds {found}, not {model_type}; drop --sam-model-type or fix it")
    model = _build_sam(
        encoder_embed_dim=architecture.embed_dim,
        encoder_depth=architecture.depth,
        encoder_num_heads=architecture.num_heads,
        encoder_global_attn_indexes=list(architecture.global_attn_indexes),
    )
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise UserError(f"SAM checkpoint {path} does not fit the SAM model ({first})") from None
    return model.to(device).eval()


# Joints that sit well inside the body; wrists and ankles lie on its edge and would pull background in.
_PROMPT_JOINTS = (
    kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER, kp.LEFT_HIP, kp.RIGHT_HIP,
    kp.LEFT_ELBOW, kp.RIGHT_ELBOW, kp.LEFT_KNEE, kp.RIGHT_KNEE,
)  # fmt: skip


def prompt_points(keypoints: np.ndarray) -> np.ndarray:
    """(N, 2) points inside a person: the centre of their visible face, then visible torso and limb joints."""
    points = np.asarray(keypoints, dtype=np.float64)
    seen = kp.visible(points)
    chosen = []
    face = [i for i in kp.BODY_PARTS["face"] if seen[i]]
    if face:
        chosen.append(points[face, :2].mean(axis=0))
    chosen += [points[i, :2] for i in _PROMPT_JOINTS if seen[i]]
    return np.array(chosen, dtype=np.float64).reshape(-1, 2)


@dataclass(frozen=True)
class SamPrompt:
    """What SAM is told about one person, in the image's pixels."""

    coords: np.ndarray  # (N, 2) points: this person's first, then the other people's
    labels: np.ndarray  # (N,) 1 = this person, 0 = someone else
    box: np.ndarray | None  # (4,) x0, y0, x1, y1 in pixel edges, when anything says where they are


def person_prompts(people: Sequence[Detection], size: tuple[int, int]) -> list[SamPrompt | None]:
    """SAM's prompt for each person (``size`` = (W, H)); None for someone nothing locates."""
    points = [prompt_points(person.keypoints) for person in people]
    prompts: list[SamPrompt | None] = []
    for index, person in enumerate(people):
        positive = points[index]
        negative = np.concatenate([p for j, p in enumerate(points) if j != index] or [np.zeros((0, 2))])
        box = person_box(person.keypoints, person.mask, size)
        if len(positive) == 0 and box is None:
            prompts.append(None)
            continue
        labels = np.concatenate([np.ones(len(positive)), np.zeros(len(negative))]).astype(np.int64)
        prompts.append(SamPrompt(np.concatenate([positive, negative]), labels, None if box is None else np.array(box, dtype=np.float64)))
    return prompts


def inside_box(box: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the pixels a box (in pixel edges) touches; everything without a box."""
    if box is None:
        return np.ones(shape, dtype=bool)
    x0, y0, x1, y1 = box
    inside = np.zeros(shape, dtype=bool)
    inside[int(np.floor(y0)) : int(np.ceil(y1)), int(np.floor(x0)) : int(np.ceil(x1))] = True
    return inside


def keypoint_agreement(mask: np.ndarray, person: np.ndarray, others: Sequence[np.ndarray]) -> float:
    """Share of the person's visible keypoints inside ``mask`` minus the share of other people's.

    The mask is grown by 2 % of its size first: wrists, ankles and the nose lie on a body's edge.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return -1.0
    rows, cols = np.nonzero(mask)
    grow = max(1, int(0.02 * max(np.ptp(rows), np.ptp(cols))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    grown = cv2.dilate(mask.astype(np.uint8), kernel) > 0

    def share(keypoints: np.ndarray) -> float:
        seen = kp.visible(keypoints)
        if not seen.any():
            return 0.0
        xy = np.rint(keypoints[seen, :2]).astype(int)
        height, width = grown.shape
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
        hits = np.zeros(len(xy), dtype=bool)
        hits[inside] = grown[xy[inside, 1], xy[inside, 0]]
        return float(hits.mean())

    intrusion = max((share(other) for other in others), default=0.0)
    return share(person) - intrusion


def choose_mask(masks: np.ndarray, scores: np.ndarray, person: np.ndarray, others: Sequence[np.ndarray]) -> int:
    """Index of the candidate with the best SAM score plus keypoint agreement."""
    totals = [float(score) + keypoint_agreement(mask, person, others) for mask, score in zip(masks, scores)]
    return int(np.argmax(totals))


class SamMask:
    """SAM prompted per person; the image is encoded once for all people in it."""

    name = "sam"

    def __init__(self, settings: EstimatorSettings) -> None:
        if not settings.sam_checkpoint:
            raise UserError(NEEDS_CHECKPOINT, ErrorCode.MISSING_CHECKPOINT)
        model = load_sam(settings.sam_checkpoint, settings.sam_model_type)  # checks the file before heavy imports
        from segment_anything import SamPredictor

        self._lock = threading.Lock()
        self._predictor = SamPredictor(model.to(torch_device(settings.device)))

    def segment(self, image: np.ndarray, people: Sequence[Detection]) -> list[np.ndarray]:
        import torch

        height, width = image.shape[:2]
        masks = []
        with self._lock, torch.inference_mode():
            self._predictor.set_image(np.ascontiguousarray(image), image_format="RGB")
            for index, prompt in enumerate(person_prompts(people, (width, height))):
                if prompt is None:
                    masks.append(np.zeros((height, width), np.float32))
                    continue
                candidates, scores, _ = self._predictor.predict(
                    point_coords=prompt.coords if len(prompt.coords) else None,
                    point_labels=prompt.labels if len(prompt.coords) else None,
                    box=prompt.box,
                    multimask_output=True,
                )
                candidates = candidates & inside_box(prompt.box, (height, width))
                others = [p.keypoints for j, p in enumerate(people) if j != index]
                best = choose_mask(candidates, scores, people[index].keypoints, others)
                masks.append(candidates[best].astype(np.float32))
            self._predictor.reset_image()
        return masks
