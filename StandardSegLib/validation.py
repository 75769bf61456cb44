"""Agreement of a segmentation with a human reference segmentation (consensus: semi-automatic tools are
validated against reference segmentations).

Overlap and distances come from SimpleITK's well-tested filters (LabelOverlapMeasuresImageFilter,
HausdorffDistanceImageFilter, SignedMaurerDistanceMap for the surface-distance distribution: HD95 and mean
surface distance), not from hand-written loops. Both masks must be on the same grid; a
reference on another grid is resampled nearest-neighbour first (``measure.align_mask``) and that is noted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.measure import align_mask


@dataclass(frozen=True)
class Agreement:
    """How a segment compares with its reference. Volumes in mL; distances in mm (physical, not voxels)."""

    segment: str
    reference: str
    dice: float
    jaccard: float
    volume_ml: float
    reference_volume_ml: float
    volume_difference_percent: float  # (segment - reference) / reference x 100
    hausdorff_mm: float
    average_hausdorff_mm: float
    hausdorff_95_mm: float
    mean_surface_distance_mm: float
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["notes"] = list(self.notes)
        return document


def compare_masks(mask: sitk.Image, reference: sitk.Image, segment: str, reference_name: str,
                  reference_label: Optional[int] = None) -> Agreement:
    """Dice, Jaccard, volume difference and Hausdorff distances of ``mask`` (non-zero = inside) against
    ``reference`` (non-zero, or only ``reference_label``)."""
    aligned, notes = align_mask(reference, mask, reference_name)
    reference_binary = (aligned == reference_label) if reference_label is not None else (aligned != 0)
    test_binary = sitk.Cast(mask != 0, sitk.sitkUInt8)
    reference_binary = sitk.Cast(reference_binary, sitk.sitkUInt8)
    test_count = int(np.count_nonzero(sitk.GetArrayViewFromImage(test_binary)))
    reference_count = int(np.count_nonzero(sitk.GetArrayViewFromImage(reference_binary)))
    if test_count == 0 or reference_count == 0:
        empty = segment if test_count == 0 else reference_name
        raise InputError(f"validation of '{segment}': expected voxels in both masks, found none in '{empty}'")
    overlap = sitk.LabelOverlapMeasuresImageFilter()
    overlap.Execute(reference_binary, test_binary)
    distances = sitk.HausdorffDistanceImageFilter()
    distances.Execute(reference_binary, test_binary)
    surface = surface_distances(test_binary, reference_binary)
    voxel_ml = float(np.prod(mask.GetSpacing())) / 1000.0
    return Agreement(
        segment=segment, reference=reference_name, dice=overlap.GetDiceCoefficient(),
        jaccard=overlap.GetJaccardCoefficient(), volume_ml=test_count * voxel_ml,
        reference_volume_ml=reference_count * voxel_ml,
        volume_difference_percent=100.0 * (test_count - reference_count) / reference_count,
        hausdorff_mm=distances.GetHausdorffDistance(), average_hausdorff_mm=distances.GetAverageHausdorffDistance(),
        hausdorff_95_mm=surface.hausdorff_95_mm, mean_surface_distance_mm=surface.mean_mm, notes=tuple(notes))


@dataclass(frozen=True)
class SurfaceDistances:
    """Symmetric surface distances between two masks, in mm.

    ``hausdorff_95_mm`` is the larger of the two directed 95th percentiles (as MONAI and the Medical
    Segmentation Decathlon define HD95); ``mean_mm`` the mean over both directions' distances together
    (mean surface distance, MSD); ``hausdorff_mm`` the largest distance.
    """

    hausdorff_95_mm: float
    mean_mm: float
    hausdorff_mm: float


def surface_distances(first: sitk.Image, second: sitk.Image) -> SurfaceDistances:
    """Distances from each surface voxel of one binary mask (uint8, same grid) to the other's surface.

    Surfaces are the masks' contour voxels (``LabelContour``, face connectivity); distances are read from the
    other mask's unsigned Maurer distance map in physical units (Maurer et al., IEEE TPAMI 2003;25:265), as
    in SimpleITK's segmentation-evaluation example.
    """
    forward = _directed_distances(first, second)
    backward = _directed_distances(second, first)
    both = np.concatenate([forward, backward])
    return SurfaceDistances(hausdorff_95_mm=float(max(np.percentile(forward, 95), np.percentile(backward, 95))),
                            mean_mm=float(both.mean()), hausdorff_mm=float(both.max()))


def _directed_distances(source: sitk.Image, target: sitk.Image) -> np.ndarray:
    distance = sitk.Abs(sitk.SignedMaurerDistanceMap(target, insideIsPositive=False, squaredDistance=False,
                                                     useImageSpacing=True))
    surface = sitk.GetArrayFromImage(sitk.LabelContour(source, fullyConnected=False)) != 0
    if not surface.any():
        raise InputError("surface distance: expected voxels in both masks, found an empty mask")
    return sitk.GetArrayFromImage(distance)[surface].astype(float)
