"""Scripted manual edits of a segment, each recorded as a MANUAL step (QuantitativeReporting's idea: the
provenance is captured where the edit happens). Paint/erase a sphere at a point (LPS mm), add or subtract
another mask (logical operators). Edits return a new :class:`Segment`; the input is never modified.

Algorithm type after an edit: a segment made by hand stays MANUAL; a semi-automatic result that a human
corrected stays SEMIAUTOMATIC (DICOM SEG: the algorithm was human-assisted either way).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.measure import align_mask
from StandardSegLib.roi import SphereROI, shape_mask
from StandardSegLib.segmentation.method_types import binary
from StandardSegLib.segmentation.postprocess import voxel_count
from StandardSegLib.segmentation.provenance import MANUAL, ProcessingStep, Segment

Point = tuple[float, float, float]


def _edited(segment: Segment, mask: sitk.Image, name: str, **parameters) -> Segment:
    step = ProcessingStep(name, MANUAL, parameters, voxel_count(mask))
    voxel_mm3 = float(np.prod(mask.GetSpacing()))
    return Segment(mask, segment.provenance.with_step(step, voxel_mm3))


def paint_sphere(segment: Segment, center_lps: Point, diameter_mm: float) -> Segment:
    """Add the voxels whose centres lie in the sphere."""
    sphere = SphereROI(tuple(float(v) for v in center_lps), float(diameter_mm))
    mask = binary(segment.mask | shape_mask(segment.mask, sphere))
    return _edited(segment, mask, "paint sphere", center_lps=list(sphere.center_lps), diameter_mm=diameter_mm)


def erase_sphere(segment: Segment, center_lps: Point, diameter_mm: float) -> Segment:
    """Remove the voxels whose centres lie in the sphere."""
    sphere = SphereROI(tuple(float(v) for v in center_lps), float(diameter_mm))
    mask = binary(segment.mask & (1 - shape_mask(segment.mask, sphere)))
    return _edited(segment, mask, "erase sphere", center_lps=list(sphere.center_lps), diameter_mm=diameter_mm)


def add_mask(segment: Segment, other: sitk.Image, description: str, label: Optional[int] = None) -> Segment:
    """Logical OR with ``other`` (non-zero voxels, or ``label`` only), resampled onto the grid if needed."""
    aligned, notes = _aligned(segment, other, description, label)
    return _edited(segment, binary(segment.mask | aligned), "add mask", mask_file=description, label=label, notes=notes)


def subtract_mask(segment: Segment, other: sitk.Image, description: str, label: Optional[int] = None) -> Segment:
    """Remove the voxels of ``other`` (non-zero voxels, or ``label`` only)."""
    aligned, notes = _aligned(segment, other, description, label)
    return _edited(segment, binary(segment.mask & (1 - aligned)), "subtract mask", mask_file=description, label=label,
                   notes=notes)


def _aligned(segment: Segment, other: sitk.Image, description: str,
             label: Optional[int]) -> tuple[sitk.Image, list[str]]:
    """``other`` on the segment's grid (nearest neighbour; the note says so when it was resampled)."""
    mask, notes = align_mask(other, segment.mask, description)
    selected = (mask == label) if label is not None else (mask != 0)
    return binary(selected), notes


def edit_to_match(segment: Segment, target: sitk.Image, description: str, label: Optional[int] = None,
                  notes: Sequence[str] = ()) -> Segment:
    """``segment`` edited until it equals ``target`` (a mask drawn or corrected elsewhere, e.g. in Slicer's
    Segment Editor): voxels only in ``target`` are added, voxels only in ``segment`` removed, each change a
    MANUAL step naming ``description``. An unchanged mask gets no step, so its provenance stays as it was.
    ``notes`` (what reading ``target`` said, e.g. that an RTSTRUCT's contours were drawn on other images) are
    recorded with each step.

    The comparison runs on numpy views (a whole CT is compared in a fraction of a second); SimpleITK images
    are built only for the steps actually recorded.
    """
    aligned, alignment_notes = align_mask(target, segment.mask, description)
    notes = [*notes, *alignment_notes]
    wanted = sitk.GetArrayViewFromImage(aligned)
    wanted = (wanted == label) if label is not None else (wanted != 0)
    current = sitk.GetArrayViewFromImage(segment.mask) != 0
    added, removed = wanted & ~current, current & ~wanted
    if added.any():
        segment = _edited(segment, _like(segment.mask, current | added), "add mask", mask_file=description,
                          label=label, notes=notes)
    if removed.any():
        segment = _edited(segment, _like(segment.mask, wanted), "subtract mask", mask_file=description,
                          label=label, notes=notes)
    return segment


def _like(reference: sitk.Image, inside: np.ndarray) -> sitk.Image:
    """A uint8 mask (1 inside) from a boolean array, on ``reference``'s grid."""
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(reference)
    return mask
