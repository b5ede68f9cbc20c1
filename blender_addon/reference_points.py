"""Keypoints placed by hand on the reference photo, for people perception does not find.

Stylised, drawn or costumed characters are often missed by the backend's person detector. The user
then places the 17 COCO body points (and, if they like, the 21 points of each hand) on the photo in
Blender's Image Editor, starting from a standing figure laid over the photo (:func:`default_points`)
and dragging each point where it belongs (:class:`PointDragger`). The points live in the scene (saved
with the .blend) in the photo's pixels -- origin top-left, pixel centres at whole numbers, as every
pose in the project -- and go to the backend as the reference keypoints (:func:`document`): a
one-frame PoseSequence of the photo's size; a point not placed is sent with confidence 0.

Plain Python (no bpy): the Image Editor glue is :mod:`.reference_editor`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .bone_mapping import COCO17_NAMES, HAND_POINTS

HAND_SIDES = ("left", "right")
PICK_RADIUS = 12.0  # screen pixels within which a click takes a point

# A standing person seen from the front, as fractions of a box (x right, y down); the person's left is
# on the image's right. COCO order.
BODY_LAYOUT: tuple[tuple[float, float], ...] = (
    (0.50, 0.08), (0.54, 0.06), (0.46, 0.06), (0.58, 0.08), (0.42, 0.08),
    (0.64, 0.20), (0.36, 0.20), (0.70, 0.36), (0.30, 0.36), (0.72, 0.50), (0.28, 0.50),
    (0.58, 0.52), (0.42, 0.52), (0.58, 0.74), (0.42, 0.74), (0.58, 0.95), (0.42, 0.95),
)  # fmt: skip
# A hand hanging down from its wrist, in box heights, x towards the thumb: wrist, then thumb, index,
# middle, ring, pinky from base to tip (OpenPose order).
HAND_LAYOUT: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (0.010, 0.010), (0.020, 0.022), (0.026, 0.034), (0.030, 0.044),
    (0.010, 0.040), (0.012, 0.055), (0.013, 0.066), (0.014, 0.075),
    (0.0, 0.042), (0.0, 0.058), (0.0, 0.070), (0.0, 0.080),
    (-0.010, 0.040), (-0.011, 0.055), (-0.012, 0.066), (-0.013, 0.074),
    (-0.019, 0.036), (-0.021, 0.048), (-0.022, 0.056), (-0.023, 0.063),
)  # fmt: skip
# Lines drawn between points (COCO body limbs; each finger from the wrist).
BODY_LINES = (
    (0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10),
    (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16),
)  # fmt: skip
HAND_LINES = tuple((0 if joint == 0 else 1 + 4 * finger + joint - 1, 1 + 4 * finger + joint) for finger in range(5) for joint in range(4))


def point_names(hands: bool) -> list[str]:
    """The names of the points the editor places: the 17 body points, then 21 per hand."""
    names = list(COCO17_NAMES)
    if hands:
        names += [f"{side}_hand_{index:02d}" for side in HAND_SIDES for index in range(HAND_POINTS)]
    return names


@dataclass
class Point:
    name: str
    x: float  # photo pixels, origin top-left, pixel centres at whole numbers
    y: float
    placed: bool = True  # False: not on the photo (sent with confidence 0)


def default_points(width: int, height: int, hands: bool) -> list[Point]:
    """A standing figure over the middle of the photo, 80 % of its height, to drag into place."""
    size = 0.8 * min(height, 2.0 * width)
    left, top = (width - 0.5 * size) / 2, (height - size) / 2
    points = [Point(name, left + u * 0.5 * size, top + v * size) for name, (u, v) in zip(COCO17_NAMES, BODY_LAYOUT)]
    if hands:
        for side, wrist, towards_thumb in (("left", points[9], -1.0), ("right", points[10], 1.0)):
            for index, (u, v) in enumerate(HAND_LAYOUT):
                points.append(Point(f"{side}_hand_{index:02d}", wrist.x + towards_thumb * u * size, wrist.y + v * size))
    return points


def to_uv(x: float, y: float, width: int, height: int) -> tuple[float, float]:
    """Photo pixels -> the Image Editor's view coordinates (0..1 across the image, v up)."""
    return (x + 0.5) / width, 1.0 - (y + 0.5) / height


def from_uv(u: float, v: float, width: int, height: int) -> tuple[float, float]:
    return u * width - 0.5, (1.0 - v) * height - 0.5


def nearest(screen_points: list[tuple[float, float] | None], x: float, y: float, radius: float = PICK_RADIUS) -> int | None:
    """The index of the point drawn nearest to (x, y) on screen, within ``radius``."""
    best, best_distance = None, radius * radius
    for index, point in enumerate(screen_points):
        if point is None:
            continue
        distance = (point[0] - x) ** 2 + (point[1] - y) ** 2
        if distance <= best_distance:
            best, best_distance = index, distance
    return best


class PointDragger:
    """What a click, a drag and a release do to the points (screen positions in, photo positions out).

    A press on a point takes it; moving drags it (keeping the offset of the press, so it does not jump
    under the cursor); releasing drops it where it is. A press on no point does nothing.
    """

    def __init__(self) -> None:
        self.taken: int | None = None
        self._offset = (0.0, 0.0)

    def press(self, screen_points: list[tuple[float, float] | None], x: float, y: float) -> int | None:
        self.taken = nearest(screen_points, x, y)
        if self.taken is not None:
            point = screen_points[self.taken]
            self._offset = (point[0] - x, point[1] - y)
        return self.taken

    def move(self, x: float, y: float) -> tuple[float, float] | None:
        """Where the taken point now is on screen, or None when nothing is taken."""
        if self.taken is None:
            return None
        return x + self._offset[0], y + self._offset[1]

    def release(self) -> int | None:
        taken, self.taken = self.taken, None
        return taken


def document(width: int, height: int, points: list[Point]) -> dict:
    """The reference keypoints as the backend takes them: a one-frame PoseSequence on the photo."""

    def triples(names: list[str]) -> list[list[float]]:
        by_name = {point.name: point for point in points}
        rows = []
        for name in names:
            point = by_name.get(name)
            rows.append([round(point.x, 3), round(point.y, 3), 1.0] if point is not None and point.placed else [0.0, 0.0, 0.0])
        return rows

    person: dict = {"keypoints": triples(list(COCO17_NAMES))}
    hand_names = {side: [f"{side}_hand_{index:02d}" for index in range(HAND_POINTS)] for side in HAND_SIDES}
    if any(point.placed and point.name in hand_names["left"] + hand_names["right"] for point in points):
        person["hands"] = {side: triples(names) for side, names in hand_names.items()}
    return {"format": "coco17", "width": width, "height": height, "fps": 30.0, "frames": [{"people": [person]}]}


def placed_body_points(points: list[Point]) -> int:
    return sum(1 for point in points if point.placed and point.name in COCO17_NAMES)
