"""Closed-form 2-D similarity fits (Procrustes / Umeyama), batched over many point subsets at once.

The subset search of the paper (Eq. 4) fits one similarity per candidate keypoint subset, for every
frame. Expressing a subset as a 0/1 weight per point lets one vectorised solve handle all candidates
together, which is what makes the search cheaper than the image I/O around it.

Math (2-D Umeyama without reflection). For weights :math:`w_k \\ge 0`, source points :math:`x_k` and
destination points :math:`y_k`, minimise

.. math:: E(s, \\theta, t) = \\sum_k w_k \\lVert s R_\\theta x_k + t - y_k \\rVert^2 .

With weighted centroids :math:`\\bar x, \\bar y`, centred points :math:`\\tilde x_k, \\tilde y_k`,

.. math::
    a = \\sum_k w_k\\, \\tilde x_k \\cdot \\tilde y_k, \\qquad
    b = \\sum_k w_k\\, (\\tilde x_k \\times \\tilde y_k), \\qquad
    \\sigma^2 = \\sum_k w_k \\lVert \\tilde x_k \\rVert^2,

the optimum is :math:`\\theta = \\operatorname{atan2}(b, a)`, :math:`s = \\sqrt{a^2 + b^2} / \\sigma^2`
and :math:`t = \\bar y - s R_\\theta \\bar x`. (Read the points as complex numbers: the fit is the
least-squares complex factor :math:`s e^{i\\theta}`, so a reflection can never come out of it.)

Coordinates are pixels with x to the right and y down, so a positive angle turns the image
*clockwise* on screen. The paper writes the same map with row vectors, :math:`s\\, x\\, r + t` with
:math:`r = R_\\theta^\\top`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-9


@dataclass(frozen=True)
class SimilarityBatch:
    """B similarity transforms ``y = scale * R(angle) @ x + translation`` and whether each is usable.

    ``valid`` is False where the fit was undefined (fewer than two distinct weighted points, or a
    collapsed/non-finite result); such entries hold the identity so that callers never meet NaN.
    """

    scale: np.ndarray  # (B,)
    angle: np.ndarray  # (B,) radians, clockwise on screen
    translation: np.ndarray  # (B, 2)
    valid: np.ndarray  # (B,) bool

    def __len__(self) -> int:
        return int(self.scale.shape[0])

    @property
    def matrices(self) -> np.ndarray:
        """(B, 2, 3) affine matrices mapping source pixels to destination pixels (cv2 convention)."""
        cos = self.scale * np.cos(self.angle)
        sin = self.scale * np.sin(self.angle)
        out = np.empty((len(self), 2, 3), dtype=np.float64)
        out[:, 0, 0], out[:, 0, 1], out[:, 0, 2] = cos, -sin, self.translation[:, 0]
        out[:, 1, 0], out[:, 1, 1], out[:, 1, 2] = sin, cos, self.translation[:, 1]
        return out

    @property
    def inverse_matrices(self) -> np.ndarray:
        """(B, 2, 3) affine matrices mapping destination pixels back to source pixels."""
        inv_scale = 1.0 / self.scale
        cos = inv_scale * np.cos(self.angle)
        sin = inv_scale * np.sin(self.angle)
        tx, ty = self.translation[:, 0], self.translation[:, 1]
        out = np.empty((len(self), 2, 3), dtype=np.float64)
        out[:, 0, 0], out[:, 0, 1], out[:, 0, 2] = cos, sin, -(cos * tx + sin * ty)
        out[:, 1, 0], out[:, 1, 1], out[:, 1, 2] = -sin, cos, -(-sin * tx + cos * ty)
        return out

    def take(self, index: int) -> Similarity:
        return Similarity(
            scale=float(self.scale[index]),
            angle=float(self.angle[index]),
            translation=(float(self.translation[index, 0]), float(self.translation[index, 1])),
        )


@dataclass(frozen=True)
class Similarity:
    """One similarity transform; see :class:`SimilarityBatch` for conventions."""

    scale: float = 1.0
    angle: float = 0.0
    translation: tuple[float, float] = (0.0, 0.0)

    @property
    def matrix(self) -> np.ndarray:
        """2x3 affine matrix mapping source pixel coordinates to destination pixel coordinates."""
        cos, sin = self.scale * np.cos(self.angle), self.scale * np.sin(self.angle)
        return np.array([[cos, -sin, self.translation[0]], [sin, cos, self.translation[1]]])

    @property
    def rotation_deg(self) -> float:
        """Rotation in degrees in [-180, 180), clockwise on screen."""
        return (float(np.degrees(self.angle)) + 180.0) % 360.0 - 180.0

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 2+) points; extra columns (such as confidence) are passed through."""
        points = np.asarray(points, dtype=np.float64)
        out = points.copy()
        out[..., :2] = points[..., :2] @ self.matrix[:, :2].T + self.matrix[:, 2]
        return out

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> Similarity:
        """Read scale, angle and translation back from a 2x3 similarity matrix."""
        matrix = np.asarray(matrix, dtype=np.float64)
        scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
        angle = float(np.arctan2(matrix[1, 0], matrix[0, 0]))
        return cls(scale=scale, angle=angle, translation=(float(matrix[0, 2]), float(matrix[1, 2])))

    @classmethod
    def identity(cls) -> Similarity:
        return cls()


