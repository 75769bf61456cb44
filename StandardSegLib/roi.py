"""Regions of interest drawn in patient coordinates: spheres, cylinders and boxes.

Coordinates are DICOM patient coordinates in millimetres (LPS), as SimpleITK uses; the Slicer module
converts from RAS before calling. A voxel belongs to a shape when its *centre* lies inside the shape —
the usual convention for reference-tissue VOIs (e.g. the PERCIST 3 cm liver sphere). Only the bounding
region of the shape is visited, so a 30 mm sphere costs the same on a 64³ or a 512³ image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError

Point = tuple[float, float, float]


@dataclass(frozen=True)
class SphereROI:
    """A sphere: centre in LPS mm and diameter in mm."""

    center_lps: Point
    diameter_mm: float

    def describe(self) -> str:
        x, y, z = self.center_lps
        return f"sphere at ({x:.1f}, {y:.1f}, {z:.1f}) mm LPS, diameter {self.diameter_mm:g} mm"


@dataclass(frozen=True)
class CylinderROI:
    """A cylinder along the patient's superior-inferior (z) axis, e.g. the PERCIST blood-pool VOI
    (1 cm diameter, 2 cm long, in the descending aorta)."""

    center_lps: Point
    diameter_mm: float
    length_mm: float

    def describe(self) -> str:
        x, y, z = self.center_lps
        return (f"cylinder at ({x:.1f}, {y:.1f}, {z:.1f}) mm LPS, diameter {self.diameter_mm:g} mm, "
                f"length {self.length_mm:g} mm")


@dataclass(frozen=True)
class BoxROI:
    """An axis-aligned box (in patient coordinates) between two opposite corners in LPS mm."""

    corner_a_lps: Point
    corner_b_lps: Point

    def describe(self) -> str:
        a = ", ".join(f"{v:.1f}" for v in self.corner_a_lps)
        b = ", ".join(f"{v:.1f}" for v in self.corner_b_lps)
        return f"box from ({a}) to ({b}) mm LPS"


ShapeROI = SphereROI | CylinderROI | BoxROI


def parse_sphere(text: str) -> SphereROI:
    """Parse the CLI form ``X,Y,Z,D`` (LPS mm, diameter mm)."""
    values = _parse_numbers(text, 4, "X,Y,Z,D (LPS mm and diameter in mm)")
    if values[3] <= 0:
        raise InputError(f"sphere '{text}': diameter must be > 0 mm, found {values[3]:g}")
    return SphereROI(center_lps=(values[0], values[1], values[2]), diameter_mm=values[3])


def parse_point(text: str) -> Point:
    """Parse the CLI form ``X,Y,Z`` (LPS mm)."""
    x, y, z = _parse_numbers(text, 3, "X,Y,Z (LPS mm)")
    return (x, y, z)


def _parse_numbers(text: str, count: int, expected: str) -> list[float]:
    parts = [part.strip() for part in text.split(",")]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != count or not all(np.isfinite(values)):
        raise InputError(f"'{text}': expected {expected}, found {len(parts)} value(s)")
    return values


def shape_mask(reference: sitk.Image, shape: ShapeROI) -> sitk.Image:
    """Rasterise ``shape`` on the grid of ``reference`` as a uint8 mask (1 inside).

    Raises InputError when the shape lies (partly) outside the image or covers no voxel centre: a reference
    VOI cut by the image border would silently measure a smaller, biased region.
    """
    return _rasterise(reference, shape, _index_region(reference, shape))


def clipped_shape_mask(reference: sitk.Image, shape: ShapeROI) -> tuple[sitk.Image, bool]:
    """``shape_mask`` for a lesion ROI, which may reach past the image edge (tightly cropped studies): the
    part inside the image, and whether the shape was clipped. InputError when no voxel centre is inside."""
    region, clipped = _index_region(reference, shape, clip=True)
    return _rasterise(reference, shape, region), clipped


def _rasterise(reference: sitk.Image, shape: ShapeROI, region: tuple[tuple[int, int], ...]) -> sitk.Image:
    points = _voxel_centres(reference, region)
    inside = _inside(shape, points)
    mask = np.zeros(reference.GetSize()[::-1], dtype=np.uint8)
    (x0, x1), (y0, y1), (z0, z1) = region
    mask[z0:z1, y0:y1, x0:x1] = inside
    if not mask.any():
        raise InputError(f"{shape.describe()} contains no voxel centre of the image "
                         f"(spacing {_fmt(reference.GetSpacing())} mm): make it larger")
    image = sitk.GetImageFromArray(mask)
    image.CopyInformation(reference)
    return image


def _support(shape: ShapeROI, axis: np.ndarray) -> tuple[float, float]:
    """Smallest and largest value of ``axis . p`` over the points ``p`` of the (convex) shape."""
    if isinstance(shape, BoxROI):
        a, b = shape.corner_a_lps, shape.corner_b_lps
        corners = np.array([[a[0] if i & 1 else b[0], a[1] if i & 2 else b[1], a[2] if i & 4 else b[2]]
                            for i in range(8)])
        values = corners @ axis
        return float(values.min()), float(values.max())
    centre = float(np.dot(axis, shape.center_lps))
    radius = shape.diameter_mm / 2.0
    if isinstance(shape, SphereROI):
        half = radius
    else:  # cylinder along z: half its length along z plus the radius of its circular section
        half = abs(axis[2]) * shape.length_mm / 2.0 + radius * float(np.hypot(axis[0], axis[1]))
    return centre - half, centre + half


def _index_region(reference: sitk.Image, shape: ShapeROI, clip: bool = False):
    """Half-open index ranges (x, y, z) covering the shape; error if the shape leaves the image, unless
    ``clip``: then (ranges clipped to the image, whether the shape reached past its edge)."""
    direction = np.asarray(reference.GetDirection(), float).reshape(3, 3)
    origin = np.asarray(reference.GetOrigin(), float)
    spacing = np.asarray(reference.GetSpacing(), float)
    size = np.array(reference.GetSize())
    low, high = np.empty(3), np.empty(3)
    for a in range(3):
        axis = direction[:, a]  # continuous index a = axis . (p - origin) / spacing[a]
        smallest, largest = _support(shape, axis)
        low[a] = (smallest - axis @ origin) / spacing[a]
        high[a] = (largest - axis @ origin) / spacing[a]
    # Voxel k covers continuous index [k - 0.5, k + 0.5]; the shape may reach the outer half voxel.
    outside = bool((low < -0.5 - 1e-6).any() or (high > size - 0.5 + 1e-6).any())
    if outside and not clip:
        raise InputError(f"{shape.describe()} extends outside the image "
                         f"(image covers {extent_text(reference)})")
    start = np.clip(np.floor(low).astype(int), 0, size)
    stop = np.clip(np.ceil(high).astype(int) + 1, 0, size)
    region = tuple((int(a), int(b)) for a, b in zip(start, stop))
    return (region, outside) if clip else region


def _voxel_centres(reference: sitk.Image, region: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Physical (LPS) coordinates of the voxel centres in ``region``, shaped (z, y, x, 3)."""
    (x0, x1), (y0, y1), (z0, z1) = region
    k, j, i = np.meshgrid(np.arange(z0, z1), np.arange(y0, y1), np.arange(x0, x1), indexing="ij")
    index = np.stack([i, j, k], axis=-1).astype(float)
    direction = np.asarray(reference.GetDirection(), float).reshape(3, 3)
    spacing = np.asarray(reference.GetSpacing(), float)
    origin = np.asarray(reference.GetOrigin(), float)
    return origin + (index * spacing) @ direction.T


