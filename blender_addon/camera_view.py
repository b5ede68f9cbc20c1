"""Projecting world points into render pixels the way Blender's camera sees them.

Pixels follow the project's convention (OpenCV's, and the PoseSequence format's): (x, y) = (c, r)
is the centre of pixel column c, row r, origin top-left, so the render spans -0.5 .. W - 0.5. A
point that Blender draws in the middle of the top-left pixel is (0, 0), not (0.5, 0.5).

``bpy_extras.object_utils.world_to_camera_view`` is the reference (it handles lens shift, sensor
fit, pixel aspect and orthographic cameras through ``Camera.view_frame``), but it takes one point at
a time, and a mesh silhouette needs thousands per frame. :class:`CameraView` is the same computation
for arrays: the view frame is read once per frame and every point goes through numpy.
"""

from __future__ import annotations

import bpy
import numpy as np


def render_size(scene: bpy.types.Scene) -> tuple[int, int]:
    """Width and height in pixels of what a render of this scene would produce.

    Blender scales in whole numbers (``resolution * percentage // 100``); scaling by the float
    ``percentage / 100`` comes out a pixel short where that product rounds down (720 at 70 %: 503, not 504).
    """
    render = scene.render
    percentage = render.resolution_percentage
    return max(1, render.resolution_x * percentage // 100), max(1, render.resolution_y * percentage // 100)


class CameraView:
    """The scene camera at the current frame: world points -> (x, y) pixels (centres at whole numbers), depth."""

    def __init__(self, scene: bpy.types.Scene, camera: bpy.types.Object) -> None:
        self.width, self.height = render_size(scene)
        matrix = camera.matrix_world.normalized()
        self._world_to_camera = np.array(matrix.inverted(), dtype=np.float64)
        self.location = np.array(matrix.translation, dtype=np.float64)
        self.backward = np.array(matrix.col[2][:3], dtype=np.float64)  # the camera looks down -Z
        self.orthographic = camera.data.type == "ORTHO"
        top_right, bottom_right, bottom_left = (np.array(v, dtype=np.float64) for v in camera.data.view_frame(scene=scene)[:3])
        self._frame_depth = -bottom_left[2]
        self._min_x, self._max_x = bottom_left[0], bottom_right[0]
        self._min_y, self._max_y = bottom_right[1], top_right[1]

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3) world points -> (n, 2) pixels (see the module docstring) and (n,) depths; depth <= 0 is behind the camera."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        local = points @ self._world_to_camera[:3, :3].T + self._world_to_camera[:3, 3]
        depth = -local[:, 2]
        if self.orthographic:
            plane_x, plane_y = local[:, 0], local[:, 1]
        else:
            # Scale each point onto the plane of the view frame (world_to_camera_view scales the frame instead).
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(depth != 0, self._frame_depth / depth, 0.0)
            plane_x, plane_y = local[:, 0] * scale, local[:, 1] * scale
            # world_to_camera_view puts a point in the camera plane at the centre; so do we.
            centre_x, centre_y = (self._min_x + self._max_x) / 2, (self._min_y + self._max_y) / 2
            plane_x = np.where(depth != 0, plane_x, centre_x)
            plane_y = np.where(depth != 0, plane_y, centre_y)
        ndc_x = (plane_x - self._min_x) / (self._max_x - self._min_x)
        ndc_y = (plane_y - self._min_y) / (self._max_y - self._min_y)
        # ndc 0..1 spans the render's outer edges; pixel centres sit half a pixel inside them.
        pixels = np.stack([ndc_x * self.width - 0.5, (1.0 - ndc_y) * self.height - 0.5], axis=1)
        return pixels, depth

    def directions_to_camera(self, points: np.ndarray) -> np.ndarray:
        """Unit vectors from each point towards the camera (for telling which way a face turns)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        if self.orthographic:
            return np.broadcast_to(self.backward / np.linalg.norm(self.backward), points.shape).copy()
        vectors = self.location - points
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
