"""Rasterising a mesh's projected triangles into a person mask, with numpy alone.

TPC scores a warp by how well the warped reference mask overlaps the target person's shape; the
mesh the rig deforms gives that shape exactly, so the add-on sends it. A render engine would need a
render per frame (and a GPU context in background mode); the silhouette only needs coverage, so
triangles are scan-converted directly: for every pixel row a triangle crosses, the covered span is
found from its edges and marked in a difference array, all triangles of a chunk at once. The work
grows with the triangles' heights, not their areas, so large triangles cost little.
"""

from __future__ import annotations

import numpy as np

_ROWS_PER_CHUNK = 1_000_000  # (triangle, row) pairs per numpy pass; bounds memory at ~100 MB


def rasterize_triangles(triangles: np.ndarray, width: int, height: int) -> np.ndarray:
    """Union of filled triangles as an (height, width) bool mask.

    ``triangles`` is (n, 3, 2): x, y in pixels as :mod:`.camera_view` projects them, origin top-left,
    pixel centres at whole numbers (column c covers c - 0.5 .. c + 0.5). A pixel is covered when its
    centre lies inside or on the edge of a triangle of non-zero area, whatever its winding: a
    vertex projected onto a pixel centre covers that pixel, the one a keypoint at the same point names.
    """
    tris = np.asarray(triangles, dtype=np.float64).reshape(-1, 3, 2)
    tris = tris[np.isfinite(tris).all(axis=(1, 2))]
    edge_1, edge_2 = tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]
    tris = tris[edge_1[:, 0] * edge_2[:, 1] - edge_1[:, 1] * edge_2[:, 0] != 0]  # edge-on triangles cover nothing
    # Pixel centres sit at whole numbers: the first/last centre inside [lo, hi] is ceil(lo)/floor(hi).
    row0 = np.clip(np.ceil(tris[:, :, 1].min(axis=1)), 0, height).astype(np.int64)
    row1 = np.clip(np.floor(tris[:, :, 1].max(axis=1)), -1, height - 1).astype(np.int64)
    rows_per_triangle = np.maximum(row1 - row0 + 1, 0)

    mask = np.zeros((height, width), dtype=bool)
    if not rows_per_triangle.any():
        return mask
    # Only the rows some triangle crosses are scanned: +1 where a span starts, -1 just after it ends.
    top, bottom = int(row0[rows_per_triangle > 0].min()), int(row1[rows_per_triangle > 0].max())
    size = (bottom - top + 1) * (width + 1)
    spans = np.zeros(size, dtype=np.int64)
    ends = np.cumsum(rows_per_triangle)
    first = 0
    while first < len(tris):
        done = ends[first - 1] if first else 0
        last = max(first + 1, int(np.searchsorted(ends, done + _ROWS_PER_CHUNK, side="right")))
        starts, stops = _spans(tris[first:last], row0[first:last] - top, rows_per_triangle[first:last], width, top)
        spans += np.bincount(starts, minlength=size) - np.bincount(stops, minlength=size)
        first = last
    mask[top : bottom + 1] = np.cumsum(spans.reshape(bottom - top + 1, width + 1), axis=1)[:, :width] > 0
    return mask


def _spans(tris: np.ndarray, row0: np.ndarray, counts: np.ndarray, width: int, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each triangle's covered span starts and stops on every row it crosses (rows from ``top``),
    as flat indices into rows of ``width + 1``."""
    following = np.roll(tris, -1, axis=1)  # edge k runs from corner k to corner k + 1
    rise = following[:, :, 1] - tris[:, :, 1]
    slope = np.divide(following[:, :, 0] - tris[:, :, 0], rise, out=np.zeros_like(rise), where=rise != 0)
    low, high = np.minimum(tris[:, :, 1], following[:, :, 1]), np.maximum(tris[:, :, 1], following[:, :, 1])

    owner = np.repeat(np.arange(len(tris)), counts)
    rows = row0[owner] + np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    centre = (rows + top).astype(np.float64)
    left = np.full(len(owner), np.inf)
    right = np.full(len(owner), -np.inf)
    for k in range(3):
        crosses = (rise[:, k] != 0)[owner] & (centre >= low[:, k][owner]) & (centre <= high[:, k][owner])
        x = tris[:, k, 0][owner] + (centre - tris[:, k, 1][owner]) * slope[:, k][owner]
        left = np.where(crosses, np.minimum(left, x), left)
        right = np.where(crosses, np.maximum(right, x), right)
    start = np.clip(np.ceil(left), 0, width)
    stop = np.clip(np.floor(right), -1, width - 1) + 1  # one past the last covered pixel
    keep = stop > start
    base = rows[keep] * (width + 1)
    return base + start[keep].astype(np.int64), base + stop[keep].astype(np.int64)
