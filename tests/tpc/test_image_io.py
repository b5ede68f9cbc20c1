"""Image I/O: EXIF orientation, grey and 16-bit images, masks, PNG files written with normal permissions."""

from __future__ import annotations

import io
import os
import stat

import numpy as np
import pytest
from PIL import Image

from tpc.image_io import ImageReadError, decode_image, decode_mask, encode_png, read_mask, write_png


def test_exif_orientation_is_applied():
    """A phone photo stored sideways with an EXIF 'rotate 90' tag comes out upright."""
    stored = np.zeros((40, 80, 3), np.uint8)  # 80 wide, 40 high as stored
    stored[:, :10] = (255, 0, 0)  # red band on the stored left edge
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(stored).save(buffer, format="JPEG", exif=exif, quality=95)
    image = decode_image(buffer.getvalue())
    assert image.shape == (80, 40, 3)  # displayed upright: 40 wide, 80 high
    assert image[:10, :, 0].mean() > 200 and image[-10:, :, 0].mean() < 60  # the band is now on top


def test_grey_and_16_bit_images_become_rgb_uint8(tmp_path):
    grey = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    import cv2

    ok, data = cv2.imencode(".png", grey)
    image = decode_image(data.tobytes())
    assert image.dtype == np.uint8 and image.shape == (8, 8, 3)
    assert image[-1, -1, 0] == (63 * 1000) >> 8


def test_masks_round_trip_and_size_is_checked(tmp_path):
    mask = np.zeros((20, 30), bool)
    mask[5:15, 10:20] = True
    write_png(tmp_path / "m.png", mask)
    assert (read_mask(tmp_path / "m.png") == mask).all()
    with pytest.raises(ImageReadError, match="must be 31x20"):
        read_mask(tmp_path / "m.png", size=(31, 20))
    with pytest.raises(ImageReadError, match="not an image"):
        decode_image(b"definitely not an image")
    with pytest.raises(ImageReadError, match="empty"):
        decode_image(b"")


def test_a_colour_mask_counts_its_brightest_channel_and_ignores_alpha():
    """Masks painted in any colour work: a pixel is person when any colour channel is above half."""
    pixels = np.zeros((2, 4, 4), np.uint8)  # RGBA
    pixels[0, 0] = (200, 0, 0, 0)  # bright red, fully transparent: person (alpha is not read)
    pixels[0, 1] = (0, 0, 130, 255)  # blue just above half: person
    pixels[0, 2] = (127, 127, 127, 255)  # grey just below half: background
    pixels[0, 3] = (0, 0, 0, 255)
    pixels[1] = (0, 255, 0, 255)  # green row: person
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    expected = np.array([[True, True, False, False], [True] * 4])
    assert (decode_mask(buffer.getvalue()) == expected).all()
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., :3], "RGB").save(buffer, format="PNG")
    assert (decode_mask(buffer.getvalue()) == expected).all()


def test_written_files_get_normal_permissions(tmp_path):
    write_png(tmp_path / "out" / "frame.png", np.zeros((4, 4, 3), np.uint8))
    mode = stat.S_IMODE(os.stat(tmp_path / "out" / "frame.png").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]
    assert decode_image(encode_png(np.full((3, 3, 3), 7, np.uint8)))[0, 0, 0] == 7
