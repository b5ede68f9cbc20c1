"""Procrustes warping with optimal keypoint subsets (paper Sec. 4.1, Eq. 4), frame after frame.

:class:`Calibrator` prepares each reference person once, turns every target frame into target
shapes (a given mask split between the people, or silhouettes drawn from the keypoints), fits every
target person (:func:`tpc.person_fit.fit_person`, scored by :func:`tpc.scoring.warped_iou`), and
warps the full-resolution reference image once per person with the result. That gives the
calibrated image :math:`C_i` (the warped reference people on black) and its mask.

Frames of a video are calibrated as a sequence by default (:meth:`Calibrator.sequence`,
:mod:`tpc.temporal`): each frame's own best transform is smoothed with its neighbours', so the
calibrated person does not jump between frames; ``CalibrationConfig(independent=True)`` keeps every
frame's own, as the paper does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import keypoints as kp
from .calibration_config import CalibrationConfig
from .masks import mask_moments, split_between_people
from .matching import PeopleMatcher
from .person_fit import (
    FALLBACK_IDENTITY,
    FALLBACK_MOMENTS,
    FALLBACK_UNSCORED,
    PersonFit,
    ReferencePerson,
    TargetPerson,
    fit_person,
)
from .procrustes import SimilarityBatch
from .scoring import ReferenceCells, TargetCells, downscale, warped_iou
from .silhouette import NUM_LABELS, BodyWidths, draw_silhouette, drawn_parts, label_parts, relative_size
from .temporal import SequenceCalibration

__all__ = [
    "FALLBACK_IDENTITY",
    "FALLBACK_MOMENTS",
    "FALLBACK_UNSCORED",
    "CalibrationConfig",
    "Calibrator",
    "FrameCalibration",
    "FrameSearch",
    "PersonFit",
]

_ALL_PARTS = np.arange(NUM_LABELS) > 0  # a given target mask describes every part of the person


@dataclass
class FrameCalibration:
    """Calibrated image and mask of one target frame, with the fit of every target person."""

    index: int
    fits: list[PersonFit]
    image: np.ndarray  # (H, W, 3) uint8, RGB, black outside the people
    mask: np.ndarray  # (H, W) uint8, 0 or 255
    target_shape: np.ndarray | None = None  # low-resolution bool grid the fits were scored against
    people: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # per fit: own image, mask


@dataclass(frozen=True)
class FrameSearch:
    """One frame searched but not warped: every target person's fit and what it was scored against."""

    fits: list[PersonFit]
    targets: list[TargetPerson]  # per fit: the target as scored (see Calibrator.score)
    shape: np.ndarray  # low-resolution bool grid: the union of the target people's shapes


