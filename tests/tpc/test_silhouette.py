"""Body widths measured on a real photo, silhouettes drawn from keypoints, part labels."""

from __future__ import annotations

import numpy as np
import pytest

from tpc import keypoints as kp
from tpc.masks import iou
from tpc.silhouette import HEAD, NUM_LABELS, TORSO, BodyWidths, draw_silhouette, drawn_parts, label_parts, relative_size


def test_widths_are_measured_within_plausible_bounds(astronaut):
    _, points, mask = astronaut
    widths = BodyWidths.measure(points, mask)
    eyes = np.linalg.norm(points[kp.LEFT_EYE, :2] - points[kp.RIGHT_EYE, :2])
    assert 1.5 * eyes < widths.head_radius < 4 * eyes  # hair included
    shoulders = np.linalg.norm(points[kp.LEFT_SHOULDER, :2] - points[kp.RIGHT_SHOULDER, :2])
    for width in widths.limbs.values():
        assert 0.1 * shoulders < width < shoulders
    assert widths.torso_length > 0.5 * shoulders  # half-length photo: the torso the mask shows


def test_the_drawn_silhouette_resembles_the_person(astronaut):
    _, points, mask = astronaut
    drawn = draw_silhouette(points, BodyWidths.measure(points, mask), (512, 512)) > 0
    assert iou(drawn, mask) > 0.6
    seen = kp.visible(points)
    inside = np.rint(points[seen, :2]).astype(int)
    inside = inside[(inside >= 0).all(1) & (inside < 512).all(1)]
    assert drawn[inside[:, 1], inside[:, 0]].all()


def test_relative_size_reads_scale_from_bone_lengths(astronaut):
    _, points, _ = astronaut
    bigger = points.copy()
    bigger[:, :2] = bigger[:, :2] * 1.7 + 30
    assert relative_size(points, bigger) == pytest.approx(1.7)
    assert relative_size(points, kp.empty_person()) is None


def test_part_labels_cover_the_mask_with_drawable_parts(astronaut):
    _, points, mask = astronaut
    labels = label_parts(points, mask, BodyWidths.measure(points, mask))
    assert ((labels > 0) == mask).all()
    present = set(np.unique(labels[mask]).tolist())
    drawable = set(np.flatnonzero(drawn_parts(points)).tolist())
    assert present <= drawable and {HEAD, TORSO} <= present
    nose = np.rint(points[kp.NOSE, :2]).astype(int)
    assert labels[nose[1], nose[0]] == HEAD
    assert drawn_parts(kp.empty_person()).sum() == 1 and len(drawn_parts(points)) == NUM_LABELS


def test_drawing_at_low_resolution_keeps_pixel_centres(astronaut):
    """A silhouette drawn at a zoom lands where the full-size one lands, scaled (no half-cell shift)."""
    _, points, mask = astronaut
    widths = BodyWidths.measure(points, mask)
    full = draw_silhouette(points, widths, (512, 512)) > 0
    zoom = 96 / 512
    small = draw_silhouette(points, widths, (96, 96), zoom=zoom) > 0
    rows, cols = np.nonzero(full)
    small_rows, small_cols = np.nonzero(small)
    expected = (np.array([cols.mean(), rows.mean()]) + 0.5) * zoom - 0.5
    assert np.abs(np.array([small_cols.mean(), small_rows.mean()]) - expected).max() < 0.35
