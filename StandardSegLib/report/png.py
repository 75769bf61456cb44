"""Minimal PNG encoder (RGB, 8 bit) so the HTML report needs no plotting library.

Follows the PNG specification (ISO/IEC 15948, W3C PNG 2nd edition): signature, IHDR, one zlib IDAT with
filter type 0 per row, IEND; each chunk carries a CRC-32 of its type and data.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode_png(rgb: np.ndarray) -> bytes:
    """Encode an (rows, columns, 3) uint8 array as PNG bytes."""
    pixels = np.ascontiguousarray(rgb, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"PNG encoding expects an (rows, columns, 3) array, found shape {pixels.shape}")
    rows, columns, _ = pixels.shape
    scanlines = np.concatenate([np.zeros((rows, 1), dtype=np.uint8), pixels.reshape(rows, columns * 3)], axis=1)
    header = struct.pack(">IIBBBBB", columns, rows, 8, 2, 0, 0, 0)  # 8 bit, colour type 2 = RGB
    return (_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 9))
            + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