def _inside(shape: ShapeROI, points: np.ndarray) -> np.ndarray:
    if isinstance(shape, BoxROI):
        low = np.minimum(shape.corner_a_lps, shape.corner_b_lps)
        high = np.maximum(shape.corner_a_lps, shape.corner_b_lps)
        return np.all((points >= low - 1e-6) & (points <= high + 1e-6), axis=-1)
    offset = points - np.asarray(shape.center_lps, float)
    radius = shape.diameter_mm / 2.0
    if isinstance(shape, SphereROI):
        return np.einsum("...i,...i->...", offset, offset) <= radius ** 2 + 1e-9
    radial = offset[..., 0] ** 2 + offset[..., 1] ** 2 <= radius ** 2 + 1e-9
    return radial & (np.abs(offset[..., 2]) <= shape.length_mm / 2.0 + 1e-9)


def extent_text(image: sitk.Image) -> str:
    """The physical box of the voxel centres, "[x0, x1] x [y0, y1] x [z0, z1] mm LPS"."""
    size = image.GetSize()
    corners = [image.TransformIndexToPhysicalPoint(tuple(0 if not (i >> a) & 1 else size[a] - 1 for a in range(3)))
               for i in range(8)]
    low, high = np.min(corners, axis=0), np.max(corners, axis=0)
    return " x ".join(f"[{a:.1f}, {b:.1f}]" for a, b in zip(low, high)) + " mm LPS"


def _fmt(values: Sequence[float]) -> str:
    return " x ".join(f"{v:g}" for v in values)
