"""One reference person fitted onto one target person: the subset search of paper Eq. 4.

:func:`fit_person` fits one similarity per candidate keypoint subset (:mod:`tpc.subsets`), scores
them all in one batch (:func:`tpc.scoring.warped_iou`), refines the winner by toggling single
keypoints, and, against a given target mask, nudges its scale, rotation and position while the IoU
rises. It never raises on odd input: degenerate people fall back to aligning the masks' moments,
then to the identity, and the fit says which fallback it used and why.

It also returns the target as it was scored (parts swapped for a person seen from behind), so that
a sequence can score the transform it smooths (:mod:`tpc.temporal`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from . import keypoints as kp
from .calibration_config import CalibrationConfig
from .masks import MaskMoments, mask_moments, moments_similarity
from .procrustes import Similarity, SimilarityBatch, fit_similarity_batch
from .scoring import ReferenceCells, TargetCells, grid_to_pixels, warped_iou
from .silhouette import LABEL_SWAP, BodyWidths
from .subsets import CORE, part_union_subsets, toggled_neighbours

# Names of the fallbacks, as they appear in reports.
FALLBACK_UNSCORED = "all_points_unscored"
FALLBACK_MOMENTS = "mask_moments"
FALLBACK_IDENTITY = "identity"


@dataclass(frozen=True)
class PersonFit:
    """How one reference person was warped onto one target person."""

    reference_index: int
    target_index: int
    transform: Similarity
    keypoints_used: tuple[int, ...]
    score: float  # IoU of Eq. 4 of the transform used (0 for fallbacks that were not scored)
    fallback: str | None = None
    note: str | None = None
    mirrored: bool = False  # left/right correspondences swapped (target seen from behind)
    # IoU of the frame's own best transform (its Eq. 4 winner) when a sequence smoothed it into
    # ``transform``; None when ``transform`` is that winner itself (then it equals ``score``).
    candidate_score: float | None = None

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
            "candidate_score": round(self.score if self.candidate_score is None else self.candidate_score, 4),
            "fallback": self.fallback,
            "mirrored": self.mirrored,
            "note": self.note,
        }


@dataclass
class ReferencePerson:
    """One reference person, with everything the per-frame search reuses."""

    keypoints: np.ndarray
    seen: np.ndarray
    mask: np.ndarray  # (H, W) uint8 0/1, full resolution: warped at the end
    cutout: np.ndarray  # reference image with everything but this person blacked out
    area: float
    widths: BodyWidths
    cells: ReferenceCells
    facing: int  # handedness on screen, see tpc.keypoints.facing
    moments: MaskMoments | None  # of the mask, for the moments fallback
    seen_swapped: np.ndarray = field(init=False)
    keypoints_swapped: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        swap = list(kp.LEFT_RIGHT_SWAP)
        self.seen_swapped = self.seen[swap]
        self.keypoints_swapped = self.keypoints[swap]


@dataclass(frozen=True)
class TargetPerson:
    """One target person of one frame: keypoints and the shape the search scores against."""

    keypoints: np.ndarray
    seen: np.ndarray
    shape: np.ndarray  # (h, w) bool grid at ``zoom`` times the canvas: the person's target shape
    zoom: float
    cells: TargetCells  # sampled from ``shape``
    from_mask: bool  # the shape is a given mask (trustworthy), not drawn from keypoints
    tie_margin: float  # IoU differences below this are not worth fewer keypoints


def fit_person(
    ref: ReferencePerson,
    ref_index: int,
    target: TargetPerson,
    target_index: int,
    config: CalibrationConfig,
    canvas_size: tuple[int, int],
) -> tuple[PersonFit, TargetPerson]:
    """The best transform of ``ref`` onto ``target`` (Eq. 4), or a named fallback, and the target as scored."""
    search = _Search(ref, config, canvas_size)
    mirrored = _seen_from_behind(ref, target, config)
    if mirrored:  # the reference's right arm now covers the target's left arm, and so on
        target = replace(target, cells=replace(target.cells, parts=target.cells.parts[LABEL_SWAP]))

    def result(transform: Similarity, used: np.ndarray, score: float, fallback=None, note=None, flip=False):
        return PersonFit(ref_index, target_index, transform, tuple(int(i) for i in used), float(score), fallback, note, flip), target

    common = (ref.seen_swapped if mirrored else ref.seen) & target.seen
    source = ref.keypoints_swapped if mirrored else ref.keypoints
    can_score = ref.area > 0 and target.cells.area > 0
    none = np.zeros(0, int)
    if common.sum() >= 2 and can_score:
        best = search.subsets(target, source, common)
        if best is not None:
            transform, subset, score = best
            if target.from_mask and (common & CORE).sum() < 2:
                # Limb points alone cannot tell which way the body is turned; a given mask can.
                moments = search.moment_candidates(target)
                if moments is not None:
                    scores = search.score(target, moments)
                    top = int(np.argmax(scores))
                    if scores[top] > score + target.tie_margin:
                        return result(
                            moments.take(top), none, float(scores[top]), FALLBACK_MOMENTS,
                            "fewer than two face or torso keypoints are visible in both; the masks' moments fitted better",
                        )  # fmt: skip
            return result(transform, np.flatnonzero(subset), score, flip=mirrored)

    if common.sum() >= 2 and not can_score:
        batch = fit_similarity_batch(source, target.keypoints, common[None].astype(np.float64))
        if batch.valid[0]:
            what = "reference person mask" if ref.area == 0 else "target person shape"
            return result(
                batch.take(0), np.flatnonzero(common), 0.0, FALLBACK_UNSCORED,
                f"the {what} is empty, so subsets could not be scored; fitted all common keypoints", mirrored,
            )  # fmt: skip

    reason = (
        "fewer than two keypoints are visible in both reference and target"
        if common.sum() < 2
        else "every keypoint subset gave a degenerate fit"
    )
    if can_score:
        moments = search.moment_candidates(target)
        if moments is not None:
            scores = search.score(target, moments)
            top = int(np.argmax(scores))
            return result(moments.take(top), none, float(scores[top]), FALLBACK_MOMENTS, f"{reason}; aligned the masks' moments")
    empty = "reference person mask" if ref.area == 0 else "target person shape"
    return result(Similarity.identity(), none, 0.0, FALLBACK_IDENTITY, f"{reason} and the {empty} is empty; left the reference as it is")


def _seen_from_behind(ref: ReferencePerson, target: TargetPerson, config: CalibrationConfig) -> bool:
    """Whether left and right must be swapped to fit the target without a reflection.

    When both bodies show their handedness (:func:`tpc.keypoints.facing`) and it differs, the target
    is seen from behind (or the reference is). When either cannot tell (a profile), correspondences
    stay as they are: letting the IoU pick the swap there was measured to turn people upside down.
    """
    if not (config.facing_away and ref.facing):
        return False
    target_facing = kp.facing(target.keypoints, config.confidence_threshold)
    return bool(target_facing) and target_facing != ref.facing


class _Search:
    """The subset search of one person in one frame."""

    def __init__(self, ref: ReferencePerson, config: CalibrationConfig, canvas_size: tuple[int, int]) -> None:
        self.ref, self.config, self.canvas_size = ref, config, canvas_size

    def score(self, target: TargetPerson, batch: SimilarityBatch) -> np.ndarray:
        return warped_iou(self.ref.cells, target.cells, batch, self.canvas_size)

    def subsets(self, target: TargetPerson, source: np.ndarray, common: np.ndarray):
        """Best (transform, subset, IoU) over the part-union family plus local toggles, polished."""
        candidates = part_union_subsets(common)
        if len(candidates) == 0:
            return None
        best = self._best_of(target, source, candidates)
        if best is None:
            return None
        for _ in range(self.config.refine_rounds):
            neighbours = toggled_neighbours(best[1], common)
            if len(neighbours) == 0:
                break
            challenger = self._best_of(target, source, neighbours)
            if challenger is None or challenger[2] <= best[2] + target.tie_margin:
                break
            best = challenger
        if self.config.polish_rounds and target.from_mask:
            transform, score = self._polish(target, best[0], best[2])
            best = (transform, best[1], score)
        return best

    def _best_of(self, target: TargetPerson, source: np.ndarray, subsets: np.ndarray):
        batch = fit_similarity_batch(source, target.keypoints, subsets.astype(np.float64))
        scores = self.score(target, batch)
        scores = np.where(batch.valid, scores, -1.0)
        top = scores.max()
        if top < 0:
            return None
        # Within the tie margin, prefer more keypoints (a steadier fit); then the earlier candidate.
        close = np.flatnonzero(scores >= top - target.tie_margin)
        choice = close[np.argmax(subsets[close].sum(axis=1))]
        return batch.take(int(choice)), subsets[choice].copy(), float(scores[choice])

    def _polish(self, target: TargetPerson, transform: Similarity, score: float) -> tuple[Similarity, float]:
        """Nudge scale, rotation and position of the winning fit while the IoU keeps rising.

        Keypoints jitter; the shapes do not. Each round tries 16 nudges about the warped person's
        centre (scale and rotation both ways at two step sizes, shifts along x and y) in one batch,
        keeps the best if it gains more than the tie margin, and halves the steps.
        """
        centre = transform.apply(self.ref.cells.centre[None])[0]
        size = np.sqrt(self.ref.area) * transform.scale
        step = 1.0
        for _ in range(self.config.polish_rounds):
            batch = nudges(transform, centre, size, step)
            scores = self.score(target, batch)
            top = int(np.argmax(scores))
            if scores[top] > score + target.tie_margin:
                transform, score = batch.take(top), float(scores[top])
                centre = transform.apply(self.ref.cells.centre[None])[0]
            else:
                step /= 2
        return transform, score

    def moment_candidates(self, target: TargetPerson) -> SimilarityBatch | None:
        """The similarity aligning the masks' moments, and the same turned by 180 degrees.

        A principal axis has no direction, so both readings are scored and the better one kept.
        """
        transform = moments_similarity(self.ref.moments, mask_moments(target.shape.astype(np.uint8)))
        if transform is None:
            return None
        transform = grid_to_pixels(transform, target.zoom)
        centre = transform.apply(self.ref.cells.centre[None])[0]
        turned = 2 * centre - np.asarray(transform.translation)  # c + R(pi)(t - c) = c - (t - c)
        return SimilarityBatch(
            scale=np.array([transform.scale, transform.scale]),
            angle=np.array([transform.angle, transform.angle + np.pi]),
            translation=np.array([transform.translation, turned]),
            valid=np.array([True, True]),
        )


def nudges(transform: Similarity, centre: np.ndarray, size: float, step: float) -> SimilarityBatch:
    """16 variations of ``transform``: scale x(1 +- 4%, 8%), rotation +-3, 6 degrees (both about
    ``centre``, the warped person's centre) and shifts of +-2 %, 4 % of ``size`` along x and y.

    Scaling or turning about the centre :math:`c` by the extra similarity :math:`k R_\\delta` keeps
    :math:`c` in place: :math:`t' = c + k R_\\delta (t - c)`.
    """
    factors = np.array([1.04, 1.08, 1 / 1.04, 1 / 1.08]) ** step
    turns = np.radians(np.array([3.0, 6.0, -3.0, -6.0]) * step)
    shifts = np.array([0.02, 0.04, -0.02, -0.04]) * size * step
    scale = np.concatenate([transform.scale * factors, np.full(12, transform.scale)])
    angle = np.concatenate([np.full(4, transform.angle), transform.angle + turns, np.full(8, transform.angle)])
    extra_scale = np.concatenate([factors, np.ones(12)])
    extra_turn = np.concatenate([np.zeros(4), turns, np.zeros(8)])
    offset = np.asarray(transform.translation) - centre
    cos, sin = extra_scale * np.cos(extra_turn), extra_scale * np.sin(extra_turn)
    translation = np.stack([centre[0] + cos * offset[0] - sin * offset[1], centre[1] + sin * offset[0] + cos * offset[1]], axis=1)
    translation[8:12, 0] += shifts
    translation[12:16, 1] += shifts
    return SimilarityBatch(scale=scale, angle=angle, translation=translation, valid=np.ones(16, dtype=bool))
