"""Agreement of a segmentation with a human reference segmentation (consensus: semi-automatic tools are
validated against reference segmentations).

Overlap and distances come from SimpleITK's well-tested filters (LabelOverlapMeasuresImageFilter,
HausdorffDistanceImageFilter), not from hand-written loops. Both masks must be on the same grid; a
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
    voxel_ml = float(np.prod(mask.GetSpacing())) / 1000.0
    return Agreement(
        segment=segment, reference=reference_name, dice=overlap.GetDiceCoefficient(),
        jaccard=overlap.GetJaccardCoefficient(), volume_ml=test_count * voxel_ml,
        reference_volume_ml=reference_count * voxel_ml,
        volume_difference_percent=100.0 * (test_count - reference_count) / reference_count,
        hausdorff_mm=distances.GetHausdorffDistance(), average_hausdorff_mm=distances.GetAverageHausdorffDistance(),
        notes=tuple(notes))
