"""The score of paper Eq. 4: how well a warped reference person covers a target shape, for many
similarity transforms at once and without warping any image.

For a similarity :math:`A(x) = s R_\\theta x + t` (reference pixels to target pixels), a reference
person mask :math:`R` restricted to the body parts the target shape describes, and a target shape
:math:`T`,

.. math::
    \\operatorname{IoU}(A) = \\frac{|T \\cap A(R)|}{|A(R)| + |T| - |T \\cap A(R)|} .

Both areas are estimated on low-resolution cells, each cell standing for the full-resolution pixels
around its centre:

.. math::
    |T \\cap A(R)| \\approx \\frac{|T|}{N_T} \\sum_{q \\in \\mathrm{cells}(T)} [\\, A^{-1} q \\in R \\,], \\qquad
    |A(R)| = s^2 |R| \\cdot \\frac{\\#\\{p \\in \\mathrm{cells}(R) : A p \\in \\text{canvas}\\}}{N_R} .

The intersection maps target cells back into the full-resolution reference labels; the warped area
is exact (:math:`s^2 |R|`) while the reference's bounding box lands on the canvas, and otherwise
shrinks by the share of reference cells that leave it. So a batch of B transforms costs
:math:`O(B (N_T + N_R))` lookups, about one small warp, however many candidates there are.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .procrustes import Similarity, SimilarityBatch
from .silhouette import NUM_LABELS, UNASSIGNED


@dataclass(frozen=True)
class ReferenceCells:
    """What the score reads of one reference person: full-resolution part labels and sampled cells."""

    labels: np.ndarray  # (H, W) uint8 body-part label of every person pixel, 0 outside (tpc.silhouette)
    cells: np.ndarray  # (P, 2) float32 centres of low-resolution mask cells, full-resolution pixels
    cell_labels: np.ndarray  # (P,) label under each cell centre
    part_area: np.ndarray  # (NUM_LABELS,) pixels per label (0 for the background label)
    box_corners: np.ndarray  # (4, 2) corners of the mask's bounding box

    @classmethod
    def sample(cls, mask: np.ndarray, labels: np.ndarray, zoom: float, limit: int) -> ReferenceCells:
        """Cells of ``mask`` (bool) on a grid ``zoom`` times the image, at most ``limit`` of them."""
        rows, cols = np.nonzero(mask)
        if len(rows):
            x0, x1, y0, y1 = cols.min() - 0.5, cols.max() + 0.5, rows.min() - 0.5, rows.max() + 0.5
        else:
            x0 = x1 = y0 = y1 = 0.0
        cells = mask_cells(mask, zoom, limit)
        height, width = labels.shape
        at = np.rint(cells).astype(np.int64)
        cell_labels = labels[np.clip(at[:, 1], 0, height - 1), np.clip(at[:, 0], 0, width - 1)]
        cell_labels[cell_labels == 0] = UNASSIGNED  # a half-covered cell whose centre missed
        part_area = np.bincount(labels.ravel(), minlength=NUM_LABELS).astype(np.float64)
        part_area[0] = 0.0
        return cls(
            labels=labels,
            cells=cells,
            cell_labels=cell_labels,
            part_area=part_area,
            box_corners=np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]),
        )

    @property
    def centre(self) -> np.ndarray:
        """(2,) mean of the cell centres: roughly the person's centroid (zeros without cells)."""
        return self.cells.mean(axis=0) if len(self.cells) else np.zeros(2)


