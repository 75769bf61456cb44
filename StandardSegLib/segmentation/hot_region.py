"""The seed's hot region: where a PET method may take its statistics (max, peak, background-relative level).

A PET lesion is a hot spot, and the hot spot a seed sits in is the voxels face-connected to the seed
whose value is at least a quarter of the seed's value (``HOT_REGION_FRACTION``; background uptake is well
below it when the seed is on the lesion: SUV 0.7-2 around the vendored sarcomas, whose hottest voxels are
8-22). Taking SUVmax or SUVpeak over the whole VOI instead lets unrelated hot tissue set the threshold: on
a 366 mL sarcoma (STS_001) the VOI's SUVmax 25.4 came from a hot spot 100 mm from the tumour, whose own
maximum is 7.9, and no tumour voxel passed 41 % of it. The engine starts from this region and then takes
the statistics from the segment itself until they agree (``method_run``); the region also measures how
much of the hot spot a segment covers (the ``much_smaller_than_hot_region`` flag).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk

Index = tuple[int, int, int]
#: The hot region holds the voxels connected to the seed at >= this fraction of the seed's value.
HOT_REGION_FRACTION = 0.25


@dataclass(frozen=True)
class HotRegion:
    """uint8 mask on the crop, the level that defined it and its voxel count."""

    mask: sitk.Image
    level: float
    voxel_count: int


def hot_region(crop: sitk.Image, seeds: Sequence[Index], allowed: Optional[sitk.Image] = None) -> HotRegion:
    """Voxels of ``crop`` face-connected to the hottest seed at >= ``HOT_REGION_FRACTION`` x its value,
    inside ``allowed`` (the lesion ROI) when given."""
    values = sitk.GetArrayViewFromImage(crop)
    level = HOT_REGION_FRACTION * max(float(values[index[::-1]]) for index in seeds)
    source = crop if allowed is None else sitk.Mask(crop, allowed, outsideValue=min(level, 0.0) - 1.0)
    top = float(values.max())
    region = sitk.ConnectedThreshold(source, seedList=[list(s) for s in seeds], lower=level, upper=max(top, level),
                                     replaceValue=1)
    region = sitk.Cast(region, sitk.sitkUInt8)
    return HotRegion(region, level, int(np.count_nonzero(sitk.GetArrayViewFromImage(region))))
