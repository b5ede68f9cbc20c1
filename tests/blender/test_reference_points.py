"""Keypoints placed by hand on the reference photo, without Blender: layout, picking, dragging, what is sent."""

from __future__ import annotations

import pytest
from addon_without_blender import addon_module

reference_points = addon_module("reference_points")


def test_the_default_figure_stands_inside_the_photo_facing_us():
    points = reference_points.default_points(512, 300, hands=True)
    assert [point.name for point in points] == reference_points.point_names(True)
    assert len(points) == 17 + 42
    assert all(-0.5 <= point.x <= 511.5 and -0.5 <= point.y <= 299.5 for point in points)
    by_name = {point.name: point for point in points}
    assert by_name["left_shoulder"].x > by_name["right_shoulder"].x, "the person's left is on the image's right"
    assert by_name["nose"].y < by_name["left_hip"].y < by_name["left_ankle"].y
    assert (by_name["left_hand_00"].x, by_name["left_hand_00"].y) == (by_name["left_wrist"].x, by_name["left_wrist"].y)


@pytest.mark.parametrize("x, y", [(0.0, 0.0), (511.0, 299.0), (-0.5, -0.5), (100.25, 37.5)])
def test_photo_pixels_and_view_coordinates_convert_both_ways(x, y):
    u, v = reference_points.to_uv(x, y, 512, 300)
    assert reference_points.from_uv(u, v, 512, 300) == pytest.approx((x, y))
    assert reference_points.to_uv(-0.5, -0.5, 512, 300) == pytest.approx((0.0, 1.0)), "the top-left corner"


def test_a_press_takes_the_nearest_point_and_a_drag_keeps_its_offset():
    screen = [(10.0, 10.0), None, (30.0, 12.0)]
    dragger = reference_points.PointDragger()
    assert dragger.press(screen, 100.0, 100.0) is None and dragger.move(5.0, 5.0) is None, "a press on nothing does nothing"
    assert dragger.press(screen, 27.0, 10.0) == 2
    assert dragger.move(47.0, 20.0) == (50.0, 22.0), "the point keeps its offset from the cursor"
    assert dragger.release() == 2 and dragger.move(0.0, 0.0) is None


def test_the_document_sent_marks_points_not_placed_and_adds_hands_only_when_placed():
    points = reference_points.default_points(64, 128, hands=True)
    for point in points:
        point.placed = not point.name.startswith("right_hand") and point.name != "left_ear"
    document = reference_points.document(64, 128, points)
    person = document["frames"][0]["people"][0]
    assert (document["width"], document["height"], len(document["frames"])) == (64, 128, 1)
    assert person["keypoints"][3] == [0.0, 0.0, 0.0] and person["keypoints"][0][2] == 1.0
    assert len(person["hands"]["left"]) == len(person["hands"]["right"]) == 21
    assert all(point == [0.0, 0.0, 0.0] for point in person["hands"]["right"])
    body_only = reference_points.document(64, 128, reference_points.default_points(64, 128, hands=False))
    assert "hands" not in body_only["frames"][0]["people"][0]
    assert reference_points.placed_body_points(points) == 16
