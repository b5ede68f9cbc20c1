"""Procrustes warping with optimal keypoint subsets (paper Sec. 4.1, Eq. 4).

For every target frame and person, :class:`Calibrator` fits one similarity per candidate keypoint
subset, scores every candidate by the IoU between the warped reference person mask and the target
person shape, keeps the best, and warps the full-resolution reference image once with it. The result
is the calibrated image :math:`C_i` (the warped reference person on black) and its mask.

Scoring is done at low resolution and in one batch per frame, without warping images: the
intersection is counted by mapping target-shape cells back into the reference mask, and the area of
the warped reference that stays on the canvas by mapping reference-mask cells forward. So the search
costs about as much as one small warp, however many candidates there are.

Nothing here raises on odd input: degenerate frames fall back to aligning the masks' moments, then to
the identity, and the fit says which fallback it used and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator, Sequence

import cv2
import numpy as np

from . import keypoints as kp
from .masks import MaskMoments, mask_moments, moments_similarity, split_between_people
from .matching import PeopleMatcher
from .procrustes import Similarity, SimilarityBatch, fit_similarity_batch
from .silhouette import LABEL_SWAP, NUM_LABELS, UNASSIGNED, BodyWidths, draw_silhouette, drawn_parts, label_parts, relative_size
from .subsets import CORE, part_union_subsets, toggled_neighbours

_ALL_PARTS = np.arange(NUM_LABELS) > 0  # a given target mask describes every part of the person

# Names of the fallbacks, as they appear in reports.
FALLBACK_UNSCORED = "all_points_unscored"
FALLBACK_MOMENTS = "mask_moments"
FALLBACK_IDENTITY = "identity"


@dataclass(frozen=True)
class CalibrationConfig:
    """Settings of the subset search; the defaults are what the benchmarks measure."""

    confidence_threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD
    score_resolution: int = 96  # long side, in cells, of the grid the IoU is counted on
    refine_rounds: int = 2  # rounds of toggling single keypoints of the best part-union subset
    # Rounds of nudging the winning transform towards a higher IoU (0: off). Only against target
    # masks: against shapes drawn from keypoints it was measured to lose IoU.
    polish_rounds: int = 3
    facing_away: bool = True  # swap left/right correspondences for a person seen from behind
    # Within this much IoU, prefer the subset with more keypoints (it averages out keypoint jitter).
    # Shapes drawn from keypoints are rough, so there small IoU differences are noise: measured on
    # benchmarks/calibration_quality.py, 0.05 there and 0.002 against given masks do best.
    tie_margin: float = 0.002
    tie_margin_drawn: float = 0.05
    max_cells: int = 2048  # IoU terms are counted on at most this many cells per shape (an even stride)

    def __post_init__(self) -> None:
        if not 8 <= self.score_resolution <= 1024:
            raise ValueError(f"score_resolution must be between 8 and 1024, got {self.score_resolution}")
        if self.max_cells < 16:
            raise ValueError(f"max_cells must be at least 16, got {self.max_cells}")
        if min(self.refine_rounds, self.polish_rounds) < 0 or min(self.tie_margin, self.tie_margin_drawn) < 0:
            raise ValueError("rounds and tie margins cannot be negative")


@dataclass(frozen=True)
class PersonFit:
    """How one reference person was warped onto one target person."""

    reference_index: int
    target_index: int
    transform: Similarity
    keypoints_used: tuple[int, ...]
    score: float  # IoU of Eq. 4 for the chosen subset (0 for fallbacks that were not scored)
    fallback: str | None = None
    note: str | None = None
    mirrored: bool = False  # left/right correspondences swapped (target seen from behind)

    def to_report(self) -> dict:
        """The report.json entry: matrix maps reference pixels to target pixels."""
        t = self.transform
        return {
            "reference_person": self.reference_index,
            "target_person": self.target_index,
            "matrix": [[round(float(v), 6) for v in row] for row in t.matrix],
            "scale": round(t.scale, 6),
            "rotation_deg": round(t.rotation_deg, 4),
            "translation": [round(t.translation[0], 3), round(t.translation[1], 3)],
            "keypoints_used": list(self.keypoints_used),
            "score": round(self.score, 4),
            "fallback": self.fallback,
            "mirrored": self.mirrored,
            "note": self.note,
        }


@dataclass
class FrameCalibration:
    """Calibrated image and mask of one target frame, with the fit of every target person."""

    index: int
    fits: list[PersonFit]
    image: np.ndarray  # (H, W, 3) uint8, RGB, black outside the people
    mask: np.ndarray  # (H, W) uint8, 0 or 255
    target_shape: np.ndarray | None = None  # low-resolution bool grid the fits were scored against
    people: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # per fit: own image, mask


@dataclass
class _Reference:
    """One reference person, with everything the per-frame search reuses."""

    keypoints: np.ndarray
    seen: np.ndarray
    mask: np.ndarray  # (H, W) uint8 0/1, full resolution: warped at the end
    cutout: np.ndarray  # reference image with everything but this person blacked out
    area: float
    widths: BodyWidths
    cells: np.ndarray  # (P, 2) float32 centres of low-resolution mask cells, full-res pixels
    labels: np.ndarray  # (H, W) uint8 body-part label of every person pixel (tpc.silhouette)
    facing: int  # handedness on screen, see tpc.keypoints.facing
    moments: MaskMoments | None  # of the mask, for the moments fallback
    box_corners: np.ndarray = field(init=False)  # (4, 2) corners of the mask's bounding box
    flat_labels: np.ndarray = field(init=False)  # labels raveled: looked up by the scoring
    cell_labels: np.ndarray = field(init=False)  # (P,) label under each cell centre
    part_area: np.ndarray = field(init=False)  # (NUM_LABELS,) pixels per label
    seen_swapped: np.ndarray = field(init=False)
    keypoints_swapped: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        rows, cols = np.nonzero(self.mask)
        if len(rows):
            x0, x1, y0, y1 = cols.min() - 0.5, cols.max() + 0.5, rows.min() - 0.5, rows.max() + 0.5
        else:
            x0 = x1 = y0 = y1 = 0.0
        self.box_corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        self.flat_labels = self.labels.ravel()
        height, width = self.labels.shape
        at = np.rint(self.cells).astype(np.int64)
        self.cell_labels = self.labels[np.clip(at[:, 1], 0, height - 1), np.clip(at[:, 0], 0, width - 1)]
        self.cell_labels[self.cell_labels == 0] = UNASSIGNED  # a half-covered cell whose centre missed
        self.part_area = np.bincount(self.flat_labels, minlength=NUM_LABELS).astype(np.float64)
        self.part_area[0] = 0.0
        swap = list(kp.LEFT_RIGHT_SWAP)
        self.seen_swapped = self.seen[swap]
        self.keypoints_swapped = self.keypoints[swap]


@dataclass
class _Target:
    keypoints: np.ndarray
    seen: np.ndarray
    shape: np.ndarray  # (h, w) bool grid at the scoring resolution
    cells: np.ndarray  # (Q, 2) float32 centres of (a stride through) the shape's cells, full-res pixels
    area: float  # the whole shape's area, full-res pixels
    from_mask: bool  # the shape is a given mask (trustworthy), not drawn from keypoints
    parts: np.ndarray  # (NUM_LABELS,) reference part labels the shape describes
    tie_margin: float  # IoU differences below this are not worth fewer keypoints

    @property
    def cell_area(self) -> float:
        return self.area / max(1, len(self.cells))


class Calibrator:
    """Calibrates one reference image against target poses, frame after frame.

    ``people`` holds, for each person in the reference image, their COCO-17 keypoints (17, 3) and
    their mask (H, W) (bool, or 0/255). ``canvas_size`` = (W, H) of the target frames. The expensive
    per-reference work (mask sampling, body widths) happens once, here.
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

    # -- per-reference preparation ----------------------------------------------------------------
    def _prepare(self, keypoints: np.ndarray, mask: np.ndarray) -> _Reference:
        height, width = self.image.shape[:2]
        if keypoints.shape != (kp.NUM_KEYPOINTS, 3):
            raise ValueError(f"reference keypoints must have shape (17, 3), got {keypoints.shape}")
        if mask.shape[:2] != (height, width):
            raise ValueError(f"reference mask is {mask.shape[1]}x{mask.shape[0]}, image is {width}x{height}")
        binary = (mask > 0) if mask.dtype != bool else mask
        binary = binary[..., 0] if binary.ndim == 3 else binary
        seen = kp.visible(keypoints, self.config.confidence_threshold)
        cells = _mask_cells(binary, self._ref_zoom, self.config.max_cells)
        cutout = self.image * binary[..., None].astype(np.uint8)
        widths = BodyWidths.measure(keypoints, binary, self.config.confidence_threshold)
        return _Reference(
            keypoints=keypoints,
            seen=seen,
            mask=binary.astype(np.uint8),
            cutout=cutout,
            area=float(binary.sum()),
            widths=widths,
            cells=cells,
            labels=label_parts(keypoints, binary, widths, self.config.confidence_threshold),
            facing=kp.facing(keypoints, self.config.confidence_threshold),
            moments=mask_moments(binary.astype(np.uint8)),
        )

    # -- the search -----------------------------------------------------------------------------------
    def fit(
        self,
        target_people: Sequence[np.ndarray],
        reference_for: Sequence[int] | None = None,
        target_mask: np.ndarray | None = None,
    ) -> list[PersonFit]:
        """Fit every target person of one frame; nothing is warped yet.

        ``reference_for[j]`` names the reference person for target person j (default: person 0, or
        the same index when the counts match). ``target_mask`` (H, W), when given, is the union
        silhouette of all target people; otherwise shapes are drawn from the keypoints.
        """
        return self._fit(target_people, reference_for, target_mask)[0]

    def _fit(
        self,
        target_people: Sequence[np.ndarray],
        reference_for: Sequence[int] | None,
        target_mask: np.ndarray | None,
    ) -> tuple[list[PersonFit], list[np.ndarray]]:
        targets = [np.asarray(t, dtype=np.float64) for t in target_people]
        if reference_for is None:
            same = len(targets) == len(self.references)
            reference_for = [j if same else 0 for j in range(len(targets))]
        if len(reference_for) != len(targets) or not all(0 <= r < len(self.references) for r in reference_for):
            raise ValueError(f"reference_for must name one of {len(self.references)} reference people per target person")
        shapes = self._target_shapes(targets, reference_for, target_mask)
        fits = [
            self._fit_person(self.references[r], r, self._target(t, shape, target_mask is not None), j)
            for j, (t, r, shape) in enumerate(zip(targets, reference_for, shapes))
        ]
        return fits, shapes

    def _target_shapes(
        self, targets: list[np.ndarray], reference_for: Sequence[int], target_mask: np.ndarray | None
    ) -> list[np.ndarray]:
        """Low-resolution target shape of each person (bool grids)."""
        grid_w, grid_h = self._tgt_grid
        if target_mask is not None:
            mask = np.asarray(target_mask)
            mask = mask[..., 0] if mask.ndim == 3 else mask
            if mask.shape != (self.canvas_size[1], self.canvas_size[0]):
                raise ValueError(
                    f"target mask is {mask.shape[1]}x{mask.shape[0]}, canvas is "
                    f"{self.canvas_size[0]}x{self.canvas_size[1]}"
                )
            small = _downscale((mask > 0).astype(np.uint8) * 255, self._tgt_zoom, self._tgt_grid)
            return split_between_people(small >= 128, targets, zoom=self._tgt_zoom, threshold=self.config.confidence_threshold)
        shapes = []
        for target, r in zip(targets, reference_for):
            reference = self.references[r]
            ratio = relative_size(reference.keypoints, target, self.config.confidence_threshold) or 1.0
            drawn = draw_silhouette(
                target,
                reference.widths.scaled(ratio),
                (grid_w, grid_h),
                zoom=self._tgt_zoom,
                threshold=self.config.confidence_threshold,
            )
            shapes.append(drawn > 0)
        return shapes

    def _target(self, keypoints: np.ndarray, shape: np.ndarray, from_mask: bool) -> _Target:
        rows, cols = np.nonzero(shape)
        area = len(rows) / self._tgt_zoom**2
        # A person filling the canvas covers thousands of cells; an even stride through them keeps
        # the IoU estimate unbiased and the cost bounded.
        stride = max(1, -(-len(rows) // self.config.max_cells))
        centres = np.stack([cols[::stride], rows[::stride]], axis=1).astype(np.float32)
        cells = (centres + 0.5) / self._tgt_zoom - 0.5
        return _Target(
            keypoints=keypoints,
            seen=kp.visible(keypoints, self.config.confidence_threshold),
            shape=shape,
            cells=cells.astype(np.float32),
            area=area,
            from_mask=from_mask,
            parts=_ALL_PARTS if from_mask else drawn_parts(keypoints, self.config.confidence_threshold),
            tie_margin=self.config.tie_margin if from_mask else self.config.tie_margin_drawn,
        )

    def _fit_person(self, ref: _Reference, ref_index: int, target: _Target, target_index: int) -> PersonFit:
        config = self.config

        def result(transform: Similarity, used, score: float, fallback=None, note=None, mirrored=False) -> PersonFit:
            return PersonFit(ref_index, target_index, transform, tuple(int(i) for i in used), float(score), fallback, note, mirrored)

        mirrored = self._seen_from_behind(ref, target)
        if mirrored:  # the reference's right arm now covers the target's left arm, and so on
            target = replace(target, parts=target.parts[LABEL_SWAP])
        common = (ref.seen_swapped if mirrored else ref.seen) & target.seen
        source = ref.keypoints_swapped if mirrored else ref.keypoints
        can_score = ref.area > 0 and target.area > 0
        if common.sum() >= 2 and can_score:
            best = self._search(ref, target, source, common)
            if best is not None:
                transform, subset, score = best
                if target.from_mask and (common & CORE).sum() < 2:
                    # Limb points alone cannot tell which way the body is turned; a given mask can.
                    moments = self._moment_candidates(ref, target)
                    if moments is not None:
                        scores = self._score(ref, target, moments)
                        top = int(np.argmax(scores))
                        if scores[top] > score + target.tie_margin:
                            return result(
                                moments.take(top), (), float(scores[top]), FALLBACK_MOMENTS,
                                "fewer than two face or torso keypoints are visible in both; the masks' moments fitted better",
                            )
                return result(transform, np.flatnonzero(subset), score, mirrored=mirrored)

        if common.sum() >= 2 and not can_score:
            batch = fit_similarity_batch(source, target.keypoints, common[None].astype(np.float64))
            if batch.valid[0]:
                what = "reference person mask" if ref.area == 0 else "target person shape"
                return result(
                    batch.take(0), np.flatnonzero(common), 0.0, FALLBACK_UNSCORED,
                    f"the {what} is empty, so subsets could not be scored; fitted all common keypoints",
                    mirrored,
                )

        reason = (
            "fewer than two keypoints are visible in both reference and target"
            if common.sum() < 2
            else "every keypoint subset gave a degenerate fit"
        )
        if can_score:
            moments = self._moment_candidates(ref, target)
            if moments is not None:
                scores = self._score(ref, target, moments)
                top = int(np.argmax(scores))
                return result(moments.take(top), (), float(scores[top]), FALLBACK_MOMENTS, f"{reason}; aligned the masks' moments")
        empty = "reference person mask" if ref.area == 0 else "target person shape"
        return result(Similarity.identity(), (), 0.0, FALLBACK_IDENTITY, f"{reason} and the {empty} is empty; left the reference as it is")

    def _seen_from_behind(self, ref: _Reference, target: _Target) -> bool:
        """Whether left and right must be swapped to fit the target without a reflection.

        When both bodies show their handedness (:func:`tpc.keypoints.facing`) and it differs, the
        target is seen from behind (or the reference is). When either cannot tell (a profile),
        correspondences stay as they are: letting the IoU pick the swap there was measured to turn
        people upside down.
        """
        if not (self.config.facing_away and ref.facing):
            return False
        target_facing = kp.facing(target.keypoints, self.config.confidence_threshold)
        return bool(target_facing) and target_facing != ref.facing

    def _search(self, ref: _Reference, target: _Target, source: np.ndarray, common: np.ndarray):
        """Best (transform, subset, IoU) over the part-union family plus local toggles."""
        candidates = part_union_subsets(common)
        if len(candidates) == 0:
            return None
        best = self._best_of(ref, target, source, candidates)
        if best is None:
            return None
        for _ in range(self.config.refine_rounds):
            neighbours = toggled_neighbours(best[1], common)
            if len(neighbours) == 0:
                break
            challenger = self._best_of(ref, target, source, neighbours)
            if challenger is None or challenger[2] <= best[2] + target.tie_margin:
                break
            best = challenger
        if self.config.polish_rounds and target.from_mask:
            transform, score = self._polish(ref, target, best[0], best[2])
            best = (transform, best[1], score)
        return best

    def _polish(self, ref: _Reference, target: _Target, transform: Similarity, score: float) -> tuple[Similarity, float]:
        """Nudge scale, rotation and position of the winning fit while the IoU keeps rising.

        Keypoints jitter; the shapes do not. Each round tries 16 nudges about the warped person's
        centre (scale and rotation both ways at two step sizes, shifts along x and y) in one batch,
        keeps the best if it gains more than the tie margin, and halves the steps.
        """
        centre = transform.apply(ref.cells.mean(axis=0, keepdims=True))[0] if len(ref.cells) else np.zeros(2)
        size = np.sqrt(ref.area) * transform.scale
        step = 1.0
        for _ in range(self.config.polish_rounds):
            batch = _nudges(transform, centre, size, step)
            scores = self._score(ref, target, batch)
            top = int(np.argmax(scores))
            if scores[top] > score + target.tie_margin:
                transform, score = batch.take(top), float(scores[top])
                centre = transform.apply(ref.cells.mean(axis=0, keepdims=True))[0] if len(ref.cells) else centre
            else:
                step /= 2
        return transform, score

    def _best_of(self, ref: _Reference, target: _Target, source: np.ndarray, subsets: np.ndarray):
        batch = fit_similarity_batch(source, target.keypoints, subsets.astype(np.float64))
        scores = self._score(ref, target, batch)
        scores = np.where(batch.valid, scores, -1.0)
        top = scores.max()
        if top < 0:
            return None
        # Within the tie margin, prefer more keypoints (a steadier fit); then the earlier candidate.
        close = np.flatnonzero(scores >= top - target.tie_margin)
        choice = close[np.argmax(subsets[close].sum(axis=1))]
        return batch.take(int(choice)), subsets[choice].copy(), float(scores[choice])

    def _score(self, ref: _Reference, target: _Target, batch: SimilarityBatch) -> np.ndarray:
        """IoU between each warped reference mask and the target shape, for a batch of transforms.

        Intersection: target-shape cells mapped back into the full-resolution reference mask.
        Warped area: reference-mask cells mapped forward, counting those that land on the canvas.
        """
        height, width = ref.mask.shape
        inverse = batch.inverse_matrices.astype(np.float32)[:, :, :, None]  # (B, 2, 3, 1)
        tx, ty = target.cells[:, 0], target.cells[:, 1]
        bx = np.rint(inverse[:, 0, 0] * tx + inverse[:, 0, 1] * ty + inverse[:, 0, 2]).astype(np.int32)
        by = np.rint(inverse[:, 1, 0] * tx + inverse[:, 1, 1] * ty + inverse[:, 1, 2]).astype(np.int32)
        inside = (bx >= 0) & (bx < width) & (by >= 0) & (by < height)
        flat = np.clip(by, 0, height - 1) * width + np.clip(bx, 0, width - 1)
        # Only reference parts the target shape describes count: a silhouette drawn from keypoints
        # lacks the parts whose keypoints are hidden, and must not pull the fit towards shrinking.
        included = target.parts
        hits = np.take(included, np.take(ref.flat_labels, flat)) & inside
        intersection = np.count_nonzero(hits, axis=1) * target.cell_area

        # Area of the (included) warped reference left on the canvas: s^2 * area when its box stays
        # inside, otherwise the share of reference cells that land on the canvas.
        warped_area = float(ref.part_area[included].sum()) * batch.scale**2
        forward = batch.matrices
        corners = np.einsum("bij,cj->bci", forward[:, :, :2], ref.box_corners) + forward[:, None, :, 2]
        canvas_w, canvas_h = self.canvas_size
        leaves = (corners.min(axis=1) < -0.5).any(axis=1) | (corners[..., 0].max(axis=1) > canvas_w - 0.5) | (
            corners[..., 1].max(axis=1) > canvas_h - 0.5
        )
        if leaves.any():
            counted = included[ref.cell_labels]
            cells = ref.cells[counted]
            part = forward[leaves].astype(np.float32)[:, :, :, None]
            rx, ry = cells[:, 0], cells[:, 1]
            ax = part[:, 0, 0] * rx + part[:, 0, 1] * ry + part[:, 0, 2]
            ay = part[:, 1, 0] * rx + part[:, 1, 1] * ry + part[:, 1, 2]
            on_canvas = (ax >= -0.5) & (ax < canvas_w - 0.5) & (ay >= -0.5) & (ay < canvas_h - 0.5)
            share = np.count_nonzero(on_canvas, axis=1) / max(1, len(cells))
            warped_area[leaves] *= share
        union = warped_area + target.area - intersection
        return np.clip(np.where(union > 0, intersection / np.maximum(union, 1e-9), 0.0), 0.0, 1.0)

    def _moment_candidates(self, ref: _Reference, target: _Target) -> SimilarityBatch | None:
        """The similarity aligning the masks' moments, and the same turned by 180 degrees.

        A principal axis has no direction, so both readings are scored and the better one kept.
        """
        transform = moments_similarity(ref.moments, mask_moments(target.shape.astype(np.uint8)))
        if transform is None:
            return None
        transform = _rescale_grid_similarity(transform, self._tgt_zoom)
        centre = transform.apply(ref.cells.mean(axis=0, keepdims=True))[0] if len(ref.cells) else np.zeros(2)
        turned = 2 * centre - np.asarray(transform.translation)  # c + R(pi)(t - c) = c - (t - c)
        return SimilarityBatch(
            scale=np.array([transform.scale, transform.scale]),
            angle=np.array([transform.angle, transform.angle + np.pi]),
            translation=np.array([transform.translation, turned]),
            valid=np.array([True, True]),
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
        """Fit and render one frame."""
        fits, shapes = self._fit(target_people, reference_for, target_mask)
        grid_w, grid_h = self._tgt_grid
        shape = np.logical_or.reduce(shapes) if shapes else np.zeros((grid_h, grid_w), bool)
        if not fits:
            width, height = self.canvas_size
            blank = np.zeros((height, width, 3), np.uint8)
            return FrameCalibration(index, [], blank, blank[..., 0].copy(), shape, [])
        image, mask, people = self.render(fits)
        return FrameCalibration(index, fits, image, mask, shape, people)

    def assignments(self, frames: Iterable[Sequence[np.ndarray]]) -> list[list[int]]:
        """Reference person of every target person in every frame, tracked in frame order.

        Keypoints only, so it is cheap to compute for a whole job up front; with it, frames can be
        calibrated in any order (``calibrate(people, reference_for=assignments[i], ...)``).
        """
        reference_size = (self.image.shape[1], self.image.shape[0])
        matcher = PeopleMatcher(
            [r.keypoints for r in self.references], reference_size, self.canvas_size, self.config.confidence_threshold
        )
        return [matcher.match(list(people)) for people in frames]

    def calibrate_sequence(
        self,
        frames: Sequence[Sequence[np.ndarray]],
        target_masks: Iterable[np.ndarray | None] | None = None,
    ) -> Iterator[FrameCalibration]:
        """Calibrate frames in order, keeping each target person's reference identity stable."""
        masks = iter(target_masks) if target_masks is not None else None
        for index, (people, reference_for) in enumerate(zip(frames, self.assignments(frames))):
            target_mask = next(masks, None) if masks is not None else None
            yield self.calibrate(people, reference_for, target_mask, index)


def _downscale(mask: np.ndarray, zoom: float, grid: tuple[int, int]) -> np.ndarray:
    """Area-average a 0/255 mask onto ``grid`` with the same scale factor on both axes.

    Given ``fx``/``fy``, OpenCV maps with exactly those factors (pixel centres aligned); passing a
    target size instead would stretch each axis by its own rounded ratio.
    """
    small = cv2.resize(mask, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
    grid_w, grid_h = grid
    out = np.zeros((grid_h, grid_w), np.uint8)
    rows, cols = min(grid_h, small.shape[0]), min(grid_w, small.shape[1])
    out[:rows, :cols] = small[:rows, :cols]
    return out


def _mask_cells(mask: np.ndarray, zoom: float, limit: int) -> np.ndarray:
    """Centres (full-res pixels) of low-res cells at least half covered by the mask, at most ``limit``
    of them (an even stride), used to estimate what share of the warped person stays on the canvas."""
    height, width = mask.shape
    grid = (max(1, int(np.ceil(width * zoom))), max(1, int(np.ceil(height * zoom))))
    small = cv2.resize(mask.astype(np.uint8) * 255, grid, interpolation=cv2.INTER_AREA)
    rows, cols = np.nonzero(small >= 128)
    if len(rows) == 0:  # a tiny person: its own pixels
        rows, cols = np.nonzero(mask)
        return np.stack([cols, rows], axis=1).astype(np.float32)
    stride = max(1, -(-len(rows) // limit))
    rows, cols = rows[::stride], cols[::stride]
    zoom_x, zoom_y = grid[0] / width, grid[1] / height
    centres = np.stack([(cols + 0.5) / zoom_x - 0.5, (rows + 0.5) / zoom_y - 0.5], axis=1)
    return centres.astype(np.float32)


def _nudges(transform: Similarity, centre: np.ndarray, size: float, step: float) -> SimilarityBatch:
    """16 variations of ``transform``: scale x(1 +- 4%, 8%), rotation +-3, 6 degrees (both about
    ``centre``, the warped person's centre) and shifts of +-2 %, 4 % of ``size`` along x and y."""
    factors = np.array([1.04, 1.08, 1 / 1.04, 1 / 1.08]) ** step
    turns = np.radians(np.array([3.0, 6.0, -3.0, -6.0]) * step)
    shifts = np.array([0.02, 0.04, -0.02, -0.04]) * size * step
    scale = np.concatenate([transform.scale * factors, np.full(12, transform.scale)])
    angle = np.concatenate([np.full(4, transform.angle), transform.angle + turns, np.full(8, transform.angle)])
    # Scaling or turning about the centre c: t' = c + k R(d) (t - c), with k R(d) the extra similarity.
    extra_scale = np.concatenate([factors, np.ones(12)])
    extra_turn = np.concatenate([np.zeros(4), turns, np.zeros(8)])
    offset = np.asarray(transform.translation) - centre
    cos, sin = extra_scale * np.cos(extra_turn), extra_scale * np.sin(extra_turn)
    translation = np.stack([centre[0] + cos * offset[0] - sin * offset[1], centre[1] + sin * offset[0] + cos * offset[1]], axis=1)
    translation[8:12, 0] += shifts
    translation[12:16, 1] += shifts
    return SimilarityBatch(scale=scale, angle=angle, translation=translation, valid=np.ones(16, dtype=bool))


def _rescale_grid_similarity(transform: Similarity, zoom: float) -> Similarity:
    """A similarity into a target grid at ``zoom`` re-expressed in full-resolution target pixels."""
    matrix = transform.matrix.copy()
    matrix[:, :2] /= zoom
    matrix[:, 2] = (matrix[:, 2] + 0.5) / zoom - 0.5
    return Similarity.from_matrix(matrix)
