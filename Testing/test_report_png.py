"""The PNG encoder round-trips through an independent decoder (Pillow)."""

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


def test_png_rejects_non_rgb():
    with pytest.raises(ValueError, match="rows, columns, 3"):
        encode_png(np.zeros((4, 4), dtype=np.uint8))
