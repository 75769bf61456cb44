"""Plausibility guards run on every segment the engine makes (CLI, ``run`` and the Slicer session alike).

Each guard looks at the segment in its VOI and returns a :class:`SegmentFlag` with the numbers behind it
(codes and meaning: :mod:`StandardSegLib.segmentation.flags`). Codes the protocol lists in
``segmentation.blocking_flags`` are marked blocking; the engine refuses a segment with a blocking flag.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Optional

import numpy as np
import SimpleITK as sitk

from StandardSegLib.segmentation.flags import (GROWTH_CAPPED, MUCH_SMALLER_THAN_HOT_REGION, NEAR_EMPTY,
                                               NEAR_EMPTY_VOXELS, SMALL_SEGMENT_FRACTION,
                                               THRESHOLD_OUTSIDE_VALUE_RANGE, TOUCHES_IMAGE_BORDER,
                                               TOUCHES_VOI_BORDER, VOLUME_ABOVE_MAX, SegmentFlag)

if TYPE_CHECKING:
    from StandardSegLib.segmentation.hot_region import HotRegion
    from StandardSegLib.segmentation.voi import VOI

_FACES = ("x-", "x+", "y-", "y+", "z-", "z+")


def plausibility_flags(image: sitk.Image, voi: "VOI", crop_mask: sitk.Image, *, values: sitk.Image, units: str,
                       thresholds: Mapping[str, float], max_volume_ml: Optional[float], capped: bool,
                       hot: Optional["HotRegion"], roi: Optional[sitk.Image] = None,
                       blocking: frozenset[str] = frozenset()) -> tuple[SegmentFlag, ...]:
    """The flags of ``crop_mask`` (uint8 on the ``voi`` crop of ``image``; ``values`` is the crop's image).

    ``capped``: the adaptive VOI wanted to grow past its cap (or the result outgrew the maximum volume and
    growth was stopped); ``hot``: the seed's hot region (PET methods) or None; ``roi``: the lesion ROI on the
    crop (a segment reaching its surface inside the image is cut by it, like one reaching a VOI face).
    """
    array = sitk.GetArrayViewFromImage(crop_mask) != 0
    count = int(np.count_nonzero(array))
    volume_ml = count * float(np.prod(image.GetSpacing())) / 1000.0
    where = voi.describe(image)
    found: list[tuple[str, str]] = []
    if max_volume_ml is not None and volume_ml > max_volume_ml:
        found.append((VOLUME_ABOVE_MAX, f"volume {volume_ml:.1f} mL is above the protocol's maximum lesion volume "
                                        f"{max_volume_ml:g} mL"))
    if capped:
        found.append((GROWTH_CAPPED, f"the segment kept growing and was stopped at the size cap ({where}): a "
                                     "leak into the surrounding tissue, or a lesion larger than the protocol allows"))
    touched = touched_faces(array)
    image_faces = _image_faces(voi, image)
    voi_faces = [face for face in touched if face not in image_faces]
    if voi_faces:
        found.append((TOUCHES_VOI_BORDER, f"the segment reaches the VOI face(s) {', '.join(voi_faces)} ({where}); "
                                          "the lesion may continue outside the VOI"))
    elif roi is not None and _reaches_outside(array, sitk.GetArrayViewFromImage(roi) == 0):
        found.append((TOUCHES_VOI_BORDER, "the segment reaches the surface of the lesion ROI; the lesion may "
                                          "continue outside it"))
    border = [face for face in touched if face in image_faces]
    if border:
        found.append((TOUCHES_IMAGE_BORDER, f"the segment reaches the image border at face(s) {', '.join(border)}; "
                                            "the lesion may continue outside the image"))
    outside = _thresholds_outside(values, thresholds, units)
    if outside:
        found.append((THRESHOLD_OUTSIDE_VALUE_RANGE, outside))
    if hot is not None and count < SMALL_SEGMENT_FRACTION * hot.voxel_count:
        hot_ml = hot.voxel_count * float(np.prod(image.GetSpacing())) / 1000.0
        found.append((MUCH_SMALLER_THAN_HOT_REGION,
                      f"the segment ({volume_ml:.2f} mL) is under {SMALL_SEGMENT_FRACTION:.0%} of the hot region "
                      f"connected to the seed ({hot_ml:.1f} mL at >= {hot.level:.4g} {units}, a quarter of the "
                      "way from the background to the seed value)"))
    if count <= NEAR_EMPTY_VOXELS:
        found.append((NEAR_EMPTY, f"the segment has only {count} voxel(s) ({volume_ml:.3f} mL)"))
    return tuple(SegmentFlag(code, message, code in blocking) for code, message in found)


def touched_faces(array: np.ndarray) -> list[str]:
    """Faces (x-, x+, ...) of the crop that the mask reaches; numpy axes are z, y, x."""
    if not array.any():
        return []
    faces = []
    for axis in range(3):
        numpy_axis = 2 - axis
        first = np.take(array, 0, axis=numpy_axis).any()
        last = np.take(array, array.shape[numpy_axis] - 1, axis=numpy_axis).any()
        faces += [_FACES[2 * axis]] * bool(first) + [_FACES[2 * axis + 1]] * bool(last)
    return faces


def _reaches_outside(array: np.ndarray, outside: np.ndarray) -> bool:
    """Does a mask voxel have a face neighbour in ``outside`` (voxels of the crop outside the ROI)?"""
    for axis in range(3):
        low = [slice(None)] * 3
        high = [slice(None)] * 3
        low[axis], high[axis] = slice(None, -1), slice(1, None)
        if (array[tuple(low)] & outside[tuple(high)]).any() or (array[tuple(high)] & outside[tuple(low)]).any():
            return True
    return False


def _image_faces(voi: "VOI", image: sitk.Image) -> set[str]:
    """The VOI faces that lie on the image border."""
    faces = set()
    for axis, (start, stop, size) in enumerate(zip(voi.start, voi.stop, image.GetSize())):
        if start == 0:
            faces.add(_FACES[2 * axis])
        if stop == size:
            faces.add(_FACES[2 * axis + 1])
    return faces


def _thresholds_outside(values: sitk.Image, thresholds: Mapping[str, float], units: str) -> str:
    """One line naming each threshold outside the VOI's [min, max], or "" when all lie inside."""
    array = sitk.GetArrayViewFromImage(values)
    low, high = float(array.min()), float(array.max())
    outside = [f"{name} {value:.4g}" for name, value in thresholds.items()
               if math.isfinite(value) and not low <= value <= high]
    if not outside:
        return ""
    return (f"threshold(s) {', '.join(outside)} {units} outside the VOI's value range [{low:.4g}, {high:.4g}] {units}: "
            "they keep all or nothing of it")
