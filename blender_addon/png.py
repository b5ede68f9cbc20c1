"""PNG encoding of masks with the standard library, because Blender's Python has no OpenCV or Pillow.

Only what the protocol needs: 8-bit greyscale (0 background, 255 person). Writing through a Blender
image datablock would touch Blender data, which only the main thread may do, and costs far more.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_mask_png(mask: np.ndarray) -> bytes:
    """PNG bytes of an (H, W) mask: bool (True = person) or uint8 (0..255)."""
    array = np.asarray(mask)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"a mask must be a non-empty 2-D array, got shape {array.shape}")
    pixels = array.astype(np.uint8) * 255 if array.dtype == bool else array.astype(np.uint8)
    height, width = pixels.shape
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # filter byte 0 (None) before every row
    rows[:, 1:] = pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale, no interlace
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _chunk(b"IEND", b"")
