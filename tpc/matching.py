"""Which reference person plays which target person, consistently over a whole sequence.

With several people, every target person needs its own calibrated image, warped from the right
reference person (the official code mixes them up). The first frame pairs people by where they stand
(left to right, relative to each canvas); later frames follow each target person from the previous
frame by their keypoints, so an identity never jumps when people cross or one leaves the picture.
"""

from __future__ import annotations

import numpy as np

from . import keypoints as kp


def min_cost_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """Rows paired with columns at minimum total cost (Hungarian algorithm, rectangular).

    Returns ``min(R, C)`` pairs ``(row, column)`` sorted by row. Costs must be finite.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.size == 0:
        return []
    transposed = cost.shape[0] > cost.shape[1]
    matrix = cost.T if transposed else cost
    rows, cols = matrix.shape
    # Shortest augmenting paths with potentials (Kuhn-Munkres), 1-based with a dummy column 0.
    u, v = np.zeros(rows + 1), np.zeros(cols + 1)
    owner = np.zeros(cols + 1, dtype=np.int64)  # owner[j] = row matched to column j
    for row in range(1, rows + 1):
        owner[0] = row
        column = 0
        best = np.full(cols + 1, np.inf)
        previous = np.zeros(cols + 1, dtype=np.int64)
        used = np.zeros(cols + 1, dtype=bool)
        while owner[column] != 0:
            used[column] = True
            current_row = owner[column]
            reduced = matrix[current_row - 1] - u[current_row] - v[1:]
            free = ~used[1:]
            improve = free & (reduced < best[1:])
            best[1:][improve] = reduced[improve]
            previous[1:][improve] = column
            candidates = np.where(free, best[1:], np.inf)
            next_column = int(np.argmin(candidates)) + 1
            delta = candidates[next_column - 1]
            u[owner[used]] += delta
            v[used] -= delta
            best[1:][free] -= delta
            column = next_column
        while column != 0:
            back = previous[column]
            owner[column] = owner[back]
            column = back
    pairs = [(int(owner[j]) - 1, j - 1) for j in range(1, cols + 1) if owner[j] != 0]
    if transposed:
        pairs = [(c, r) for r, c in pairs]
    return sorted(pairs)


def _centre(person: np.ndarray, size: tuple[int, int], threshold: float) -> np.ndarray | None:
    seen = kp.visible(person, threshold)
    if not seen.any():
        return None
    return person[seen, :2].mean(axis=0) / np.asarray(size, dtype=np.float64)


def person_distance(a: np.ndarray, b: np.ndarray, threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD, min_shared: int = 1) -> float:
    """Mean distance of the keypoints both show, relative to the people's size.

    inf when they show fewer than ``min_shared`` keypoints in common (at least one is needed).
    """
    both = kp.visible(a, threshold) & kp.visible(b, threshold)
    if both.sum() < max(1, min_shared):
        return np.inf
    spread = np.ptp(np.concatenate([a[both, :2], b[both, :2]]), axis=0).max() + 1.0
    return float(np.linalg.norm(a[both, :2] - b[both, :2], axis=1).mean() / spread)


class PeopleMatcher:
    """Assigns a reference person to every target person of each frame, in frame order.

    When there are more target people than reference people, the extra ones reuse the reference
    person standing nearest to them; a target person with nothing visible gets reference person 0.
    Every target person also gets a track: the number of the person they continue from the previous
    frame (moved less than half their size), or a new number.
    """

    def __init__(
        self,
        reference_people: list[np.ndarray],
        reference_size: tuple[int, int],
        target_size: tuple[int, int],
        threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD,
    ) -> None:
        if not reference_people:
            raise ValueError("at least one reference person is needed")
        self._threshold = threshold
        self._target_size = target_size
        self._reference_centres = [_centre(p, reference_size, threshold) for p in reference_people]
        self._previous: list[tuple[np.ndarray, int, int]] = []  # (target keypoints, reference index, track)
        self._tracks = 0  # tracks started so far

    def match(self, target_people: list[np.ndarray]) -> list[int]:
        """Reference index for each target person of the next frame."""
        return [reference for reference, _ in self.match_tracks(target_people)]

    def match_tracks(self, target_people: list[np.ndarray]) -> list[tuple[int, int]]:
        """(reference index, track) for each target person of the next frame."""
        assigned: list[int | None] = [None] * len(target_people)
        tracks: list[int | None] = [None] * len(target_people)
        if self._previous and target_people:
            cost = np.array([[person_distance(t, p, self._threshold) for p, _, _ in self._previous] for t in target_people])
            finite = np.where(np.isfinite(cost), cost, 1e6)
            for row, col in min_cost_assignment(finite):
                if cost[row, col] < 0.5:  # moved less than half its size since the last frame
                    _, assigned[row], tracks[row] = self._previous[col]

        open_targets = [i for i, a in enumerate(assigned) if a is None]
        free_refs = [r for r in range(len(self._reference_centres)) if r not in assigned]
        if open_targets:
            positions = [_centre(target_people[i], self._target_size, self._threshold) for i in open_targets]
            if free_refs:
                cost = np.array([[self._position_cost(pos, r) for r in free_refs] for pos in positions])
                for row, col in min_cost_assignment(cost):
                    assigned[open_targets[row]] = free_refs[col]
            for index, pos in zip(open_targets, positions):
                if assigned[index] is None:  # more targets than references: reuse the nearest
                    costs = [self._position_cost(pos, r) for r in range(len(self._reference_centres))]
                    assigned[index] = int(np.argmin(costs))
                tracks[index] = self._tracks
                self._tracks += 1

        result = [(int(a), int(t)) for a, t in zip(assigned, tracks)]  # type: ignore[arg-type]
        self._previous = [(p, r, t) for p, (r, t) in zip(target_people, result) if kp.visible(p, self._threshold).any()]
        return result

    def _position_cost(self, position: np.ndarray | None, reference: int) -> float:
        centre = self._reference_centres[reference]
        if position is None or centre is None:
            return 1e3 + reference  # nothing to compare: keep the order
        return float(np.abs(position - centre) @ np.array([1.0, 0.25]))
