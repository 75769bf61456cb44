"""Minimal PNG encoder (8-bit RGB, grey or palette) so the HTML report needs no plotting library.

Follows the PNG specification (ISO/IEC 15948, W3C PNG 2nd edition): signature, IHDR, PLTE for palette
images, one zlib IDAT, IEND; each chunk carries a CRC-32 of its type and data. Every row uses filter type 2
("Up": the difference to the row above), which on smooth medical images compresses about a third better than
no filter (spec section 9.2).
"""

from __future__ import annotations

import struct
import zlib
from typing import Optional

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTER_UP = 2
_ZLIB_LEVEL = 4  # zlib's fastest level with lazy matching: about 10 % larger than level 6, 3x faster
_GREY, _RGB, _PALETTE = 0, 2, 3  # IHDR colour types


def encode_png(pixels: np.ndarray, palette: Optional[np.ndarray] = None) -> bytes:
    """Encode (rows, columns, 3) RGB or (rows, columns) grey uint8 pixels as PNG bytes; with ``palette``
    (up to 256 RGB entries, shape (n, 3)) a (rows, columns) array holds palette indices instead."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 3 and palette is None:
        colour_type = _RGB
    elif pixels.ndim == 2:
        colour_type = _GREY if palette is None else _PALETTE
    else:
        raise ValueError(f"PNG encoding expects an (rows, columns, 3) RGB or (rows, columns) grey or palette-index "
                         f"array, found shape {pixels.shape}")
    rows, columns = pixels.shape[:2]
    lines = pixels.reshape(rows, -1)
    up = lines.copy()
    up[1:] -= lines[:-1]  # uint8 arithmetic wraps modulo 256, as the filter requires
    scanlines = np.concatenate([np.full((rows, 1), _FILTER_UP, dtype=np.uint8), up], axis=1)
    header = struct.pack(">IIBBBBB", columns, rows, 8, colour_type, 0, 0, 0)
    chunks = [_chunk(b"IHDR", header)]
    if colour_type == _PALETTE:
        entries = np.ascontiguousarray(palette, dtype=np.uint8)
        if entries.ndim != 2 or entries.shape[1] != 3 or not 0 < len(entries) <= 256 or pixels.max() >= len(entries):
            raise ValueError(f"PNG palette expects (n <= 256, 3) RGB entries covering every index, found shape "
                             f"{entries.shape} for indices up to {int(pixels.max())}")
        chunks.append(_chunk(b"PLTE", entries.tobytes()))
    chunks += [_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), _ZLIB_LEVEL)), _chunk(b"IEND", b"")]
    return _SIGNATURE + b"".join(chunks)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
