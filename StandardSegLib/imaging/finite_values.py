"""Refuse NaN and infinity where a number is computed from voxel values.

A NaN inside a mask makes every statistic NaN (printed as ``null`` with exit status 0), an infinity makes a
threshold at a fraction of the maximum infinite (nothing or everything is segmented). Integer DICOM data
cannot hold them, but float pixel data, an overflowing rescale and NRRD/NIfTI files can; the message gives
the count and the first voxel so the user can find them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from StandardSegLib.errors import InputError

if TYPE_CHECKING:
    import SimpleITK as sitk


def require_finite(values: np.ndarray, what: str, *, selection: Optional[np.ndarray] = None,
                   offset_zyx: tuple[int, ...] = (0, 0, 0), image: Optional["sitk.Image"] = None,
                   error: type[InputError] = InputError) -> None:
    """Raise ``error`` if ``values`` (z, y, x; only where ``selection`` is true) holds NaN or infinity.

    ``offset_zyx`` is the index of ``values[0, 0, 0]`` in ``image``, whose geometry turns the first bad voxel
    into a physical position for the message.
    """
    bad = ~np.isfinite(values)
    if selection is not None:
        bad &= selection
    if not bad.any():
        return
    first = np.argwhere(bad)[0] + np.asarray(offset_zyx[:bad.ndim])
    index = tuple(int(v) for v in first[::-1])  # (x, y, z) as ITK and Slicer show it
    place = f"voxel {index}" if len(index) == 3 else f"pixel (column, row) {index}"
    if image is not None and len(index) == image.GetDimension():
        point = image.TransformIndexToPhysicalPoint(index)
        place += " (LPS " + ", ".join(f"{v:.1f}" for v in point) + " mm)"
    raise error(f"{what}: {int(bad.sum())} non-finite value(s) (NaN or infinity), the first at {place}; "
                "expected finite numbers")