class Calibrator:
    """Calibrates one reference image against target poses.

    ``people`` holds, for each person in the reference image, their COCO-17 keypoints (17, 3) and
    their mask (H, W) (bool, or 0/255). ``canvas_size`` = (W, H) of the target frames. The expensive
    per-reference work (mask sampling, body widths, part labels) happens once, here.
    """

    def __init__(
        self,
        image: np.ndarray,
        people: Sequence[tuple[np.ndarray, np.ndarray]],
        canvas_size: tuple[int, int],
        config: CalibrationConfig | None = None,
    ) -> None:
        self.config = config or CalibrationConfig()
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"reference image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        if not people:
            raise ValueError("at least one reference person is needed")
        self.image = image
        self.canvas_size = (int(canvas_size[0]), int(canvas_size[1]))
        height, width = image.shape[:2]
        self._ref_zoom = self.config.score_resolution / max(height, width)
        # Target shapes live on a grid scaled by exactly _tgt_zoom on both axes, so that grid cell
        # (c, r) has its centre at full-resolution ((c + 0.5) / zoom - 0.5, (r + 0.5) / zoom - 0.5).
        self._tgt_zoom = self.config.score_resolution / max(self.canvas_size)
        self._tgt_grid = (
            max(1, int(round(self.canvas_size[0] * self._tgt_zoom))),
            max(1, int(round(self.canvas_size[1] * self._tgt_zoom))),
        )
        self.references = [self._prepare(np.asarray(k, np.float64), np.asarray(m)) for k, m in people]

    def _prepare(self, keypoints: np.ndarray, mask: np.ndarray) -> ReferencePerson:
        height, width = self.image.shape[:2]
        if keypoints.shape != (kp.NUM_KEYPOINTS, 3):
            raise ValueError(f"reference keypoints must have shape (17, 3), got {keypoints.shape}")
        if mask.shape[:2] != (height, width):
            raise ValueError(f"reference mask is {mask.shape[1]}x{mask.shape[0]}, image is {width}x{height}")
        binary = (mask > 0) if mask.dtype != bool else mask
        binary = binary[..., 0] if binary.ndim == 3 else binary
        threshold = self.config.confidence_threshold
        widths = BodyWidths.measure(keypoints, binary, threshold)
        labels = label_parts(keypoints, binary, widths, threshold)
        return ReferencePerson(
            keypoints=keypoints,
            seen=kp.visible(keypoints, threshold),
            mask=binary.astype(np.uint8),
            cutout=self.image * binary[..., None].astype(np.uint8),
            area=float(binary.sum()),
            widths=widths,
            cells=ReferenceCells.sample(binary, labels, self._ref_zoom, self.config.max_cells),
            facing=kp.facing(keypoints, threshold),
            moments=mask_moments(binary.astype(np.uint8)),
        )

    # -- the search -----------------------------------------------------------------------------------
    def fit(
        self,
        target_people: Sequence[np.ndarray],
        reference_for: Sequence[int] | None = None,
        target_mask: np.ndarray | None = None,
    ) -> list[PersonFit]:
        """Fit every target person of one frame on its own; nothing is warped.

        ``reference_for[j]`` names the reference person for target person j (default: person 0, or
        the same index when the counts match). ``target_mask`` (H, W), when given, is the union
        silhouette of all target people; otherwise shapes are drawn from the keypoints.
        """
        return self.search(target_people, reference_for, target_mask).fits

    def search(
        self,
        target_people: Sequence[np.ndarray],
        reference_for: Sequence[int] | None = None,
        target_mask: np.ndarray | None = None,
    ) -> FrameSearch:
        """:meth:`fit`, keeping what each person was scored against and the frame's target shape."""
        targets = [np.asarray(t, dtype=np.float64) for t in target_people]
        if reference_for is None:
            same = len(targets) == len(self.references)
            reference_for = [j if same else 0 for j in range(len(targets))]
        if len(reference_for) != len(targets) or not all(0 <= r < len(self.references) for r in reference_for):
            raise ValueError(f"reference_for must name one of {len(self.references)} reference people per target person")
        shapes = self._target_shapes(targets, reference_for, target_mask)
        from_mask = target_mask is not None
        found = [
            fit_person(self.references[r], r, self._target(t, shape, from_mask), j, self.config, self.canvas_size)
            for j, (t, r, shape) in enumerate(zip(targets, reference_for, shapes))
        ]
        grid_w, grid_h = self._tgt_grid
        union = np.logical_or.reduce(shapes) if shapes else np.zeros((grid_h, grid_w), bool)
        return FrameSearch([fit for fit, _ in found], [target for _, target in found], union)

    def score(self, fit: PersonFit, target: TargetPerson, transforms: SimilarityBatch) -> np.ndarray:
        """(B,) IoU of Eq. 4 of other transforms for the person of ``fit``, against ``target`` (from
        the same :meth:`search`)."""
        return warped_iou(self.references[fit.reference_index].cells, target.cells, transforms, self.canvas_size)

    def _target_shapes(self, targets: list[np.ndarray], reference_for: Sequence[int], target_mask: np.ndarray | None) -> list[np.ndarray]:
        """Low-resolution target shape of each person (bool grids)."""
        if target_mask is not None:
            mask = np.asarray(target_mask)
            mask = mask[..., 0] if mask.ndim == 3 else mask
            if mask.shape != (self.canvas_size[1], self.canvas_size[0]):
                raise ValueError(f"target mask is {mask.shape[1]}x{mask.shape[0]}, canvas is {self.canvas_size[0]}x{self.canvas_size[1]}")
            small = downscale((mask > 0).astype(np.uint8) * 255, self._tgt_zoom, self._tgt_grid)
            return split_between_people(small >= 128, targets, zoom=self._tgt_zoom, threshold=self.config.confidence_threshold)
        shapes = []
        for target, r in zip(targets, reference_for):
            reference = self.references[r]
            ratio = relative_size(reference.keypoints, target, self.config.confidence_threshold) or 1.0
            drawn = draw_silhouette(
                target,
                reference.widths.scaled(ratio),
                self._tgt_grid,
                zoom=self._tgt_zoom,
                threshold=self.config.confidence_threshold,
            )
            shapes.append(drawn > 0)
        return shapes

    def _target(self, keypoints: np.ndarray, shape: np.ndarray, from_mask: bool) -> TargetPerson:
        threshold = self.config.confidence_threshold
        parts = _ALL_PARTS if from_mask else drawn_parts(keypoints, threshold)
        return TargetPerson(
            keypoints=keypoints,
            seen=kp.visible(keypoints, threshold),
            shape=shape,
            zoom=self._tgt_zoom,
            cells=TargetCells.sample(shape, self._tgt_zoom, self.config.max_cells, parts),
            from_mask=from_mask,
            tie_margin=self.config.tie_margin if from_mask else self.config.tie_margin_drawn,
        )

    # -- rendering ------------------------------------------------------------------------------------
    def render(self, fits: Sequence[PersonFit]) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """Warp the reference people with their fits, each once at full resolution.

        Returns the calibrated image (RGB), its mask (0/255) and every person's own image and mask
        (in the order of ``fits``). People who cover more of the canvas are taken to be nearer and
        are drawn over the others.
        """
        people = [self.warp_person(fit) for fit in fits]
        if len(people) == 1:
            return people[0][0], people[0][1], people
        width, height = self.canvas_size
        image = np.zeros((height, width, 3), np.uint8)
        mask = np.zeros((height, width), np.uint8)
        covered = [self.references[f.reference_index].area * f.transform.scale**2 for f in fits]
        for index in np.argsort(covered, kind="stable"):
            person_image, person_mask = people[index]
            on = person_mask > 0
            image[on] = person_image[on]
            mask[on] = 255
        return image, mask, people

    def warp_person(self, fit: PersonFit) -> tuple[np.ndarray, np.ndarray]:
        """One person's calibrated image (RGB, black around them) and mask (0/255)."""
        ref = self.references[fit.reference_index]
        matrix = fit.transform.matrix
        image = cv2.warpAffine(ref.cutout, matrix, self.canvas_size, flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(ref.mask, matrix, self.canvas_size, flags=cv2.INTER_NEAREST) * np.uint8(255)
        return cv2.bitwise_and(image, image, mask=mask), mask

    def calibrate(
        self,
        target_people: Sequence[np.ndarray],
        reference_for: Sequence[int] | None = None,
        target_mask: np.ndarray | None = None,
        index: int = 0,
    ) -> FrameCalibration:
        """Fit and render one frame on its own."""
        found = self.search(target_people, reference_for, target_mask)
        return self.frame(index, found.fits, found.shape)

    def frame(self, index: int, fits: list[PersonFit], shape: np.ndarray) -> FrameCalibration:
        """The calibration of frame ``index`` with the given fits (warped here) and target shape."""
        if not fits:
            width, height = self.canvas_size
            blank = np.zeros((height, width, 3), np.uint8)
            return FrameCalibration(index, [], blank, blank[..., 0].copy(), shape, [])
        image, mask, people = self.render(fits)
        return FrameCalibration(index, fits, image, mask, shape, people)

    def tracks(self, frames: Iterable[Sequence[np.ndarray]]) -> list[list[tuple[int, int]]]:
        """(reference person, track) of every target person in every frame, followed in frame order
        (see :class:`tpc.matching.PeopleMatcher`): a track is one person from frame to frame.

        Keypoints only, so it is cheap to compute for a whole sequence up front; with it, frames can
        be calibrated in any order (``search(people, reference_for=..., ...)``)."""
        reference_size = (self.image.shape[1], self.image.shape[0])
        matcher = PeopleMatcher([r.keypoints for r in self.references], reference_size, self.canvas_size, self.config.confidence_threshold)
        return [matcher.match_tracks(list(people)) for people in frames]

    def sequence(
        self, frames: Sequence[Sequence[np.ndarray]], target_masks: Sequence[np.ndarray | None] | None = None
    ) -> SequenceCalibration:
        """The frames as a sequence any frame of which can be calibrated first (see :mod:`tpc.temporal`);
        ``target_masks[i]`` is read only when frame i or a neighbour is calibrated."""
        return SequenceCalibration(self, frames, target_masks)

    def calibrate_sequence(
        self,
        frames: Sequence[Sequence[np.ndarray]],
        target_masks: Sequence[np.ndarray | None] | None = None,
    ) -> Iterator[FrameCalibration]:
        """Calibrate frames in order, each target person keeping their reference person; as a
        sequence, or every frame on its own with ``config.independent``."""
        sequence = self.sequence(frames, target_masks)
        for index in range(len(frames)):
            yield sequence.calibration(index)
