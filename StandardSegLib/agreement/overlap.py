"""Per-lesion agreement of N readers' masks on one grid: STAPLE consensus, each reader against it, every
pair of readers, and each reader against a given reference.

STAPLE (Warfield et al., IEEE TMI 2004;23:903) via SimpleITK's STAPLEImageFilter; the consensus is the
voxels with a posterior probability >= 0.5. Sensitivity and specificity of each reader are counted against
that consensus, and STAPLE's own estimates are given beside them. Both depend on how much background is
included, so every computation runs on the same box: the union of all masks grown by ``MARGIN_VOXELS``
(stated in the output). Dice, Jaccard, HD95 and mean surface distance come from
``StandardSegLib.validation``.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Optional, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.validation import compare_masks

MARGIN_VOXELS = 5
CONSENSUS_PROBABILITY = 0.5


def lesion_agreement(masks: Sequence[sitk.Image], readers: Sequence[str],
                     reference: Optional[sitk.Image] = None) -> dict[str, Any]:
    """Everything for one lesion (volumes in mL, distances in mm)."""
    for mask, reader in zip(masks, readers):
        if not np.any(sitk.GetArrayViewFromImage(mask)):
            raise InputError(f"reader {reader}: expected a non-empty mask, found no voxel inside")
    everything = [*masks, *([reference] if reference is not None else [])]
    box = _union_box(everything)
    cropped = [sitk.RegionOfInterest(mask, box[1], box[0]) for mask in masks]
    staple = sitk.STAPLEImageFilter()
    staple.SetForegroundValue(1.0)
    probability = staple.Execute(cropped)
    consensus = sitk.Cast(probability >= CONSENSUS_PROBABILITY, sitk.sitkUInt8)
    if not np.any(sitk.GetArrayViewFromImage(consensus)):
        raise InputError(f"STAPLE consensus of {', '.join(readers)} is empty: the readers' masks do not overlap")
    voxel_ml = float(np.prod(masks[0].GetSpacing())) / 1000.0
    result: dict[str, Any] = {
        "box": {"index": list(box[0]), "size": list(box[1]), "margin_voxels": MARGIN_VOXELS},
        "consensus": {"method": "STAPLE", "probability_threshold": CONSENSUS_PROBABILITY,
                      "volume_ml": _count(consensus) * voxel_ml, "iterations": staple.GetElapsedIterations()},
        "readers": [_against(mask, consensus, reader, "consensus")
                    | {"volume_ml": _count(mask) * voxel_ml, **_confusion(mask, consensus),
                       "staple_sensitivity": staple.GetSensitivity()[number],
                       "staple_specificity": staple.GetSpecificity()[number]}
                    for number, (mask, reader) in enumerate(zip(cropped, readers))],
        "pairs": [_against(cropped[j], cropped[i], readers[j], readers[i])
                  for i, j in combinations(range(len(cropped)), 2)],
        "reference": None,
    }
    if reference is not None:
        reference_cropped = sitk.RegionOfInterest(reference, box[1], box[0])
        result["reference"] = {"volume_ml": _count(reference_cropped) * voxel_ml,
                               "readers": [_against(mask, reference_cropped, reader, "reference")
                                           for mask, reader in zip(cropped, readers)]}
    return result


def _against(mask: sitk.Image, other: sitk.Image, name: str, other_name: str) -> dict[str, Any]:
    measured = compare_masks(mask, other, name, other_name)
    return {"reader": name, "against": other_name, "dice": measured.dice, "jaccard": measured.jaccard,
            "hd95_mm": measured.hausdorff_95_mm, "mean_surface_distance_mm": measured.mean_surface_distance_mm,
            "hausdorff_mm": measured.hausdorff_mm, "volume_difference_percent": measured.volume_difference_percent}


def _confusion(mask: sitk.Image, consensus: sitk.Image) -> dict[str, float]:
    """Sensitivity TP/(TP+FN) and specificity TN/(TN+FP) of ``mask`` against the consensus, in the box."""
    test = sitk.GetArrayViewFromImage(mask) != 0
    truth = sitk.GetArrayViewFromImage(consensus) != 0
    true_positive = np.count_nonzero(test & truth)
    true_negative = np.count_nonzero(~test & ~truth)
    return {"sensitivity": true_positive / np.count_nonzero(truth),
            "specificity": true_negative / max(1, np.count_nonzero(~truth))}


def _union_box(masks: Sequence[sitk.Image]) -> tuple[list[int], list[int]]:
    """(index, size) of the union's bounding box grown by MARGIN_VOXELS, clipped to the grid."""
    union = np.zeros(sitk.GetArrayViewFromImage(masks[0]).shape, dtype=bool)
    for mask in masks:
        union |= sitk.GetArrayViewFromImage(mask) != 0
    occupied = np.argwhere(union)
    low = np.maximum(occupied.min(axis=0) - MARGIN_VOXELS, 0)
    high = np.minimum(occupied.max(axis=0) + MARGIN_VOXELS + 1, union.shape)
    return [int(value) for value in low[::-1]], [int(value) for value in (high - low)[::-1]]


def _count(mask: sitk.Image) -> int:
    return int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