def fit_similarity_batch(
    source: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray,
    *,
    min_scale: float = 1e-3,
    max_scale: float = 1e3,
) -> SimilarityBatch:
    """Fit one similarity per row of ``weights``, all in one vectorised solve.

    ``source`` and ``target`` are (N, 2) point sets shared by every fit, or (B, N, 2) per fit;
    ``weights`` is (B, N): 0/1 to select a subset, or soft weights such as confidences. Points whose
    coordinates are not finite are ignored. Fits with fewer than two distinct weighted points, or with
    a scale outside ``[min_scale, max_scale]``, are marked invalid and hold the identity.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2:
        raise ValueError(f"weights must have shape (B, N), got {weights.shape}")
    src = np.broadcast_to(np.asarray(source, dtype=np.float64)[..., :2], weights.shape + (2,))
    dst = np.broadcast_to(np.asarray(target, dtype=np.float64)[..., :2], weights.shape + (2,))
    finite = np.isfinite(src).all(-1) & np.isfinite(dst).all(-1)
    w = np.where(finite, np.clip(weights, 0.0, None), 0.0)
    src = np.where(finite[..., None], src, 0.0)
    dst = np.where(finite[..., None], dst, 0.0)

    total = w.sum(axis=1)
    safe_total = np.where(total > _EPS, total, 1.0)
    src_mean = (w[..., None] * src).sum(axis=1) / safe_total[:, None]
    dst_mean = (w[..., None] * dst).sum(axis=1) / safe_total[:, None]
    xs, ys = src - src_mean[:, None], dst - dst_mean[:, None]

    a = (w * (xs[..., 0] * ys[..., 0] + xs[..., 1] * ys[..., 1])).sum(axis=1)
    b = (w * (xs[..., 0] * ys[..., 1] - xs[..., 1] * ys[..., 0])).sum(axis=1)
    spread = (w * (xs**2).sum(-1)).sum(axis=1)

    # Relative tolerance: points closer together than ~1e-6 of the set's extent count as one point.
    extent = np.abs(src).max(axis=(1, 2), initial=0.0) + np.abs(src_mean).max(axis=1) + 1.0
    well_posed = (total > _EPS) & (spread > (1e-6 * extent) ** 2 * np.maximum(total, 1.0))
    safe_spread = np.where(well_posed, spread, 1.0)
    scale = np.hypot(a, b) / safe_spread
    angle = np.arctan2(b, a)

    valid = well_posed & np.isfinite(scale) & (scale >= min_scale) & (scale <= max_scale)
    scale = np.where(valid, scale, 1.0)
    angle = np.where(valid, angle, 0.0)
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    translation = np.stack(
        [
            dst_mean[:, 0] - (cos * src_mean[:, 0] - sin * src_mean[:, 1]),
            dst_mean[:, 1] - (sin * src_mean[:, 0] + cos * src_mean[:, 1]),
        ],
        axis=1,
    )
    translation = np.where(valid[:, None], translation, 0.0)
    return SimilarityBatch(scale=scale, angle=angle, translation=translation, valid=valid)


def fit_similarity(source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> Similarity | None:
    """Fit a single similarity mapping ``source`` (N, 2) onto ``target`` (N, 2); None if undefined."""
    source = np.asarray(source, dtype=np.float64)
    w = np.ones((1, source.shape[0])) if weights is None else np.asarray(weights, dtype=np.float64)[None]
    batch = fit_similarity_batch(source, target, w)
    return batch.take(0) if bool(batch.valid[0]) else None
