"""DWPose-style pose pictures checked pixel by pixel: limb and joint colours, hand edges and joints,
face dots, the sizes at 512 px and their scaling, and what is left out."""

from __future__ import annotations

import numpy as np
import pytest

from tpc import keypoints as kp
from tpc.drawing import HAND_EDGE_COLORS, OPENPOSE_COLORS, OPENPOSE_LIMBS, draw_openpose, render_openpose
from tpc.wholebody import HAND_EDGES, HandsFace

BLACK = (0, 0, 0)
WHITE = (255, 255, 255)
BLUE = (0, 0, 255)


def standing_person() -> np.ndarray:
    """A frontal COCO-17 person on a 512 x 512 canvas (their right side on the picture's left)."""
    xy = {
        kp.NOSE: (256, 90), kp.LEFT_EYE: (276, 70), kp.RIGHT_EYE: (236, 70), kp.LEFT_EAR: (300, 80), kp.RIGHT_EAR: (212, 80),
        kp.LEFT_SHOULDER: (330, 160), kp.RIGHT_SHOULDER: (182, 160), kp.LEFT_ELBOW: (370, 240), kp.RIGHT_ELBOW: (142, 240),
        kp.LEFT_WRIST: (400, 320), kp.RIGHT_WRIST: (112, 320), kp.LEFT_HIP: (300, 300), kp.RIGHT_HIP: (212, 300),
        kp.LEFT_KNEE: (306, 390), kp.RIGHT_KNEE: (206, 390), kp.LEFT_ANKLE: (310, 480), kp.RIGHT_ANKLE: (202, 480),
    }  # fmt: skip
    return np.array([[*xy[i], 0.9] for i in range(17)], dtype=np.float64)


def fan_hand(wrist=(100.0, 380.0), spread=25.0) -> np.ndarray:
    """A hand whose five fingers fan out upwards from the wrist, 30 to 90 px long."""
    points = [[*wrist, 0.9]]
    for finger in range(5):
        angle = np.radians(-90 + (finger - 2) * spread)
        for radius in (30, 50, 70, 90):
            points.append([wrist[0] + radius * np.cos(angle), wrist[1] + radius * np.sin(angle), 0.9])
    return np.array(points)


def face_ring(centre=(420.0, 90.0), radius=40.0) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    return np.column_stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles), np.full(68, 0.9)])


def colour(image: np.ndarray, point) -> tuple[int, int, int]:
    x, y = int(round(point[0])), int(round(point[1]))
    return tuple(int(c) for c in image[y, x])


def openpose_point(person: np.ndarray, index: int) -> np.ndarray:
    return kp.to_openpose18(person)[index, :2]


def test_body_limbs_are_60_percent_ellipses_under_full_colour_joints():
    person = standing_person()
    image = render_openpose([person], (512, 512))
    for limb_index, (a, b) in enumerate(OPENPOSE_LIMBS):
        centre = (openpose_point(person, a) + openpose_point(person, b)) / 2
        assert colour(image, centre) == tuple(int(0.6 * c) for c in OPENPOSE_COLORS[limb_index]), limb_index
    for index in range(18):
        assert colour(image, openpose_point(person, index)) == OPENPOSE_COLORS[index], index
    # The left upper leg runs straight down (hip (300, 300) to knee (306, 390)): 4 px each side of it.
    middle_x, middle_y = 303, 345
    assert colour(image, (middle_x + 3, middle_y)) != BLACK and colour(image, (middle_x + 6, middle_y)) == BLACK
    assert set(map(tuple, image.reshape(-1, 3))) <= {
        BLACK,
        *OPENPOSE_COLORS,
        *(tuple(int(0.6 * c) for c in col) for col in OPENPOSE_COLORS),
    }


