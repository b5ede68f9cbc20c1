"""Temporal coherence (beyond the paper): the frames of a video calibrated as a sequence.

Calibrating every frame on its own (paper Eq. 4) lets the calibrated person jump between frames: a
different keypoint subset wins by a hair, one noisy keypoint tips the fit, a keypoint disappears
for a few frames. Jumps in the calibrated image become flicker in the generated video. So each
tracked person's transform is smoothed over the neighbouring frames of the same shot, while each
frame's own search stays what it was.

Math. The transform :math:`A_k(x) = s_k R_{\\theta_k} x + t_k` of frame :math:`k` is read as
:math:`p_k = (\\log s_k, \\theta_k, c_k)`, :math:`c_k = A_k(\\bar x)` being where the reference person's
centre lands (so that scale and angle move about the person, not about the image corner). Frame
:math:`i` gets the local quadratic fit at :math:`i` (no lag for motion at constant speed, and none
from its acceleration, such as a person carried along an arc):

.. math::
    \\hat p_i = \\alpha, \\qquad (\\alpha, \\beta, \\gamma) = \\arg\\min \\sum_{k \\in W_i} w_k
    \\lVert p_k - \\alpha - \\beta (k - i) - \\gamma (k - i)^2 \\rVert^2, \\qquad
    w_k = e^{-(k - i)^2 / 2\\sigma^2}\\, r_k\\, \\rho_k ,

over the window :math:`W_i` of at most ``look_back`` frames before and ``look_ahead`` after :math:`i`
in which the same tracked person appears in the same shot. :math:`r_k` is 1 for a searched fit, 0.1
for a fit that fell back to the masks' moments or to unscored keypoints, 0 for the identity fallback
and for fits mirrored otherwise than frame :math:`i`'s. :math:`\\rho_k` are robust weights (two
rounds of Tukey's biweight on each frame's distance to the fit, as in LOWESS), so a few frames whose
own search went astray do not pull their neighbours along:

.. math::
    \\rho_k = \\left(1 - \\min(1, d_k / 3)^2\\right)^2, \\qquad
    d_k^2 = \\left(\\frac{\\Delta \\log s}{0.05}\\right)^2 + \\left(\\frac{\\Delta\\theta}{4^\\circ}\\right)^2
    + \\left(\\frac{\\lVert \\Delta c \\rVert}{0.04\\, s \\sqrt{|R|}}\\right)^2 .

A shot cut ends a window: between neighbouring frames a tracked person's keypoints scale by more
than 25 %, turn by more than 20 degrees or move by more than a quarter of the person's size
(smooth motions in benchmarks/calibration_stability.py change by at most 10 %, 4.5 degrees and 4 %).
The defaults (10 frames either side, sigma 5 frames, the 5 % / 4 degrees / 4 % units, the biweight
at 3) are what that benchmark measured best among the settings tried.

Determinism. Frame :math:`i`'s transform depends only on the searches of the frames in
:math:`W_i` (each a function of that frame's inputs) and on the tracks and cuts, which come from
the keypoints of the whole sequence up front. So frames can be calibrated in any order, and a job
resumed at any frame produces the same bytes as one that ran through.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np

from . import keypoints as kp
from .person_fit import FALLBACK_IDENTITY, PersonFit
from .procrustes import Similarity, SimilarityBatch, fit_similarity

if TYPE_CHECKING:
    from .calibration import Calibrator, FrameCalibration, FrameSearch

# A shot cut: what neighbouring frames of one tracked person do not do in a continuous shot.
CUT_SCALE = 1.25
CUT_TURN_DEG = 20.0
CUT_MOVE = 0.25  # of the person's size (the larger side of their keypoints' bounding box)

_UNITS = (0.05, np.radians(4.0), 0.04)  # log scale, angle, centre (share of the person's size)
_BIWEIGHT = 3.0  # distances (in _UNITS) beyond which a frame no longer counts
_ROBUST_ROUNDS = 2
_FALLBACK_RELIABILITY = 0.1

T = TypeVar("T")


def is_shot_cut(previous: np.ndarray, current: np.ndarray, threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD) -> bool:
    """Whether one person's keypoints jump between neighbouring frames as only a cut makes them.

    Fewer than three keypoints seen in both frames cannot tell; that is not a cut.
    """
    common = kp.visible(previous, threshold) & kp.visible(current, threshold)
    if common.sum() < 3:
        return False
    before, after = previous[common, :2], current[common, :2]
    fit = fit_similarity(before, after)
    if fit is None:  # the points collapsed onto one: cannot tell
        return False
    size = float(np.ptp(before, axis=0).max()) + 1.0
    moved = float(np.linalg.norm(after.mean(axis=0) - before.mean(axis=0))) / size
    return abs(np.log(fit.scale)) > np.log(CUT_SCALE) or abs(fit.rotation_deg) > CUT_TURN_DEG or moved > CUT_MOVE


def shot_cuts(people: Sequence[np.ndarray], threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD) -> list[bool]:
    """For one person's keypoints in consecutive frames, whether a cut comes before each frame.

    A jump that does not last is a glitch of the keypoints, not a cut: a single frame unlike both its
    neighbours, which are alike, starts no shot (the smoother's robust weights then discount it).
    """
    count = len(people)

    def jump(a: int, b: int) -> bool:
        return 0 <= a and b < count and is_shot_cut(people[a], people[b], threshold)

    def glitch(frame: int) -> bool:
        return 0 < frame < count - 1 and not jump(frame - 1, frame + 1)

    return [frame > 0 and jump(frame - 1, frame) and not glitch(frame - 1) and not glitch(frame) for frame in range(count)]


class _Lru(Generic[T]):
    """The most recently used ``capacity`` results, by frame index."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[int, T] = OrderedDict()

    def get(self, index: int) -> T | None:
        if index in self._items:
            self._items.move_to_end(index)
        return self._items.get(index)

    def put(self, index: int, item: T) -> T:
        self._items[index] = item
        self._items.move_to_end(index)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return item


class SequenceCalibration:
    """The frames of one sequence, any of which can be calibrated first (see the module docstring).

    ``target_masks[i]`` (or None) is read only when frame i or a neighbour is searched. With
    ``calibrator.config.independent`` every frame keeps its own fit (the paper). Searches are kept
    for the frames of the latest windows, so calibrating frames in order searches each one once.
    """

    def __init__(
        self,
        calibrator: Calibrator,
        frames: Sequence[Sequence[np.ndarray]],
        target_masks: Sequence[np.ndarray | None] | None = None,
    ) -> None:
        config = calibrator.config
        self.calibrator = calibrator
        self.frames = frames
        self.target_masks = target_masks
        if target_masks is not None and len(target_masks) != len(frames):
            raise ValueError(f"{len(frames)} frames but {len(target_masks)} target masks")
        tracks = calibrator.tracks(frames)
        self.reference_for = [[reference for reference, _ in people] for people in tracks]
        self.look_back, self.look_ahead = (0, 0) if config.independent else (config.look_back, config.look_ahead)
        # segment[i][j]: the stretch of one tracked person, within one shot, that target person j of
        # frame i belongs to; _people[s]: (first frame, that person's index in each of its frames).
        runs: dict[int, list[tuple[int, int]]] = {}  # track -> (frame, person), consecutive frames
        for index, people in enumerate(tracks):
            for person, (_, track) in enumerate(people):
                runs.setdefault(track, []).append((index, person))
        self._segment: list[list[int]] = [[0] * len(people) for people in tracks]
        self._people: list[tuple[int, list[int]]] = []
        for track in sorted(runs):
            members = runs[track]
            keypoints = [np.asarray(frames[index][person], dtype=np.float64) for index, person in members]
            for position, ((index, person), cut) in enumerate(zip(members, shot_cuts(keypoints, config.confidence_threshold))):
                if position == 0 or cut:
                    self._people.append((index, []))
                self._people[-1][1].append(person)
                self._segment[index][person] = len(self._people) - 1
        capacity = 2 * (self.look_back + self.look_ahead) + 2
        self._searches: _Lru[FrameSearch] = _Lru(capacity)
        self._fits: _Lru[list[PersonFit]] = _Lru(capacity)

    def __len__(self) -> int:
        return len(self.frames)

    def search(self, index: int) -> FrameSearch:
        """Frame ``index`` searched on its own (Eq. 4), not warped."""
        found = self._searches.get(index)
        if found is None:
            mask = self.target_masks[index] if self.target_masks is not None else None
            found = self._searches.put(index, self.calibrator.search(self.frames[index], self.reference_for[index], mask))
        return found

    def fits(self, index: int) -> list[PersonFit]:
        """The fits of frame ``index`` as the sequence places its people; nothing is warped."""
        fits = self._fits.get(index)
        if fits is None:
            fits = self._fits.put(index, [self._smoothed(index, person) for person in range(len(self.frames[index]))])
        return fits

    def calibration(self, index: int) -> FrameCalibration:
        """Frame ``index`` calibrated: its people warped with :meth:`fits`."""
        return self.calibrator.frame(index, self.fits(index), self.search(index).shape)

    def window(self, index: int, person: int) -> list[tuple[int, int]]:
        """(frame, person) pairs whose searches frame ``index``'s person ``person`` is smoothed over."""
        first, members = self._people[self._segment[index][person]]
        start, end = max(first, index - self.look_back), min(first + len(members) - 1, index + self.look_ahead)
        return [(frame, members[frame - first]) for frame in range(start, end + 1)]

    def _smoothed(self, index: int, person: int) -> PersonFit:
        own_search = self.search(index)
        own = own_search.fits[person]
        window = self.window(index, person)
        if own.fallback == FALLBACK_IDENTITY or len(window) < 3:
            return own
        fits = [self.search(frame).fits[member] for frame, member in window]
        reliability = np.array([_reliability(fit, own) for fit in fits])
        at = window.index((index, person))
        if np.count_nonzero(reliability) - (reliability[at] > 0) < 2:
            return own  # no neighbours to smooth with
        reference = self.calibrator.references[own.reference_index]
        centre, size = reference.cells.centre, np.sqrt(max(reference.area, 1.0))
        params = _parameters([fit.transform for fit in fits], centre, size)
        params[:, 1] = params[at, 1] + _wrap(params[:, 1] - params[at, 1])  # angles unwrapped about frame index's
        smoothed = _transform(smooth_at(params, reliability, at, self.calibrator.config.smoothing), centre, size)
        batch = SimilarityBatch(np.array([smoothed.scale]), np.array([smoothed.angle]), np.array([smoothed.translation]), np.ones(1, bool))
        score = float(self.calibrator.score(own, own_search.targets[person], batch)[0])
        return replace(own, transform=smoothed, score=score, candidate_score=own.score)


def smooth_at(params: np.ndarray, reliability: np.ndarray, at: int, sigma: float) -> np.ndarray:
    """The robust local quadratic fit of ``params`` (n, 4) at row ``at`` (see the module docstring).

    ``reliability`` (n,) is each row's :math:`r_k`; rows are consecutive frames.
    """
    count = len(params)
    offsets = np.arange(count)[None, :] - np.arange(count)[:, None]  # [where the fit is evaluated, frame]
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    weights = reliability
    for _ in range(_ROBUST_ROUNDS):
        fitted = _local_polynomial(kernel * weights[None], offsets, params)
        distance = _distance(params, fitted)
        weights = reliability * np.clip(1.0 - (distance / _BIWEIGHT) ** 2, 0.0, 1.0) ** 2
    if not (kernel[at] * weights).sum() > 0:
        return params[at]
    return _local_polynomial((kernel[at] * weights)[None], offsets[at][None], params)[0]


def _local_polynomial(weights: np.ndarray, offsets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Weighted least-squares quadratics through ``values`` (n, d) over ``offsets``, evaluated at
    offset 0, one per row of ``weights``/``offsets`` (m, n).

    With :math:`S_j = \\sum w o^j` and :math:`T_j = \\sum w o^j v`, the normal equations are
    :math:`[S_{p+q}]_{p,q<3} (\\alpha, \\beta, \\gamma)^\\top = (T_0, T_1, T_2)^\\top`, solved by Cramer's
    rule. A row whose weights leave the quadratic undefined (fewer than three frames that count) gets
    a line, or the weighted mean.
    """
    powers = [np.ones_like(offsets, dtype=np.float64)]
    for _ in range(4):
        powers.append(powers[-1] * offsets)
    s = [(weights * power).sum(axis=1)[:, None] for power in powers]  # S_0..S_4, (m, 1)
    t = [(weights * power) @ values for power in powers[:3]]  # T_0..T_2, (m, d)
    s0 = np.maximum(s[0], 1e-300)
    result = t[0] / s0
    # Determinants, normalised by the diagonal so that "well conditioned" does not depend on units.
    line = s[0] * s[2] - s[1] ** 2
    usable = line > 1e-9 * s0 * s[2]
    result = np.where(usable, (s[2] * t[0] - s[1] * t[1]) / np.where(usable, line, 1.0), result)
    minors = (s[2] * s[4] - s[3] ** 2, s[1] * s[4] - s[2] * s[3], s[1] * s[3] - s[2] ** 2)
    cubic = s[0] * minors[0] - s[1] * minors[1] + s[2] * minors[2]
    usable = cubic > 1e-9 * s0 * s[2] * s[4]
    alpha = (t[0] * minors[0] - t[1] * minors[1] + t[2] * minors[2]) / np.where(usable, cubic, 1.0)
    return np.where(usable, alpha, result)


def _distance(params: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """Each row's distance from its fit, in _UNITS (the centre relative to the person's size)."""
    delta = params - fitted
    shift = np.hypot(delta[:, 2], delta[:, 3]) / np.exp(fitted[:, 0])
    return np.sqrt((delta[:, 0] / _UNITS[0]) ** 2 + (_wrap(delta[:, 1]) / _UNITS[1]) ** 2 + (shift / _UNITS[2]) ** 2)


def _reliability(fit: PersonFit, own: PersonFit) -> float:
    if fit.fallback == FALLBACK_IDENTITY or fit.mirrored != own.mirrored:
        return 0.0
    return _FALLBACK_RELIABILITY if fit.fallback else 1.0


def _parameters(transforms: list[Similarity], centre: np.ndarray, size: float) -> np.ndarray:
    """(n, 4): log s, angle and c / size, c being where the reference centre lands."""
    scale = np.array([t.scale for t in transforms])
    angle = np.array([t.angle for t in transforms])
    shift = np.array([t.translation for t in transforms])
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    landed_x = cos * centre[0] - sin * centre[1] + shift[:, 0]
    landed_y = sin * centre[0] + cos * centre[1] + shift[:, 1]
    return np.column_stack([np.log(scale), angle, landed_x / size, landed_y / size])


def _transform(params: np.ndarray, centre: np.ndarray, size: float) -> Similarity:
    scale, angle = float(np.exp(params[0])), float(_wrap(params[1]))
    turned = Similarity(scale=scale, angle=angle).apply(centre[None])[0]
    return Similarity(scale, angle, (float(params[2] * size - turned[0]), float(params[3] * size - turned[1])))


def _wrap(angle):
    """Angles into [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi
