"""The seed's hot region: where a PET method may take its statistics (max, peak, background-relative level).

A PET lesion is a hot spot, and the hot spot a seed sits in is the voxels face-connected to the seed
whose value is at least a quarter of the way from the background up to the seed's value
(``HOT_REGION_FRACTION``; background = the reference-tissue mean when one was measured and lies below the
seed, else 0). Measured from 0 alone, a quarter of the seed is below the background of a low-contrast
lesion (a 10 mm sphere at 2.5:1 after partial volume), and the region would spread over the whole body. Taking SUVmax or SUVpeak over the whole VOI instead lets unrelated hot tissue set the threshold: on
a 366 mL sarcoma (STS_001) the VOI's SUVmax 25.4 came from a hot spot 100 mm from the tumour, whose own
maximum is 7.9, and no tumour voxel passed 41 % of it. The engine starts from this region and then takes
the statistics from the segment itself until they agree (``method_run``); the region also measures how
much of the hot spot a segment covers (the ``much_smaller_than_hot_region`` flag).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

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


def background_level(background: Any, units: str) -> Optional[float]:
    """The reference-tissue mean (an object with ``mean`` and ``units``) when measured in ``units``."""
    return background.mean if background is not None and getattr(background, "units", units) == units else None


def hot_region(crop: sitk.Image, seeds: Sequence[Index], allowed: Optional[sitk.Image] = None,
               background: Optional[float] = None) -> HotRegion:
    """Voxels of ``crop`` face-connected to the hottest seed at >= background + ``HOT_REGION_FRACTION`` x
    (seed value - background), inside ``allowed`` (the lesion ROI) when given."""
    values = sitk.GetArrayViewFromImage(crop)
    seed_value = max(float(values[index[::-1]]) for index in seeds)
    base = background if background is not None and 0.0 < background < seed_value else 0.0
    level = base + HOT_REGION_FRACTION * (seed_value - base)
    source = crop if allowed is None else sitk.Mask(crop, allowed, outsideValue=min(level, 0.0) - 1.0)
    top = float(values.max())
    region = sitk.ConnectedThreshold(source, seedList=[list(s) for s in seeds], lower=level, upper=max(top, level),
                                     replaceValue=1)
    region = sitk.Cast(region, sitk.sitkUInt8)
    return HotRegion(region, level, int(np.count_nonzero(sitk.GetArrayViewFromImage(region))))
