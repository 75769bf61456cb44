"""The volume of interest a method works in: a box of voxels around the seeds, or the user's lesion ROI.

Methods never run over the whole image when a VOI suffices (a 30 mm lesion in a 512 x 512 x 400 CT is
about 0.01 % of the voxels). The seed VOI *adapts*: when the result comes closer than the margin to a VOI
face that is not the image border, the VOI grows on that side (at least doubling) and the method runs
again, so a lesion larger than the first guess is never cut by the box. It never grows past the *cap*:
the seeds' bounding box widened by the diameter of a sphere of the protocol's maximum lesion volume plus the
VOI margin (a lesion of that size holding the seed fits, even seeded at its edge; a radius was too tight for
the elongated 366 mL sarcoma STS_001 seeded at its hottest voxel), so a leak stops there; a leak is also
stopped as soon as the segment exceeds the maximum volume. A lesion reaching the cap is flagged, never cut
silently.

A lesion ROI (sphere, box or mask; :func:`lesion_bound`) replaces the adaptive VOI: the method sees only
the voxels inside it. A sphere or box reaching past the image edge is clipped to the image with a
warning (tightly cropped studies put lesions near the edge); reference-tissue ROIs are not clipped
(``StandardSegLib.roi.shape_mask`` refuses them), since a cut reference sphere measures a biased region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.roi import BoxROI, ShapeROI, clipped_shape_mask

Index = tuple[int, int, int]
Point = tuple[float, float, float]


@dataclass(frozen=True)
class VOI:
    """A box of voxels of a reference grid: ``start`` index and ``size`` (x, y, z)."""

    start: Index
    size: Index

    @property
    def stop(self) -> Index:
        return tuple(s + n for s, n in zip(self.start, self.size))

    def crop(self, image: sitk.Image) -> sitk.Image:
        """The VOI's part of ``image`` (geometry kept: its origin is the VOI's first voxel)."""
        return sitk.RegionOfInterest(image, list(self.size), list(self.start))

    def local(self, index: Index) -> Index:
        """A reference-grid index in the crop's index space."""
        return tuple(int(i - s) for i, s in zip(index, self.start))

    def paste(self, crop_mask: sitk.Image, reference: sitk.Image) -> sitk.Image:
        """A uint8 mask on the whole reference grid: ``crop_mask`` inside the VOI, 0 elsewhere."""
        full = np.zeros(reference.GetSize()[::-1], dtype=np.uint8)
        full[self.slices_zyx()] = sitk.GetArrayViewFromImage(crop_mask)
        image = sitk.GetImageFromArray(full)
        image.CopyInformation(reference)
        return image

    def slices_zyx(self) -> tuple[slice, slice, slice]:
        return tuple(slice(s, s + n) for s, n in zip(self.start[::-1], self.size[::-1]))

    def padded(self, voxels: Sequence[int], reference: sitk.Image) -> "VOI":
        """The VOI widened by ``voxels`` (x, y, z) on each side, clipped to ``reference``."""
        start = np.maximum(np.asarray(self.start) - voxels, 0)
        stop = np.minimum(np.asarray(self.stop) + voxels, reference.GetSize())
        return VOI(tuple(int(v) for v in start), tuple(int(v) for v in stop - start))

    def within(self, outer: "VOI") -> "VOI":
        """This VOI in the index space of a crop by ``outer`` (which contains it)."""
        return VOI(outer.local(self.start), self.size)

    def intersect(self, other: "VOI") -> "VOI":
        start = np.maximum(self.start, other.start)
        stop = np.minimum(self.stop, other.stop)
        return VOI(tuple(int(v) for v in start), tuple(int(v) for v in np.maximum(stop - start, 0)))

    def describe(self, reference: sitk.Image) -> str:
        """"VOI <size> voxels from (x, y, z) to (x, y, z) mm LPS" (first and last voxel centres)."""
        box = self.to_dict(reference)
        first, last = (", ".join(f"{v:.1f}" for v in box[key]) for key in ("first_voxel_lps", "last_voxel_lps"))
        return f"VOI {'x'.join(map(str, self.size))} voxels from ({first}) to ({last}) mm LPS"

    def grown_to_fit(self, crop_mask: sitk.Image, margin_mm: float, reference: sitk.Image) -> Optional["VOI"]:
        """A larger VOI when the mask comes within ``margin_mm`` of a face that can still move, else None.

        A face that must move goes out by max(margin, current size along that axis), so a leak or a large
        lesion is reached in a few rounds rather than one margin at a time.
        """
        array = sitk.GetArrayViewFromImage(crop_mask)
        if not array.any():
            return None
        spacing = np.asarray(reference.GetSpacing(), float)
        margin = np.ceil(margin_mm / spacing - 1e-9).astype(int)
        image_size = np.asarray(reference.GetSize())
        start, stop = np.asarray(self.start), np.asarray(self.stop)
        new_start, new_stop = start.copy(), stop.copy()
        for axis in range(3):  # axis in x, y, z; numpy axis 2 - axis
            other = tuple(a for a in range(3) if a != 2 - axis)
            hits = np.flatnonzero(array.any(axis=other))
            low, high = start[axis] + hits[0], start[axis] + hits[-1]
            step = max(int(margin[axis]), int(self.size[axis]))
            if low - start[axis] < margin[axis] and start[axis] > 0:
                new_start[axis] = max(0, start[axis] - step)
            if stop[axis] - 1 - high < margin[axis] and stop[axis] < image_size[axis]:
                new_stop[axis] = min(int(image_size[axis]), stop[axis] + step)
        if (new_start == start).all() and (new_stop == stop).all():
            return None
        return VOI(tuple(int(v) for v in new_start), tuple(int(v) for v in new_stop - new_start))

    def to_dict(self, reference: sitk.Image) -> dict[str, Any]:
        """Index box and its physical extent (LPS mm of the first and last voxel centres)."""
        last = tuple(s + n - 1 for s, n in zip(self.start, self.size))
        return {"index_start": list(self.start), "size": list(self.size),
                "first_voxel_lps": list(reference.TransformIndexToPhysicalPoint(self.start)),
                "last_voxel_lps": list(reference.TransformIndexToPhysicalPoint(last))}


def seed_index(image: sitk.Image, point_lps: Point, role: str = "seed") -> Index:
    """The voxel containing ``point_lps``; InputError when it lies outside the image."""
    continuous = image.TransformPhysicalPointToContinuousIndex(tuple(float(v) for v in point_lps))
    index = tuple(int(np.floor(c + 0.5)) for c in continuous)
    if any(i < 0 or i >= n for i, n in zip(index, image.GetSize())):
        x, y, z = point_lps
        raise InputError(f"{role} ({x:g}, {y:g}, {z:g}) mm LPS is outside the image "
                         f"(voxel index {index}, image size {image.GetSize()})")
    return index


def voi_around(image: sitk.Image, indices: Sequence[Index], margin_mm: float) -> VOI:
    """The bounding box of ``indices`` grown by ``margin_mm`` on every side, clipped to the image."""
    points = np.asarray(indices, int)
    margin = np.ceil(margin_mm / np.asarray(image.GetSpacing(), float) - 1e-9).astype(int)
    start = np.maximum(points.min(axis=0) - margin, 0)
    stop = np.minimum(points.max(axis=0) + margin + 1, np.asarray(image.GetSize()))
    return VOI(tuple(int(v) for v in start), tuple(int(v) for v in stop - start))


def voi_from_box(image: sitk.Image, box: BoxROI) -> VOI:
    """The voxels whose centres lie in ``box`` (LPS mm); InputError when the box leaves the image."""
    a, b = box.corner_a_lps, box.corner_b_lps
    continuous = np.array([image.TransformPhysicalPointToContinuousIndex(
        (a[0] if i & 1 else b[0], a[1] if i & 2 else b[1], a[2] if i & 4 else b[2])) for i in range(8)])
    low, high = continuous.min(axis=0), continuous.max(axis=0)
    size = np.asarray(image.GetSize())
    if (low < -0.5 - 1e-6).any() or (high > size - 0.5 + 1e-6).any():
        raise InputError(f"VOI {box.describe()} extends outside the image (voxel index range "
                         f"{np.round(low, 1).tolist()} to {np.round(high, 1).tolist()}, image size {tuple(size)})")
    start = np.clip(np.ceil(low - 1e-6), 0, size - 1).astype(int)
    stop = np.clip(np.floor(high + 1e-6) + 1, 1, size).astype(int)
    if (stop <= start).any():
        raise InputError(f"VOI {box.describe()} contains no voxel centre: make it larger")
    return VOI(tuple(int(v) for v in start), tuple(int(v) for v in stop - start))


