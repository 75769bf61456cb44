"""Statistics of an image inside one label of a mask: volume, intensity distribution and SUVpeak.

Definitions (stated because tools differ):
- volume = voxel count x voxel volume (IBSI "volume (voxel counting)");
- ``sd`` is the population standard deviation (ddof = 0), as IBSI defines intensity variance;
- percentiles and the median use linear interpolation between order statistics (numpy's default,
  Hyndman & Fan type 7), all from one ``np.percentile`` call;
- NaN or infinity in the label (or within reach of its SUVpeak spheres) is refused: statistics of such
  values are not numbers;
- ``peak`` (SUVpeak, PERCIST 1.0 / QIBA): the highest mean over a 1 mL sphere, diameter
  2 (3000 / 4 pi)^(1/3) = 12.407 mm. The sphere is centred on each voxel of the label; its mean is over
  *all* image voxels (lesion or not) whose centres lie within the sphere and inside the image. The
  largest mean wins (ties within ``PEAK_TIE_TOLERANCE``: the first voxel in z, y, x order);
  ``peak_center_lps`` is that voxel's centre. Sums over the sphere come from an FFT convolution
  restricted to the label's bounding box plus the sphere radius.

Work is done on the label's bounding box, so a small lesion in a large image costs one pass over the
mask plus work proportional to the lesion.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.imaging import require_finite

#: Radius of a 1 mL sphere in mm: (3 x 1000 mm^3 / (4 pi))^(1/3) = 6.2035 mm.
PEAK_SPHERE_RADIUS_MM = (3.0 * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)
#: Grids match when spacing and origin agree to this fraction of the spacing (direction: absolute).
GRID_TOLERANCE = 1e-3
PERCENTILES = (5.0, 25.0, 50.0, 75.0, 95.0)
#: Sphere means closer than this (relative) count as equal when choosing the SUVpeak location.
PEAK_TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RegionStatistics:
    """Statistics of one label; intensities in ``units``; ``peak`` only when requested (PET SUV)."""

    label: int
    units: str
    voxel_count: int
    volume_mm3: float
    volume_ml: float
    min: float
    max: float
    mean: float
    median: float
    sd: float
    p5: float
    p25: float
    p75: float
    p95: float
    peak: Optional[float] = None
    peak_center_lps: Optional[tuple[float, float, float]] = None

    def to_dict(self) -> dict:
        return asdict(self)


def region_statistics(image: sitk.Image, mask: sitk.Image, label: int = 1, units: str = "raw",
                      with_peak: bool = False, *, mask_name: str = "the mask") -> RegionStatistics:
    """Statistics of ``image`` where ``mask == label``; the mask must be on the image grid (see
    :func:`align_mask`). ``mask_name`` (e.g. the file) appears in errors."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"image has {image.GetNumberOfComponentsPerPixel()} components per voxel, expected a "
                         "scalar image")
    if not _same_grid(mask, image):
        raise InputError(f"{mask_name} is not on the image grid ({_describe_grid(mask)} vs "
                         f"{_describe_grid(image)}); align it first")
    if with_peak and image.GetDimension() != 3:
        raise InputError(f"SUVpeak needs a 3D image, got {image.GetDimension()}D")
    image_array = sitk.GetArrayViewFromImage(image)
    in_label = sitk.GetArrayViewFromImage(mask) == label
    box = _bounding_box(in_label)
    if box is None:
        raise InputError(f"mask label {label} has no voxels in {mask_name}")
    inside = in_label[box]
    require_finite(image_array[box], f"image inside {mask_name} (label {label})", selection=inside,
                   offset_zyx=tuple(b.start for b in box), image=image)
    values = image_array[box][inside].astype(np.float64, copy=False)
    voxel_mm3 = float(np.prod(image.GetSpacing()))
    p5, p25, median, p75, p95 = (float(value) for value in np.percentile(values, PERCENTILES))
    peak = center = None
    if with_peak:
        peak, center = _peak(image, image_array, in_label, box)
    count = int(values.size)
    return RegionStatistics(
        label=label, units=units, voxel_count=count, volume_mm3=count * voxel_mm3,
        volume_ml=count * voxel_mm3 / 1000.0, min=float(values.min()), max=float(values.max()),
        mean=float(values.mean()), median=median, sd=float(values.std()), p5=p5, p25=p25, p75=p75, p95=p95,
        peak=peak, peak_center_lps=center)


def align_mask(mask: sitk.Image, image: sitk.Image, mask_name: str = "mask") -> tuple[sitk.Image, list[str]]:
    """The mask on the image grid, and warnings (``mask_name``, e.g. the file name, appears in both).

    Same grid (within ``GRID_TOLERANCE``): returned as is. Another grid covering part of the image:
    resampled nearest-neighbour (labels stay labels) with a warning. No physical overlap: ``InputError``.
    """
    if mask.GetDimension() != image.GetDimension():
        raise InputError(f"{mask_name} is {mask.GetDimension()}D but the image is {image.GetDimension()}D")
    if _same_grid(mask, image):
        return mask, []
    if not _overlaps(mask, image):
        raise InputError(f"{mask_name} and the image do not overlap in space: mask grid {_describe_grid(mask)}, "
                         f"image grid {_describe_grid(image)}")
    resampled = sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())
    return resampled, [f"{mask_name} grid ({_describe_grid(mask)}) differs from the image grid "
                       f"({_describe_grid(image)}); mask resampled nearest-neighbour onto the image grid"]