def test_hands_are_rainbow_edges_with_blue_joints():
    hand = fan_hand()
    image = render_openpose([], (512, 512), [HandsFace(left_hand=hand)])
    for edge_index, (a, b) in enumerate(HAND_EDGES):
        assert colour(image, (hand[a, :2] + hand[b, :2]) / 2) == HAND_EDGE_COLORS[edge_index], edge_index
    for point in hand:
        assert colour(image, point) == BLUE
    # DWPose's colours: edge i of 20 has hue i / 20, times 255 as OpenCV rounds it (127.5 to 128; hue
    # 0.05 gives 76.50000000000001 in floating point, so 77).
    assert [HAND_EDGE_COLORS[i] for i in (0, 1, 5, 10, 15, 19)] == [
        (255, 0, 0),
        (255, 77, 0),
        (128, 255, 0),
        (0, 255, 255),
        (128, 0, 255),
        (255, 0, 77),
    ]
    # Edges are 2 px lines: a pixel 3 px beside the middle of the first thumb bone is black.
    a, b = hand[1, :2], hand[2, :2]
    across = np.array([-(b - a)[1], (b - a)[0]]) / np.linalg.norm(b - a)
    assert colour(image, (a + b) / 2 + 3 * across) == BLACK


def test_the_face_is_white_dots_drawn_last_and_left_out_on_request():
    person, hand, face = standing_person(), fan_hand(), face_ring()
    face[0, :2] = hand[8, :2]  # a face dot on a hand joint: the face is drawn over the hands, as DWPose does
    extras = [HandsFace(left_hand=hand, face=face)]
    image = render_openpose([person], (512, 512), extras)
    for point in face:
        assert colour(image, point) == WHITE
    outwards = (face[5, :2] - (420.0, 90.0)) / 40.0  # away from the ring's centre, past the neighbouring dots
    assert colour(image, face[5, :2] + 3 * outwards) == WHITE and colour(image, face[5, :2] + 5 * outwards) != WHITE  # radius 3
    without = render_openpose([person], (512, 512), extras, face=False)
    assert not (without == 255).all(axis=2).any()  # no white pixel anywhere
    assert colour(without, hand[8]) == BLUE
    assert np.array_equal(render_openpose([person], (512, 512)), render_openpose([person], (512, 512), [HandsFace()]))


def test_points_below_the_threshold_are_not_drawn():
    hand = fan_hand()
    hand[6, 2] = 0.2  # the index finger's middle joint: its disc and both of its edges go
    face = face_ring()
    face[:, 2] = 0.1
    image = render_openpose([], (512, 512), [HandsFace(right_hand=hand, face=face)])
    assert colour(image, hand[6]) == BLACK
    for edge in ((5, 6), (6, 7)):
        assert colour(image, (hand[edge[0], :2] + hand[edge[1], :2]) / 2) == BLACK
    assert colour(image, (hand[7, :2] + hand[8, :2]) / 2) == HAND_EDGE_COLORS[HAND_EDGES.index((7, 8))]
    assert not (image == 255).all(axis=2).any()


@pytest.mark.parametrize("side", [1024, 256])
def test_sizes_scale_with_the_short_side(side):
    scale = side / 512
    hand, face = fan_hand(), face_ring()
    hand[:, :2] *= scale
    face[:, :2] *= scale
    image = render_openpose([], (side, side + 100), [HandsFace(left_hand=hand, face=face)])  # the short side sets the scale
    joint_radius, dot_radius = round(4 * scale), round(3 * scale)
    tip = hand[20, :2]
    assert colour(image, tip + (joint_radius, 0)) == BLUE and colour(image, tip + (joint_radius + 2, 0)) == BLACK
    dot, outwards = face[17, :2], (face[17, :2] - np.array([420.0, 90.0]) * scale) / (40.0 * scale)
    assert colour(image, dot + dot_radius * outwards) == WHITE and colour(image, dot + (dot_radius + 2) * outwards) != WHITE


def test_drawing_over_a_photo_keeps_the_photo_elsewhere(astronaut):
    image, keypoints, _ = astronaut
    picture = image.copy()
    draw_openpose(picture, [keypoints], [HandsFace(face=face_ring((60.0, 60.0), 20.0))])
    changed = (picture != image).any(axis=2)
    assert changed[60, 40] and not changed[5, 500]
    assert colour(picture, (40.0, 60.0)) == WHITE
