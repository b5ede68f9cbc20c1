"""Reading and writing the images and masks of the formats (RGB arrays inside, PNG on disk).

Arrays are RGB everywhere in TPC Animate (as in diffusers and scikit-image); OpenCV's BGR stays inside
this module. Writes go through :func:`tpc.files.write_atomic`, so a reader never sees half a PNG.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .files import write_atomic


class ImageReadError(ValueError):
    """An image that cannot be used; the message says which file and why."""


def decode_image(data: bytes, *, source: str = "image") -> np.ndarray:
    """Decode PNG/JPEG/... bytes to an (H, W, 3) uint8 RGB array (alpha dropped, 16-bit scaled)."""
    image = _decode(data, source)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _decode(data: bytes, source: str) -> np.ndarray:
    """uint8 grey (H, W), BGR or BGRA (H, W, 3|4), as the file stores it."""
    if not data:
        raise ImageReadError(f"{source} is empty")
    buffer = np.frombuffer(data, dtype=np.uint8)
    # ANYCOLOR | ANYDEPTH keeps grey and 16-bit data as they are but, unlike IMREAD_UNCHANGED,
    # applies the EXIF orientation, so a portrait phone photo is not processed lying on its side.
    image = cv2.imdecode(buffer, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    if image is None or image.size == 0:
        raise ImageReadError(f"{source} is not an image OpenCV can read (PNG, JPEG, WebP, TIFF, BMP...)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return image


def _read_bytes(path: str | os.PathLike, what: str) -> bytes:
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{what} {path} does not exist")
    if path.is_dir():
        raise ImageReadError(f"{what} {path} is a folder, not an image file")
    try:
        return path.read_bytes()
    except OSError as error:
        raise ImageReadError(f"{what} {path} cannot be read ({error.strerror})") from None


def read_image(path: str | os.PathLike, *, what: str = "image") -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB; raises :class:`ImageReadError` with a sentence."""
    return decode_image(_read_bytes(path, what), source=f"{what} {path}")


def read_mask(path: str | os.PathLike, *, what: str = "mask", size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a person mask (0 background, 255 person) as an (H, W) bool array (see :func:`decode_mask`)."""
    return decode_mask(_read_bytes(path, what), source=f"{what} {path}", size=size)


def decode_mask(data: bytes, *, source: str = "mask", size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode a person mask (0 background, 255 person) from image bytes as an (H, W) bool array.

    Any pixel above half intensity counts as person. ``size`` = (W, H), when given, must match,
    since masks are drawn in the pixels of the image they belong to.
    """
    image = _decode(data, source)
    if image.ndim == 3:  # the brightest colour channel; numpy's max over a short last axis is slow
        image = np.maximum(np.maximum(image[..., 0], image[..., 1]), image[..., 2])
    mask = image >= 128
    if size is not None and (mask.shape[1], mask.shape[0]) != tuple(size):
        raise ImageReadError(f"{source} is {mask.shape[1]}x{mask.shape[0]} pixels but must be {size[0]}x{size[1]}")
    return mask


def encode_png(image: np.ndarray, compression: int = 1) -> bytes:
    """PNG bytes of an RGB (H, W, 3) or single-channel (H, W) uint8 array."""
    array = np.asarray(image)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Encode and atomically write a PNG (RGB image, or mask as bool or 0/255)."""
    write_atomic(path, encode_png(image))
