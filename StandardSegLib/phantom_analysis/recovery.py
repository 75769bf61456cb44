"""Recovery coefficients of one sphere: measured / true activity concentration (NEMA NU 2, EARL).

- RCmax: the hottest voxel within the sphere's VOI (radius + 9 mm, pynemaiqpet's sub-volume margin).
- RCpeak: the 1 mL sphere mean with the highest value centred in that VOI (PERCIST/QIBA peak,
  ``StandardSegLib.measure``).
- RC_A50: the mean of the EARL A50 segment, background + 50 % of (max - background), made by
  ``segmentation.segment`` with the ``pet-a50`` method in the same VOI.
- RCmean and volume per method: every segmentation method the protocol allows is run by ``segment`` in the
  same VOI, seeded at the fitted centre; the volume error is against 4/3 pi r^3 of the nominal inner diameter.

Every segment is seeded at the hottest voxel (the fitted centre may fall below a threshold in a noisy
image). The methods run in the image's own units (Bq/mL): percent of max, A50 and A50P are ratios of the image's
values (see ``segmentation.pet_thresholds``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.measure import region_statistics
from StandardSegLib.phantom_analysis.locate import box_around
from StandardSegLib.roi import SphereROI, clipped_shape_mask
from StandardSegLib.segmentation import segment

if TYPE_CHECKING:
    from StandardSegLib.gate.reference_tissue import ReferenceMeasurement
    from StandardSegLib.gate.verdict import GateVerdict
    from StandardSegLib.phantom_analysis.locate import LocatedSphere
    from StandardSegLib.protocols.model import Protocol

VOI_MARGIN_MM = 9.0
A50_METHOD = "pet-a50"


@dataclass(frozen=True)
class SphereRecovery:
    diameter_mm: float
    centre_lps: tuple[float, float, float]
    max: float
    max_lps: tuple[float, float, float]  # the hottest voxel: the seed of every segment (it passes any threshold)
    peak: float
    mean_a50: float
    a50_mask: sitk.Image  # on the grid of the sphere's crop (``sphere_crop``)
    methods: dict[str, dict[str, Any]]
    refusals: dict[str, str]  # method -> the one-line reason segment gave


def true_volume_ml(diameter_mm: float) -> float:
    return 4.0 / 3.0 * math.pi * (diameter_mm / 2.0) ** 3 / 1000.0


def hottest_voxel(image: sitk.Image, region: sitk.Image) -> tuple[float, float, float]:
    """LPS centre of the hottest voxel of ``region`` (the first one on ties)."""
    values = np.where(sitk.GetArrayViewFromImage(region) > 0, sitk.GetArrayViewFromImage(image), -np.inf)
    index = np.unravel_index(int(np.argmax(values)), values.shape)
    return tuple(float(v) for v in image.TransformIndexToPhysicalPoint([int(i) for i in index[::-1]]))


def sphere_crop(image: sitk.Image, sphere: "LocatedSphere") -> sitk.Image:
    """The image cut to the box around the sphere's VOI (+2 voxels): same voxels and geometry, so every
    segment of the sphere gives the same result as on the whole image, in a fraction of the time."""
    box = box_around(image, sphere.centre_lps, sphere.diameter_mm / 2.0 + VOI_MARGIN_MM + 2.0 * max(image.GetSpacing()))
    return sitk.RegionOfInterest(image, [part.stop - part.start for part in box[::-1]],
                                 [part.start for part in box[::-1]])


def sphere_voi(sphere: "LocatedSphere") -> SphereROI:
    return SphereROI(sphere.centre_lps, sphere.diameter_mm + 2.0 * VOI_MARGIN_MM)


def measure_sphere(image: sitk.Image, sphere: "LocatedSphere", *, protocol: "Protocol", verdict: "GateVerdict",
                   units: str, background: "ReferenceMeasurement") -> SphereRecovery:
    """Max, peak, A50 mean and every allowed method's volume and mean for one sphere (values in ``units``)."""
    voi = sphere_voi(sphere)
    image = sphere_crop(image, sphere)
    region, _ = clipped_shape_mask(image, voi)
    statistics = region_statistics(image, region, units=units, with_peak=True,
                                   mask_name=f"the {sphere.diameter_mm:g} mm sphere VOI")
    seed = hottest_voxel(image, region)
    methods, refusals, a50_mask, mean_a50 = {}, {}, None, math.nan
    names = [name for name in protocol.segmentation_methods if name != "manual"]
    if A50_METHOD not in names:
        names.append(A50_METHOD)
    for name in names:
        try:
            result = segment(image, protocol=protocol, verdict=verdict, method=name, units=units,
                             seeds_lps=[seed], roi=voi, background=background)
        except InputError as error:
            refusals[name] = str(error)
            continue
        inside = sitk.GetArrayViewFromImage(result.mask) > 0
        mean = float(sitk.GetArrayViewFromImage(image)[inside].astype(np.float64).mean())
        volume = result.provenance.volume_mm3 / 1000.0
        methods[name] = {"volume_ml": volume,
                         "volume_error_pct": 100.0 * (volume / true_volume_ml(sphere.diameter_mm) - 1.0),
                         "mean": mean, "threshold": result.provenance.thresholds.get("lower"),
                         "flags": [flag.code for flag in result.provenance.flags]}
        if name == A50_METHOD:
            a50_mask, mean_a50 = result.mask, mean
    if a50_mask is None:
        raise InputError(f"phantom: the A50 segment of the {sphere.diameter_mm:g} mm sphere failed "
                         f"({refusals.get(A50_METHOD, 'no result')})")
    return SphereRecovery(sphere.diameter_mm, sphere.centre_lps, statistics.max, seed, float(statistics.peak), mean_a50,
                          a50_mask, methods, refusals)
