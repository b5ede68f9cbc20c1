"""Real photos of people that installed packages ship, with their keypoints and masks.

The photos come from scikit-image (``astronaut``, ``camera``) and Matplotlib (``grace_hopper``), all
public domain; nothing of them is stored here except the annotations in ``tests/support/data`` (made by
``scripts/make_photo_fixtures.py`` with MediaPipe's bundled model). Tests and benchmarks share them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tpc.image_io import read_mask
from tpc.pose_sequence import PoseSequence

DATA = Path(__file__).resolve().parent / "data"
PHOTOS = ("astronaut", "camera", "grace_hopper")


def load_image(name: str) -> np.ndarray:
    """The photo as (H, W, 3) uint8 RGB."""
    if name == "astronaut":
        import skimage.data

        return skimage.data.astronaut()
    if name == "camera":
        import skimage.data

        gray = skimage.data.camera()
        return np.repeat(gray[:, :, None], 3, axis=2)
    if name == "grace_hopper":
        import matplotlib.cbook

        from tpc.image_io import read_image

        return read_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    raise KeyError(f"unknown photo {name!r}; known: {', '.join(PHOTOS)}")


def load_photo(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Photo, COCO-17 keypoints (17, 3) and boolean person mask."""
    image = load_image(name)
    keypoints = PoseSequence.load(DATA / f"{name}_keypoints.json").frames[0][0]
    mask = read_mask(DATA / f"{name}_mask.png", size=(image.shape[1], image.shape[0]))
    return image, keypoints, mask
