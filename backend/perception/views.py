"""Rotated, cropped and rescaled looks at an image, and the exact way back to its pixels.

Pose models are trained on upright people of a reasonable size. A photo that is sideways, upside
down or shows a small person is therefore shown to the model as a *view* (a quarter-turned, cropped
and zoomed copy) and everything the model finds there (keypoints, masks) is mapped back to the
original pixels through the inverse of the same affine map, so callers never see a view.
Pixel centres sit at integer coordinates (OpenCV's convention); quarter turns map pixels onto
pixels, so an upright view of a rotated photo holds exactly the pixels of the upright photo.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

MAX_WHOLE_SIDE = 1280  # pixels: the whole-image view of a larger photo is shrunk to this long side


@dataclass(frozen=True)
class View:
    """An affine look at an image: ``matrix`` maps original pixels to view pixels."""

    matrix: np.ndarray  # (2, 3)
    size: tuple[int, int]  # (width, height) of the view
    quarter_turns: int = 0  # clockwise quarter turns of the view relative to the original
    whole_pixels: bool = False  # the whole image at scale 1, only turned: pixels are moved, not resampled

    @classmethod
    def whole(cls, size: tuple[int, int], quarter_turns: int = 0, max_side: int = MAX_WHOLE_SIDE) -> View:
        """The whole image of ``size`` = (W, H), turned clockwise and shrunk to ``max_side`` if larger."""
        width, height = size
        scale = min(1.0, max_side / max(width, height))
        view = cls.box((0.0, 0.0, float(width), float(height)), scale, quarter_turns)
        return replace(view, whole_pixels=scale == 1.0)

    @classmethod
    def box(cls, box: tuple[float, float, float, float], scale: float, quarter_turns: int = 0) -> View:
        """The region ``box`` = (x0, y0, x1, y1) of an image, scaled, then turned clockwise.

        The box is given in pixel edges (the whole image is (0, 0, W, H)) and may reach past the
        image; that part of the view is black.
        """
        x0, y0, x1, y1 = box
        turns = quarter_turns % 4
        out_w, out_h = max(1, int(round((x1 - x0) * scale))), max(1, int(round((y1 - y0) * scale)))
        # Edges scale about the box's corner; centres sit half a pixel inside their edges.
        offset = (scale - 1.0) / 2.0
        crop = np.array([[scale, 0.0, -x0 * scale + offset], [0.0, scale, -y0 * scale + offset], [0.0, 0.0, 1.0]])
        turn = np.eye(3)
        width, height = out_w, out_h
        for _ in range(turns):  # one clockwise quarter turn of a (width, height) picture
            turn = np.array([[0.0, -1.0, height - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) @ turn
            width, height = height, width
        return cls(matrix=(turn @ crop)[:2], size=(width, height), quarter_turns=turns)

    @property
    def scale(self) -> float:
        """View pixels per original pixel."""
        return float(np.hypot(self.matrix[0, 0], self.matrix[1, 0]))

    @property
    def inverse(self) -> np.ndarray:
        """(2, 3) map from view pixels back to original pixels."""
        return cv2.invertAffineTransform(self.matrix)

    def render(self, image: np.ndarray) -> np.ndarray:
        """The view's pixels (black beyond the image's edges).

        A shrinking view first averages pixels down (``cv2.resize`` with area interpolation), as a
        plain warp would alias fine detail into the model's input.
        """
        if self.whole_pixels:
            return np.ascontiguousarray(np.rot90(image, -self.quarter_turns))  # np.rot90 turns counter-clockwise
        matrix = self.matrix
        scale = self.scale
        if scale < 1.0:
            height, width = image.shape[:2]
            small_w, small_h = max(1, int(round(width * scale))), max(1, int(round(height * scale)))
            image = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)
            sx, sy = small_w / width, small_h / height
            to_small = np.array([[sx, 0.0, (sx - 1.0) / 2.0], [0.0, sy, (sy - 1.0) / 2.0], [0.0, 0.0, 1.0]])
            matrix = (np.vstack([matrix, [0.0, 0.0, 1.0]]) @ np.linalg.inv(to_small))[:2]
        return cv2.warpAffine(image, matrix, self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

    def points_to_original(self, keypoints: np.ndarray) -> np.ndarray:
        """Map (N, 3) keypoints found in the view back to original pixels.

        A point the model placed outside the view (models extrapolate limbs past the frame with
        confidence) was never seen, so its confidence becomes 0.
        """
        points = np.asarray(keypoints, dtype=np.float64).copy()
        width, height = self.size
        outside = (points[:, 0] < -0.5) | (points[:, 0] > width - 0.5) | (points[:, 1] < -0.5) | (points[:, 1] > height - 0.5)
        inverse = self.inverse
        points[:, :2] = points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        points[outside | ~np.isfinite(points[:, :2]).all(axis=1), 2] = 0.0
        return points

    def points_to_view(self, keypoints: np.ndarray) -> np.ndarray:
        """Map (N, 2+) original points into the view (extra columns pass through)."""
        points = np.asarray(keypoints, dtype=np.float64).copy()
        points[:, :2] = points[:, :2] @ self.matrix[:, :2].T + self.matrix[:, 2]
        return points

    def mask_to_original(self, mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Map a float mask of the view back onto an image of ``size`` (0 where the view did not look)."""
        values = np.asarray(mask, dtype=np.float32)
        if self.whole_pixels:
            return np.ascontiguousarray(np.rot90(values, self.quarter_turns))
        return cv2.warpAffine(values, self.inverse, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def zoom_tiles(size: tuple[int, int], quarter_turns: int = 0, max_side: int = MAX_WHOLE_SIDE) -> list[View]:
    """Overlapping square close-ups for people too small (or too off-centre) to be found in the whole.

    Two levels of square tiles, as tall as the image's short side, then half of it, each
    neighbour overlapping by half a tile, so a person who fits into half a tile lies wholly inside
    one of them. Each tile is shown enlarged by the inverse of its share (at most ``max_side``
    pixels). A square photo skips the first level, which would be the whole photo.
    """
    width, height = size
    short = min(width, height)
    views = []
    for share in (1.0, 0.5):
        side = share * short
        xs, ys = _tile_starts(width, side), _tile_starts(height, side)
        if len(xs) * len(ys) == 1 and share == 1.0:
            continue
        scale = min(1.0 / share, max_side / side)
        views += [View.box((x, y, x + side, y + side), scale, quarter_turns) for y in ys for x in xs]
    return views


def _tile_starts(length: float, side: float) -> list[float]:
    """Evenly spread tile starts from 0 to ``length - side``, at most half a tile apart."""
    if length <= side:
        return [0.0]
    count = int(np.ceil((length - side) / (side / 2.0))) + 1
    return list(np.linspace(0.0, length - side, count))


def person_view(
    box: tuple[float, float, float, float],
    quarter_turns: int,
    *,
    margin: float = 0.25,
    target_side: int = 512,
    max_zoom: float = 4.0,
) -> View:
    """A view centred on one person's box, with ``margin`` of context on each side, turned upright.

    The box is made square (pose models take square crops) and scaled so its long side is about
    ``target_side`` pixels, never more than ``max_zoom`` times the original.
    """
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin)
    centre_x, centre_y = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    square = (centre_x - side / 2, centre_y - side / 2, centre_x + side / 2, centre_y + side / 2)
    scale = min(max_zoom, target_side / max(side, 1.0))
    return View.box(square, scale, quarter_turns)
