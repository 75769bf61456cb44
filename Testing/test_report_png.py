"""The PNG encoder round-trips through an independent decoder (Pillow): RGB, grey and palette images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from StandardSegLib.report.png import encode_png


@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 13, 3), (64, 32, 3)])
def test_png_round_trip(shape):
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, size=shape, dtype=np.uint8)
    decoded = Image.open(io.BytesIO(encode_png(pixels)))
    assert decoded.mode == "RGB" and decoded.size == (shape[1], shape[0])
    np.testing.assert_array_equal(np.asarray(decoded), pixels)


def test_grey_png_round_trip():
    pixels = np.random.default_rng(1).integers(0, 256, size=(9, 17), dtype=np.uint8)
    decoded = Image.open(io.BytesIO(encode_png(pixels)))
    assert decoded.mode == "L"
    np.testing.assert_array_equal(np.asarray(decoded), pixels)


def test_palette_png_round_trip():
    palette = np.random.default_rng(2).integers(0, 256, size=(5, 3), dtype=np.uint8)
    indices = np.random.default_rng(3).integers(0, 5, size=(11, 6), dtype=np.uint8)
    decoded = Image.open(io.BytesIO(encode_png(indices, palette)))
    assert decoded.mode == "P"
    np.testing.assert_array_equal(np.asarray(decoded.convert("RGB")), palette[indices])


def test_png_rejects_other_shapes_and_short_palettes():
    with pytest.raises(ValueError, match="rows, columns, 3"):
        encode_png(np.zeros((4, 4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="palette"):
        encode_png(np.full((2, 2), 3, dtype=np.uint8), np.zeros((3, 3), dtype=np.uint8))