@dataclass(frozen=True)
class LesionBound:
    """A lesion ROI on an image: the VOI around it and its voxels (uint8 on the image grid).

    ``description`` says what the user gave (e.g. "sphere at (...) mm LPS, diameter 60 mm"); ``warnings``
    holds the clipping note when the ROI reached past the image edge.
    """

    voi: VOI
    mask: sitk.Image
    description: str
    warnings: tuple[str, ...] = ()

    def contains(self, index: Index) -> bool:
        return bool(self.mask.GetPixel(tuple(int(i) for i in index)))


LesionROI = ShapeROI | sitk.Image


def lesion_bound(image: sitk.Image, roi: LesionROI, name: str = "lesion ROI mask") -> LesionBound:
    """The ``LesionBound`` of a sphere/box (LPS mm, clipped to the image with a warning) or of a mask on the
    image grid (non-zero voxels; ``name`` names it in errors)."""
    warnings: tuple[str, ...] = ()
    if isinstance(roi, sitk.Image):
        from StandardSegLib.measure import align_mask

        full, notes = align_mask(roi, image, name)
        full, description, warnings = sitk.Cast(full != 0, sitk.sitkUInt8), name, tuple(notes)
    else:
        full, clipped = clipped_shape_mask(image, roi)
        description = roi.describe()
        if clipped:
            from StandardSegLib.roi import extent_text

            warnings = (f"lesion ROI {description} reaches past the image edge; clipped to the image "
                        f"({extent_text(image)})",)
    statistics = sitk.LabelShapeStatisticsImageFilter()
    statistics.Execute(full)
    if not statistics.HasLabel(1):
        raise InputError(f"lesion ROI {description} holds no voxel of the image")
    box = statistics.GetBoundingBox(1)
    voi = VOI(tuple(box[:3]), tuple(box[3:]))
    return LesionBound(voi, full, description, warnings)


def cap_voi(image: sitk.Image, indices: Sequence[Index], max_volume_ml: Optional[float], margin_mm: float) -> VOI:
    """The largest adaptive VOI: the seeds' bounding box widened on every side by the diameter of a sphere of
    ``max_volume_ml`` plus ``margin_mm`` (the whole image when the protocol sets no maximum)."""
    if max_volume_ml is None:
        return VOI((0, 0, 0), tuple(image.GetSize()))
    diameter_mm = (6.0 * max_volume_ml * 1000.0 / np.pi) ** (1.0 / 3.0)
    return voi_around(image, indices, diameter_mm + margin_mm)


def voi_around_hot_region(image: sitk.Image, limit: VOI, indices: Sequence[Index], margin_mm: float,
                          background: Optional[float] = None) -> VOI:
    """The first VOI of a PET method: the seed's hot region (``hot_region``, found inside ``limit``) with
    ``margin_mm`` around it, so a large lesion is reached in one run instead of several growth rounds."""
    from StandardSegLib.segmentation.hot_region import hot_region

    hot = hot_region(limit.crop(image), [limit.local(index) for index in indices], background=background)
    statistics = sitk.LabelShapeStatisticsImageFilter()
    statistics.Execute(hot.mask)
    box = statistics.GetBoundingBox(1)
    first = tuple(s + b for s, b in zip(limit.start, box[:3]))
    last = tuple(f + n - 1 for f, n in zip(first, box[3:]))
    return voi_around(image, (first, last, *indices), margin_mm).intersect(limit)