def _same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    if a.GetDimension() != b.GetDimension() or a.GetSize() != b.GetSize():
        return False
    spacing = np.asarray(b.GetSpacing())
    tolerance = GRID_TOLERANCE * spacing.min()
    return (np.allclose(a.GetSpacing(), spacing, rtol=GRID_TOLERANCE, atol=0)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=tolerance)
            and np.allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=GRID_TOLERANCE))


def _overlaps(mask: sitk.Image, image: sitk.Image) -> bool:
    """Does the mask's voxel-extent box intersect the image's, in the image's index space?"""
    dimension = mask.GetDimension()
    corners = []
    for bits in range(2 ** dimension):
        index = [(-0.5 if bits >> axis & 1 == 0 else size - 0.5) for axis, size in enumerate(mask.GetSize())]
        point = mask.TransformContinuousIndexToPhysicalPoint(index)
        corners.append(image.TransformPhysicalPointToContinuousIndex(point))
    low, high = np.min(corners, axis=0), np.max(corners, axis=0)
    size = np.asarray(image.GetSize())
    return bool(np.all(high > -0.5) and np.all(low < size - 0.5))


def _describe_grid(image: sitk.Image) -> str:
    def fmt(values):
        return "(" + ", ".join(f"{value:g}" for value in values) + ")"
    return f"size {fmt(image.GetSize())}, spacing {fmt(image.GetSpacing())} mm, origin {fmt(image.GetOrigin())} mm"


def _bounding_box(in_label: np.ndarray) -> Optional[tuple[slice, ...]]:
    """Bounding box of the True voxels; the first axis is found from per-slice flags, the others inside
    that slab only, so the full array is reduced once."""
    slab_flags = in_label.reshape(in_label.shape[0], -1).any(axis=1)
    slab = np.flatnonzero(slab_flags)
    if slab.size == 0:
        return None
    box = [slice(int(slab[0]), int(slab[-1]) + 1)]
    sub = in_label[box[0]]
    for axis in range(1, in_label.ndim):
        other_axes = tuple(a for a in range(in_label.ndim) if a != axis)
        hits = np.flatnonzero(sub.any(axis=other_axes))
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


def _sphere_kernel(spacing_zyx: np.ndarray, radius_mm: float) -> np.ndarray:
    """Voxel offsets whose centre-to-centre distance is within ``radius_mm`` (a boolean ball)."""
    reach = np.floor(radius_mm / spacing_zyx + 1e-9).astype(int)
    axes = [np.arange(-r, r + 1) * s for r, s in zip(reach, spacing_zyx)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    return z * z + y * y + x * x <= radius_mm * radius_mm * (1 + 1e-9)


def _peak(image: sitk.Image, image_array: np.ndarray, in_label: np.ndarray,
          box: tuple[slice, ...]) -> tuple[float, tuple[float, float, float]]:
    kernel = _sphere_kernel(np.asarray(image.GetSpacing()[::-1]), PEAK_SPHERE_RADIUS_MM)
    reach = [n // 2 for n in kernel.shape]
    region = tuple(slice(max(b.start - r, 0), min(b.stop + r, n))
                   for b, r, n in zip(box, reach, image_array.shape))
    values = image_array[region].astype(np.float64)
    require_finite(values, "image around the label (SUVpeak spheres)", offset_zyx=tuple(r.start for r in region),
                   image=image)
    sums = _convolve_same(values, kernel)
    counts = np.rint(_convolve_same(np.ones_like(values), kernel))
    means = sums / counts
    lesion = in_label[region]
    candidates = np.where(lesion, means, -np.inf)
    peak = float(candidates.max())
    # FFT round-off (~1e-12) must not decide between spheres with equal means: ties go to the first voxel.
    flat = int(np.argmax(candidates >= peak - PEAK_TIE_TOLERANCE * abs(peak)))
    local = np.unravel_index(flat, candidates.shape)
    index_zyx = [int(i + r.start) for i, r in zip(local, region)]
    center = image.TransformIndexToPhysicalPoint(index_zyx[::-1])
    return peak, tuple(float(c) for c in center)


def _convolve_same(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Linear (zero-padded) convolution by FFT, cropped to the input's shape (centred kernel)."""
    full_shape = [v + k - 1 for v, k in zip(values.shape, kernel.shape)]
    fft_shape = [_fast_length(n) for n in full_shape]
    axes = tuple(range(values.ndim))
    product = np.fft.rfftn(values, fft_shape, axes) * np.fft.rfftn(kernel.astype(np.float64), fft_shape, axes)
    full = np.fft.irfftn(product, fft_shape, axes)
    start = [k // 2 for k in kernel.shape]
    return full[tuple(slice(s, s + n) for s, n in zip(start, values.shape))]


def _fast_length(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n: lengths numpy's FFT handles quickly."""
    best = 2 * n
    power2 = 1
    while power2 < best:
        power3 = power2
        while power3 < best:
            power5 = power3
            while power5 < n:
                power5 *= 5
            best = min(best, power5)
            power3 *= 3
        power2 *= 2
    return best