@dataclass(frozen=True)
class TargetCells:
    """What the score reads of one target shape: sampled cells, its area, and the parts it shows."""

    cells: np.ndarray  # (Q, 2) float32 centres of (a stride through) the shape's cells, full-res pixels
    area: float  # the whole shape's area, full-resolution pixels
    parts: np.ndarray  # (NUM_LABELS,) bool: reference part labels the shape describes

    @classmethod
    def sample(cls, shape: np.ndarray, zoom: float, limit: int, parts: np.ndarray) -> TargetCells:
        """Cells of a bool grid ``shape`` at ``zoom`` (grid cell (c, r) centred at full-resolution
        ((c + 0.5) / zoom - 0.5, (r + 0.5) / zoom - 0.5)), an even stride of at most ``limit``.

        A person filling the canvas covers thousands of cells; the stride keeps the estimate unbiased
        and the cost bounded.
        """
        rows, cols = np.nonzero(shape)
        stride = max(1, -(-len(rows) // limit))
        centres = np.stack([cols[::stride], rows[::stride]], axis=1).astype(np.float32)
        cells = ((centres + 0.5) / zoom - 0.5).astype(np.float32)
        return cls(cells=cells, area=len(rows) / zoom**2, parts=parts)

    @property
    def cell_area(self) -> float:
        return self.area / max(1, len(self.cells))


def warped_iou(reference: ReferenceCells, target: TargetCells, batch: SimilarityBatch, canvas_size: tuple[int, int]) -> np.ndarray:
    """(B,) IoU of Eq. 4 for every transform of ``batch``, estimated as the module docstring says.

    Only the reference parts the target describes count (``target.parts``): a silhouette drawn from
    keypoints lacks the parts whose keypoints are hidden, and must not pull the fit towards
    shrinking the person. Values are clipped to [0, 1]; an empty union scores 0.
    """
    height, width = reference.labels.shape
    flat_labels = reference.labels.reshape(-1)
    inverse = batch.inverse_matrices.astype(np.float32)[:, :, :, None]  # (B, 2, 3, 1)
    tx, ty = target.cells[:, 0], target.cells[:, 1]
    bx = np.rint(inverse[:, 0, 0] * tx + inverse[:, 0, 1] * ty + inverse[:, 0, 2]).astype(np.int32)
    by = np.rint(inverse[:, 1, 0] * tx + inverse[:, 1, 1] * ty + inverse[:, 1, 2]).astype(np.int32)
    inside = (bx >= 0) & (bx < width) & (by >= 0) & (by < height)
    flat = np.clip(by, 0, height - 1) * width + np.clip(bx, 0, width - 1)
    included = target.parts
    hits = np.take(included, np.take(flat_labels, flat)) & inside
    intersection = np.count_nonzero(hits, axis=1) * target.cell_area

    warped_area = float(reference.part_area[included].sum()) * batch.scale**2
    forward = batch.matrices
    corners = np.einsum("bij,cj->bci", forward[:, :, :2], reference.box_corners) + forward[:, None, :, 2]
    canvas_w, canvas_h = canvas_size
    leaves = (
        (corners.min(axis=1) < -0.5).any(axis=1)
        | (corners[..., 0].max(axis=1) > canvas_w - 0.5)
        | (corners[..., 1].max(axis=1) > canvas_h - 0.5)
    )
    if leaves.any():
        cells = reference.cells[included[reference.cell_labels]]
        part = forward[leaves].astype(np.float32)[:, :, :, None]
        rx, ry = cells[:, 0], cells[:, 1]
        ax = part[:, 0, 0] * rx + part[:, 0, 1] * ry + part[:, 0, 2]
        ay = part[:, 1, 0] * rx + part[:, 1, 1] * ry + part[:, 1, 2]
        on_canvas = (ax >= -0.5) & (ax < canvas_w - 0.5) & (ay >= -0.5) & (ay < canvas_h - 0.5)
        share = np.count_nonzero(on_canvas, axis=1) / max(1, len(cells))
        warped_area[leaves] *= share
    union = warped_area + target.area - intersection
    return np.clip(np.where(union > 0, intersection / np.maximum(union, 1e-9), 0.0), 0.0, 1.0)


def downscale(mask: np.ndarray, zoom: float, grid: tuple[int, int]) -> np.ndarray:
    """Area-average a 0/255 mask onto ``grid`` = (w, h) with the same scale factor on both axes.

    Given ``fx``/``fy``, OpenCV maps with exactly those factors (pixel centres aligned); passing a
    target size instead would stretch each axis by its own rounded ratio.
    """
    small = cv2.resize(mask, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
    grid_w, grid_h = grid
    out = np.zeros((grid_h, grid_w), np.uint8)
    rows, cols = min(grid_h, small.shape[0]), min(grid_w, small.shape[1])
    out[:rows, :cols] = small[:rows, :cols]
    return out


def mask_cells(mask: np.ndarray, zoom: float, limit: int) -> np.ndarray:
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


def grid_to_pixels(transform: Similarity, zoom: float) -> Similarity:
    """A similarity into a target grid at ``zoom`` re-expressed in full-resolution target pixels:
    :math:`x_{px} = (x_{grid} + 0.5) / zoom - 0.5`."""
    matrix = transform.matrix.copy()
    matrix[:, :2] /= zoom
    matrix[:, 2] = (matrix[:, 2] + 0.5) / zoom - 0.5
    return Similarity.from_matrix(matrix)
