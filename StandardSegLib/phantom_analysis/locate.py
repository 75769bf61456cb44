"""Find the IEC body phantom in a PET image: background level, the six hot spheres and the lung insert.

Nothing is assumed about where the phantom lies, how it is turned about the scanner axis or how thick the
slices are: every step works in millimetres on the image's own geometry.

1. Background: the mode of the histogram of voxels above 1 % of the maximum (the uniform background is by
   far the most common warm value; the same estimate as pynemaiqpet's ``find_background_roi``).
2. Spheres: the image smoothed with a 4 mm FWHM Gaussian is thresholded at background + 15 % of (max - background)
   (pynemaiqpet: 25 %); the six largest connected hot regions, largest first, are the spheres in the
   protocol's diameter order (largest first). Fewer than six is a one-line error naming what was found.
3. Centres: the activity-weighted centroid of (smoothed value - background) inside a sphere of the nominal
   radius + 6 mm around the coarse centre, iterated; its standard error follows from the background noise
   (``centre_sd_mm``; voxels taken as independent, so a lower bound: reconstructed noise is correlated).
   The IEC phantom's spheres lie in one transverse plane on one circle (57.2 mm radius): the distance of each
   centre from the best plane and circle through all six is the geometric check. A centre is ``uncertain``
   when its standard error exceeds 1 mm or it lies more than 2 mm off that plane or circle; beyond 8 mm, or a
   circle radius more than 6 mm from 57.2 mm, the image is refused as not an IEC phantom.
4. Lung insert: the largest cold (< 50 % background) region enclosed by the phantom in the sphere plane.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.phantom.geometry import IEC_SPHERE_RING_RADIUS_MM

Point = tuple[float, float, float]
#: Relative threshold over background for the hot regions (pynemaiqpet uses 0.25; 0.15 keeps the 10 mm sphere
#: of a blurry 7 mm FWHM scan, whose smoothed peak is ~0.3 of the contrast, while 4 mm smoothed noise stays below).
RELATIVE_THRESHOLD = 0.15
#: Detection and centroid weights: the image smoothed with a 4 mm FWHM Gaussian (pynemaiqpet's centroid).
SMOOTHING_FWHM_MM = 4.0
CENTROID_MARGIN_MM = 6.0
UNCERTAIN_SD_MM = 1.0
UNCERTAIN_OFFSET_MM = 2.0
#: Beyond these the hot regions are not an IEC sphere set (a patient, another phantom): refused, not analysed.
REFUSAL_OFFSET_MM = 8.0
REFUSAL_RING_RADIUS_MM = 6.0
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass(frozen=True)
class LocatedSphere:
    diameter_mm: float
    centre_lps: Point
    centre_sd_mm: float  # standard error of the fitted centre from the background noise
    plane_offset_mm: float  # distance from the best plane through all centres
    ring_offset_mm: float  # distance from the best circle in that plane
    uncertain: bool

    def to_dict(self) -> dict:
        return {"diameter_mm": self.diameter_mm, "centre_lps": list(self.centre_lps),
                "centre_sd_mm": self.centre_sd_mm, "plane_offset_mm": self.plane_offset_mm,
                "ring_offset_mm": self.ring_offset_mm, "uncertain": self.uncertain}


@dataclass(frozen=True)
class PhantomLocation:
    background_estimate: float
    spheres: tuple[LocatedSphere, ...]
    ring_centre_lps: Point
    ring_radius_mm: float
    plane_normal: Point
    lung_centre_lps: Optional[Point]
    warnings: tuple[str, ...]
    #: The image smoothed with SMOOTHING_FWHM_MM, array [z, y, x] (reused for the background ROI placement).
    smoothed: Optional[np.ndarray] = field(repr=False, compare=False, default=None)

    @property
    def plane_z_mm(self) -> float:
        return float(np.mean([sphere.centre_lps[2] for sphere in self.spheres]))


def voxel_points(image: sitk.Image, box: Optional[tuple[slice, slice, slice]] = None) -> np.ndarray:
    """LPS centre of every voxel (of the array ``box`` [z, y, x], default all) as an array [z, y, x, 3]."""
    box = box or tuple(slice(0, n) for n in image.GetSize()[::-1])
    ranges = [np.arange(part.start, part.stop, dtype=np.float64) for part in box]
    k, j, i = np.meshgrid(*ranges, indexing="ij")
    matrix = np.asarray(image.GetDirection()).reshape(3, 3) * np.asarray(image.GetSpacing())
    return np.stack([i, j, k], axis=-1) @ matrix.T + np.asarray(image.GetOrigin())


def smoothed(image: sitk.Image, fwhm_mm: float) -> np.ndarray:
    """Array [z, y, x] of ``image`` smoothed by a Gaussian of ``fwhm_mm`` (recursive Gaussian, mm)."""
    return sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.Cast(image, sitk.sitkFloat32),
                                                                  fwhm_mm / FWHM_PER_SIGMA))


def box_around(image: sitk.Image, centre: Sequence[float], radius_mm: float) -> tuple[slice, slice, slice]:
    """Array slices [z, y, x] of the voxels within ``radius_mm`` (per axis) of ``centre`` (LPS), clipped."""
    index = np.asarray(image.TransformPhysicalPointToContinuousIndex([float(v) for v in centre]))
    reach = radius_mm / np.asarray(image.GetSpacing()) + 1.0
    low = np.clip(np.floor(index - reach), 0, None).astype(int)
    high = np.minimum(np.ceil(index + reach).astype(int) + 1, image.GetSize())
    return tuple(slice(int(a), int(b)) for a, b in zip(low[::-1], high[::-1]))


def nearest_slice(image: sitk.Image, z_mm: float) -> int:
    """Array z index of the transverse slice nearest the LPS height ``z_mm`` (the phantom axis is z)."""
    heights = [image.TransformIndexToPhysicalPoint((0, 0, k))[2] for k in range(image.GetSize()[2])]
    return int(np.argmin(np.abs(np.asarray(heights) - z_mm)))


def background_mode(values: np.ndarray) -> float:
    """The histogram mode (200 bins) of the voxels above 1 % of the maximum."""
    warm = values[values > 0.01 * values.max()]
    counts, edges = np.histogram(warm, 200)
    peak = int(np.argmax(counts))
    return float(0.5 * (edges[peak] + edges[peak + 1]))


def locate_phantom(image: sitk.Image, diameters_mm: Sequence[float]) -> PhantomLocation:
    """Spheres (``diameters_mm``, any order), ring, lung insert and background level of an IEC phantom."""
    values = sitk.GetArrayViewFromImage(image).astype(np.float64)
    if not np.isfinite(values).all() or values.max() <= 0:
        raise InputError("phantom image: expected finite activity concentrations with a positive maximum")
    background = background_mode(values)
    detection = smoothed(image, SMOOTHING_FWHM_MM)
    ordered = sorted((float(d) for d in diameters_mm), reverse=True)
    coarse = _hot_regions(image, detection, background, len(ordered))
    weights = detection - background
    noise = float(np.std(weights[np.abs(weights) < 0.5 * background]))  # background voxels only
    centres, errors = [], []
    for diameter, start in zip(ordered, coarse):
        radius = diameter / 2.0 + CENTROID_MARGIN_MM
        box = box_around(image, start, 2.0 * radius)
        centre, error = _centroid(voxel_points(image, box), weights[box], np.asarray(start), radius, noise)
        centres.append(centre)
        errors.append(error)
    centres_array = np.array(centres)
    normal, ring_centre, ring_radius, plane_offsets, ring_offsets = _plane_and_ring(centres_array)
    _check_iec_geometry(ordered, ring_radius, plane_offsets, ring_offsets)
    spheres, warnings = [], []
    for diameter, centre, error, plane, ring in zip(ordered, centres, errors, plane_offsets, ring_offsets):
        uncertain = error > UNCERTAIN_SD_MM or plane > UNCERTAIN_OFFSET_MM or ring > UNCERTAIN_OFFSET_MM
        if uncertain:
            warnings.append(f"{diameter:g} mm sphere: centre uncertain (standard error {error:.1f} mm, "
                            f"{plane:.1f} mm off the sphere plane, {ring:.1f} mm off the sphere ring)")
        spheres.append(LocatedSphere(diameter, tuple(float(v) for v in centre), error, float(plane), float(ring),
                                     bool(uncertain)))
    lung = _lung_centre(image, detection, background, ring_centre)
    if lung is None:
        warnings.append("lung insert not found in the sphere plane (no cold region enclosed by the phantom)")
    return PhantomLocation(background, tuple(spheres), tuple(float(v) for v in ring_centre), ring_radius,
                           tuple(float(v) for v in normal), lung, tuple(warnings), detection)


def _hot_regions(image: sitk.Image, detection: np.ndarray, background: float, count: int) -> list[np.ndarray]:
    """Voxel-index centroids (LPS) of the ``count`` largest hot connected regions, largest first."""
    threshold = background + RELATIVE_THRESHOLD * (detection.max() - background)
    hot = sitk.GetImageFromArray((detection > threshold).astype(np.uint8))
    hot.CopyInformation(image)
    labels = sitk.RelabelComponent(sitk.ConnectedComponent(hot), sortByObjectSize=True)
    shapes = sitk.LabelShapeStatisticsImageFilter()
    shapes.Execute(labels)
    found = shapes.GetNumberOfLabels()
    if found < count:
        raise InputError(f"phantom image: found {found} hot region(s) above background + "
                         f"{RELATIVE_THRESHOLD:.0%} of (max - background), expected {count} spheres")
    return [np.asarray(shapes.GetCentroid(label)) for label in range(1, count + 1)]


def _centroid(points: np.ndarray, weights: np.ndarray, start: np.ndarray, radius: float,
              noise: float) -> tuple[np.ndarray, float]:
    """Activity-weighted centroid within ``radius`` of the current centre (3 rounds) and its standard error
    (each weight carries the background noise: var(c) = sum((x - c)^2) noise^2 / (sum w)^2)."""
    centre = start
    for _ in range(3):
        inside = np.sum((points - centre) ** 2, axis=-1) <= radius ** 2
        w = np.clip(weights[inside], 0.0, None)
        near = points[inside]
        centre = (near * w[:, None]).sum(axis=0) / w.sum()
    spread = np.sum((near - centre) ** 2, axis=-1).sum()
    return centre, float(np.sqrt(spread) * noise / w.sum())


def _plane_and_ring(centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
    """Best plane (SVD) and circle (algebraic Kasa fit in the plane) through the sphere centres."""
    mean = centres.mean(axis=0)
    _, _, axes = np.linalg.svd(centres - mean)
    normal = axes[2] * np.sign(axes[2][2] or 1.0)
    plane_offsets = np.abs((centres - mean) @ normal)
    u, v = (centres - mean) @ axes[0], (centres - mean) @ axes[1]
    design = np.column_stack([2 * u, 2 * v, np.ones_like(u)])
    (cu, cv, c), *_ = np.linalg.lstsq(design, u ** 2 + v ** 2, rcond=None)
    radius = float(np.sqrt(c + cu ** 2 + cv ** 2))
    ring_offsets = np.abs(np.hypot(u - cu, v - cv) - radius)
    return normal, mean + cu * axes[0] + cv * axes[1], radius, plane_offsets, ring_offsets


def _check_iec_geometry(diameters: Sequence[float], ring_radius: float, plane_offsets: np.ndarray,
                        ring_offsets: np.ndarray) -> None:
    worst = int(np.argmax(np.maximum(plane_offsets, ring_offsets)))
    if (max(plane_offsets[worst], ring_offsets[worst]) > REFUSAL_OFFSET_MM
            or abs(ring_radius - IEC_SPHERE_RING_RADIUS_MM) > REFUSAL_RING_RADIUS_MM):
        raise InputError(
            f"phantom image: the {len(diameters)} hottest regions are not an IEC sphere set (expected one plane and "
            f"one circle of radius {IEC_SPHERE_RING_RADIUS_MM:g} mm; found radius {ring_radius:.1f} mm, the "
            f"{diameters[worst]:g} mm candidate {plane_offsets[worst]:.1f} mm off the plane and "
            f"{ring_offsets[worst]:.1f} mm off the circle)")


def _lung_centre(image: sitk.Image, detection: np.ndarray, background: float,
                 ring_centre: np.ndarray) -> Optional[Point]:
    """Centre of the largest cold region enclosed by the phantom in the slice nearest the sphere plane."""
    z = nearest_slice(image, ring_centre[2])
    rows, columns = image.GetSize()[1], image.GetSize()[0]
    points = voxel_points(image, (slice(z, z + 1), slice(0, rows), slice(0, columns)))[0]
    warm = sitk.GetImageFromArray((detection[z] > 0.5 * background).astype(np.uint8))
    cold = sitk.And(sitk.BinaryFillhole(warm), sitk.Not(warm))
    labels = sitk.RelabelComponent(sitk.ConnectedComponent(cold), sortByObjectSize=True)
    array = sitk.GetArrayViewFromImage(labels)
    if not (array == 1).any():
        return None
    centre = points[array == 1].mean(axis=0)
    return tuple(float(v) for v in centre)
