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
#: A hot spot's extent when looking for one (``hottest_spot``): voxels connected to its SUVpeak sphere's centre at
#: >= this fraction of the peak (the 50 % isocontour of PET volume definitions, e.g. A50).
HOT_SPOT_FRACTION = 0.5
#: How many hot spots touching the border ``hottest_spot`` passes over before it gives up.
HOT_SPOT_TRIES = 10


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


def hottest_spot(image: sitk.Image, units: str = "raw") -> tuple[float, tuple[float, float, float]]:
    """Where a PET reader starts looking: the hottest 1 mL sphere (SUVpeak's, ``measure.region_statistics``) whose
    hot spot - the voxels connected to its centre at >= ``HOT_SPOT_FRACTION`` of its mean - does not touch the
    image's border; returns that mean and the sphere's centre (LPS mm). A sphere's mean passes over one noisy
    voxel; the border test passes over a hot structure the field of view cuts (STS_001: a SUV 25 spot on the
    last slice, 100 mm from the sarcoma). Spots touching the border are left out one by one (at most
    ``HOT_SPOT_TRIES``)."""
    from StandardSegLib.errors import InputError
    from StandardSegLib.measure import region_statistics
    from StandardSegLib.segmentation.guards import touched_faces

    candidates = np.ones(image.GetSize()[::-1], dtype=np.uint8)
    top = float(sitk.GetArrayViewFromImage(image).max())  # a finite upper bound (ITK casts it to the pixel type)
    for _try in range(HOT_SPOT_TRIES):
        region = sitk.GetImageFromArray(candidates)
        region.CopyInformation(image)
        statistics = region_statistics(image, region, units=units, with_peak=True, mask_name="the image")
        centre = image.TransformPhysicalPointToIndex(statistics.peak_center_lps)
        spot = sitk.GetArrayFromImage(sitk.ConnectedThreshold(
            image, seedList=[centre], lower=HOT_SPOT_FRACTION * statistics.peak, upper=top)) != 0
        if not touched_faces(spot):
            return statistics.peak, statistics.peak_center_lps
        candidates[spot] = 0
        if not candidates.any():
            break
    raise InputError(f"hottest spot: the {HOT_SPOT_TRIES} hottest spots of the image all touch its border")
