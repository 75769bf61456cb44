"""Background of the IEC phantom in the style of NEMA NU 2 (image quality test): twelve 37 mm circular ROIs
in the uniform background of the sphere slice, copied to the slices 10 and 20 mm above and below, with
concentric ROIs of every sphere diameter; and the lung-insert residual.

- ``mean``: the mean of the 37 mm ROI means (C_B in NEMA NU 2).
- ``sd`` / ``cov``: the voxel standard deviation in those ROIs and sd/mean (the noise EARL limits, and what
  pynemaiqpet reports as background CoV).
- ``nema_variability_pct``: NEMA NU 2's background variability per ROI diameter, SD of the ROI means / C_B.
- ``lung_residual_pct``: mean of a 30 mm circle on the lung insert in the same five slices / C_B (NEMA NU 2
  accuracy of corrections).

ROI placement (NEMA NU 2: no closer than 15 mm to the phantom edge or a sphere; here also the lung insert):
candidate centres on a 4 mm grid of the sphere slice that keep the whole 37 mm ROI 15 mm inside the phantom
and 15 mm from every sphere and the lung insert (50 mm diameter), then twelve spread-out ones (farthest-point
sampling from the candidate nearest the phantom's centre). Fewer than twelve places is a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk

from StandardSegLib.phantom_analysis.locate import PhantomLocation, nearest_slice, voxel_points

ROI_COUNT = 12
ROI_DIAMETER_MM = 37.0
CLEARANCE_MM = 15.0
SLICE_OFFSETS_MM = (-20.0, -10.0, 0.0, 10.0, 20.0)
LUNG_INSERT_DIAMETER_MM = 50.0
LUNG_ROI_DIAMETER_MM = 30.0
GRID_STEP_MM = 4.0


@dataclass(frozen=True)
class BackgroundResult:
    mean: float
    sd: float
    cov: float
    rois: tuple[dict, ...]
    nema_variability_pct: dict[str, float]
    lung_residual_pct: Optional[float]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"mean": self.mean, "sd": self.sd, "cov": self.cov, "rois": list(self.rois),
                "nema_variability_pct": self.nema_variability_pct, "lung_residual_pct": self.lung_residual_pct}


def measure_background(image: sitk.Image, location: PhantomLocation,
                       diameters_mm: Sequence[float]) -> BackgroundResult:
    values = sitk.GetArrayViewFromImage(image)
    centre_slice = nearest_slice(image, location.plane_z_mm)
    rows, columns = values.shape[1:]
    points = voxel_points(image, (slice(centre_slice, centre_slice + 1), slice(0, rows), slice(0, columns)))[0]
    centres, warnings = _roi_centres(image, location, points, centre_slice)
    heights = sorted({nearest_slice(image, location.plane_z_mm + offset) for offset in SLICE_OFFSETS_MM})
    if len(heights) < len(SLICE_OFFSETS_MM):
        warnings.append(f"background ROIs on {len(heights)} distinct slices (the image spans too few for "
                        f"{len(SLICE_OFFSETS_MM)})")
    sizes = sorted({float(d) for d in diameters_mm} | {ROI_DIAMETER_MM}, reverse=True)
    means = {size: [] for size in sizes}
    voxels = []
    rois = []
    for number, centre in enumerate(centres, 1):
        distance = np.hypot(points[..., 0] - centre[0], points[..., 1] - centre[1])
        for z in heights:
            for size in sizes:
                inside = distance <= size / 2.0
                means[size].append(float(values[z][inside].mean()))
                if size == ROI_DIAMETER_MM:
                    voxels.append(values[z][inside])
        rois.append({"number": number, "centre_lps": [float(centre[0]), float(centre[1]), location.plane_z_mm],
                     "diameter_mm": ROI_DIAMETER_MM, "slices": len(heights)})
    mean = float(np.mean(means[ROI_DIAMETER_MM]))
    pooled = np.concatenate(voxels).astype(np.float64)
    sd = float(pooled.std(ddof=1))
    variability = {f"{size:g}": float(100.0 * np.std(means[size], ddof=1) / mean) for size in sizes
                   if len(means[size]) > 1}
    lung = None
    if location.lung_centre_lps is not None:
        distance = np.hypot(points[..., 0] - location.lung_centre_lps[0], points[..., 1] - location.lung_centre_lps[1])
        inside = distance <= LUNG_ROI_DIAMETER_MM / 2.0
        lung = float(100.0 * np.mean([values[z][inside].mean() for z in heights]) / mean)
    return BackgroundResult(mean, sd, sd / mean, tuple(rois), variability, lung, tuple(warnings))


def _roi_centres(image: sitk.Image, location: PhantomLocation, points: np.ndarray,
                 centre_slice: int) -> tuple[list[np.ndarray], list[str]]:
    detection = location.smoothed[centre_slice]
    warm = sitk.GetImageFromArray((detection > 0.5 * location.background_estimate).astype(np.uint8))
    warm.SetSpacing(image.GetSpacing()[:2])
    body = sitk.BinaryFillhole(warm)
    depth = -sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(body, insideIsPositive=False,
                                                                  squaredDistance=False, useImageSpacing=True))
    radius = ROI_DIAMETER_MM / 2.0
    keep = depth >= radius + CLEARANCE_MM
    xy = points[..., :2]

    def distance(centre: Sequence[float]) -> np.ndarray:
        return np.hypot(xy[..., 0] - centre[0], xy[..., 1] - centre[1])

    for sphere in location.spheres:
        keep &= distance(sphere.centre_lps) >= sphere.diameter_mm / 2 + radius + CLEARANCE_MM
    if location.lung_centre_lps is not None:
        keep &= distance(location.lung_centre_lps) >= LUNG_INSERT_DIAMETER_MM / 2 + radius + CLEARANCE_MM
    step = max(1, int(round(GRID_STEP_MM / image.GetSpacing()[0])))
    grid = np.zeros_like(keep)
    grid[::step, ::step] = True
    candidates = xy[keep & grid]
    warnings = []
    if len(candidates) == 0:
        return [np.asarray(location.ring_centre_lps[:2])], [
            "no place for a 37 mm background ROI 15 mm from the phantom edge, spheres and lung insert: one ROI "
            "at the sphere-ring centre"]
    chosen = [int(np.argmin(np.hypot(*(candidates - location.ring_centre_lps[:2]).T)))]
    nearest = np.hypot(*(candidates - candidates[chosen[0]]).T)
    while len(chosen) < min(ROI_COUNT, len(candidates)):
        chosen.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, np.hypot(*(candidates - candidates[chosen[-1]]).T))
    if len(chosen) < ROI_COUNT:
        warnings.append(f"only {len(chosen)} background ROI places (NEMA NU 2 asks for {ROI_COUNT})")
    return [candidates[index] for index in chosen], warnings
