"""Views: quarter turns are exact, crops and zooms map points and masks back to the right pixels."""

from __future__ import annotations

import numpy as np
import pytest

from tpc import keypoints as kp
from tpc_backend.perception.body import person_box, up_direction, upright_quarter_turns
from tpc_backend.perception.views import View, person_view, zoom_tiles


def dot_image(size: tuple[int, int], x: int, y: int) -> np.ndarray:
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[y, x] = 255
    return image


def brightest(image: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre of an image (sub-pixel location of a resampled dot)."""
    grey = image.astype(np.float64).sum(axis=2) if image.ndim == 3 else image.astype(np.float64)
    rows, cols = np.indices(grey.shape)
    return np.array([(cols * grey).sum(), (rows * grey).sum()]) / grey.sum()


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_quarter_turns_copy_pixels_exactly_and_map_points_both_ways(turns):
    rng = np.random.default_rng(turns)
    image = rng.integers(0, 256, size=(60, 90, 3), dtype=np.uint8)
    view = View.whole((90, 60), turns)
    assert np.array_equal(view.render(image), np.rot90(image, -turns))  # clockwise
    points = np.column_stack([rng.uniform(0, 89, 20), rng.uniform(0, 59, 20), np.ones(20)])
    assert np.allclose(view.points_to_original(view.points_to_view(points)), points)
    x, y = 17, 41
    seen = view.render(dot_image((90, 60), x, y))
    assert np.allclose(view.points_to_original(np.array([[*brightest(seen), 1.0]]))[0, :2], (x, y))


@pytest.mark.parametrize("turns", [0, 1, 3])
def test_zoomed_crops_find_the_same_pixel_after_mapping_back(turns):
    size = (200, 150)
    x, y = 120, 70
    view = View.box((90.0, 40.0, 170.0, 120.0), 2.5, turns)
    seen = view.render(dot_image(size, x, y))
    back = view.points_to_original(np.array([[*brightest(seen), 1.0]]))[0]
    assert np.allclose(back[:2], (x, y), atol=0.05) and back[2] == 1.0


def test_shrinking_view_averages_and_maps_back():
    size = (1000, 800)
    view = View.whole(size, max_side=250)
    assert view.size == (250, 200) and view.scale == pytest.approx(0.25)
    image = np.zeros((800, 1000, 3), np.uint8)
    image[400:404, 600:604] = 255  # a 4x4 block becomes about one pixel
    seen = view.render(image)
    back = view.points_to_original(np.array([[*brightest(seen), 1.0]]))[0]
    assert np.allclose(back[:2], (601.5, 401.5), atol=0.3)


def test_points_the_model_put_outside_the_view_lose_their_confidence():
    view = View.box((20.0, 20.0, 60.0, 60.0), 2.0)
    found = np.array([[10.0, 10.0, 0.9], [-5.0, 30.0, 0.8], [30.0, 85.0, 0.7]])
    back = view.points_to_original(found)
    assert back[0, 2] == 0.9 and back[1, 2] == 0.0 and back[2, 2] == 0.0


def test_masks_come_back_where_they_were_and_nowhere_else():
    size = (160, 120)
    view = View.box((40.0, 30.0, 100.0, 90.0), 3.0, 1)
    truth = np.zeros((120, 160), np.float32)
    truth[50:70, 60:80] = 1.0
    in_view = view.render(np.repeat((truth * 255).astype(np.uint8)[:, :, None], 3, axis=2))[:, :, 0] / 255.0
    back = view.mask_to_original(in_view, size) >= 0.5
    assert np.array_equal(back, truth >= 0.5)


def test_tiles_hold_every_person_that_fits_into_half_a_tile():
    for size in [(512, 512), (1280, 720), (400, 1141)]:
        tiles = zoom_tiles(size)
        short = min(size)
        person = 0.25 * short  # half of the smaller tiles' side
        for x in np.linspace(0, size[0] - person, 7):
            for y in np.linspace(0, size[1] - person, 7):
                corners = np.array([[x, y, 1.0], [x + person - 1, y + person - 1, 1.0]])
                inside = [
                    view
                    for view in tiles
                    if (
                        (view.points_to_view(corners)[:, :2] >= -0.5) & (view.points_to_view(corners)[:, :2] <= np.array(view.size) - 0.5)
                    ).all()
                ]
                assert inside, (size, x, y)
    tiles = zoom_tiles((512, 512))
    assert tiles and all(view.scale > 1.0 for view in tiles)


def test_person_view_is_square_centred_and_upright(astronaut):
    image, keypoints, mask = astronaut
    box = person_box(keypoints, mask, (512, 512))
    view = person_view(box, 1, target_side=300)
    assert view.size == (300, 300) and view.quarter_turns == 1
    centre = view.points_to_view(np.array([[(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 1.0]]))[0]
    assert np.allclose(centre[:2], (149.5, 149.5), atol=1.0)


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_upright_turns_undo_a_rotated_photo(astronaut, turns):
    _, keypoints, _ = astronaut
    rotated = View.whole((512, 512), turns).points_to_view(keypoints)
    undo = upright_quarter_turns(rotated)
    assert (turns + undo) % 4 == 0
    up = up_direction(View.whole((512, 512), undo).points_to_view(rotated))
    assert up[1] < -0.9  # head straight above the body


def test_person_box_covers_keypoints_and_mask_and_needs_something(astronaut):
    _, keypoints, mask = astronaut
    x0, y0, x1, y1 = person_box(keypoints, mask, (512, 512))
    seen = kp.visible(keypoints)
    assert (keypoints[seen, 0] >= x0).all() and (keypoints[seen, 0] <= x1).all()
    rows, cols = np.nonzero(mask)
    assert x0 <= cols.min() and y0 <= rows.min() and x1 >= cols.max() + 1 and y1 >= rows.max() + 1
    assert person_box(kp.empty_person(), None) is None
