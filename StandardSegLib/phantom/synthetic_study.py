"""A synthetic CT + FDG PET study with known truth, for the demo, the tests and software validation.

The patient is analytic (``geometry.default_layout``): soft tissue 40 HU / SUV 1.0, a liver 60 HU / SUV
2.0 (inside the EANM liver QC range 1.3-3.0, design/standards.md §2), lungs -850 HU / SUV 0.3 and the six
NEMA spheres as lesions (120 HU; SUV = contrast ratio x background, NEMA 4:1 by default, EARL 10:1 as an
option, design/standards.md §4). CT and PET share one frame of reference and the same physical extent.

Image formation, kept simple but honest:
- CT: partial-volume sampling (sub-voxels <= 1 mm) plus white Gaussian noise of ``ct_noise_sd_hu``.
- PET: the activity is sampled on a ~1 mm grid, blurred with an isotropic Gaussian scanner PSF of
  ``pet_fwhm_mm`` (sigma = FWHM / (2 sqrt(2 ln 2)) = FWHM / 2.3548), averaged into the PET voxels, then
  multiplied by (1 + ``pet_noise_relative_sd`` x N(0, 1)) and clipped at 0. Real PET noise is spatially
  correlated; white noise is enough for the checks this study serves.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.phantom.geometry import (PhantomLayout, Grid, block_mean, default_layout, label_map,
                                             oversampling_for, sample_volume)
from StandardSegLib.progress import ProgressCallback, report

#: Field of view (x, y, z) in mm covered by both CT and PET.
FIELD_OF_VIEW_MM = (300.0, 300.0, 120.0)
#: FWHM = 2 sqrt(2 ln 2) sigma for a Gaussian.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: F-18 half-life in seconds as written by scanners (design/standards.md §2: 6586-6588 s seen).
F18_HALF_LIFE_S = 6586.2


@dataclass(frozen=True)
class StudyOptions:
    """How to generate the study. The defaults give a clean, protocol-compliant study."""

    contrast_ratio: float = 4.0
    ct_noise_sd_hu: float = 10.0
    ct_pixel_spacing_mm: float = 1.5
    ct_slice_thickness_mm: float = 2.0
    pet_voxel_mm: float = 4.0
    pet_fwhm_mm: float = 6.0
    pet_noise_relative_sd: float = 0.10
    seed: int = 0

    def __post_init__(self) -> None:
        positive = ("contrast_ratio", "ct_pixel_spacing_mm", "ct_slice_thickness_mm", "pet_voxel_mm")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InputError(f"study option '{name}': expected a number > 0, found {value!r}")
        for name in ("ct_noise_sd_hu", "pet_fwhm_mm", "pet_noise_relative_sd"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise InputError(f"study option '{name}': expected a number >= 0, found {value!r}")
        if not (isinstance(self.seed, int) and self.seed >= 0):
            raise InputError(f"study option 'seed': expected an integer >= 0, found {self.seed!r}")


@dataclass(frozen=True)
class PetAcquisition:
    """The FDG acquisition the PET header describes; stored Bq/mL follow from these same numbers."""

    injected_dose_bq: float = 350e6
    patient_weight_kg: float = 75.0
    patient_height_m: float = 1.75
    half_life_s: float = F18_HALF_LIFE_S
    uptake_time_s: float = 3600.0
    series_datetime: dt.datetime = dt.datetime(2024, 1, 15, 10, 30, 0)
    frame_duration_s: float = 180.0

    @property
    def injection_datetime(self) -> dt.datetime:
        return self.series_datetime - dt.timedelta(seconds=self.uptake_time_s)

    @property
    def decayed_dose_bq(self) -> float:
        """Dose decayed to the series start: D * 2^(-dt / T1/2) (DecayCorrection START)."""
        return self.injected_dose_bq * 2.0 ** (-self.uptake_time_s / self.half_life_s)

    @property
    def bqml_per_suv(self) -> float:
        """Activity concentration of SUVbw 1: decayed dose / body weight in g (tissue density 1 g/mL)."""
        return self.decayed_dose_bq / (self.patient_weight_kg * 1000.0)


@dataclass(frozen=True)
class SphereTruth:
    """One lesion: analytic and voxelised volumes on both grids, and its true values."""

    sphere_id: int
    diameter_mm: float
    centre_lps_mm: tuple[float, float, float]
    volume_mm3: float
    ct_voxel_count: int
    ct_voxel_volume_mm3: float
    pet_voxel_count: int
    pet_voxel_volume_mm3: float
    suv: float
    hu: float


@dataclass(frozen=True)
class StudyTruth:
    """Everything known by construction, serialisable as ``truth.json``."""

    spheres: tuple[SphereTruth, ...]
    liver_centre_lps_mm: tuple[float, float, float]
    liver_semi_axes_mm: tuple[float, float, float]
    liver_reference_centre_lps_mm: tuple[float, float, float]
    liver_reference_diameter_mm: float
    ct_hu: dict[str, float]
    pet_suv: dict[str, float]
    pet_acquisition: PetAcquisition
    options: StudyOptions
    ct_grid: Grid
    pet_grid: Grid
    generator: str = field(default="StandardSegLib.phantom.synthetic_study")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (datetimes as ISO 8601, derived acquisition numbers included)."""
        data = asdict(self)
        acquisition = self.pet_acquisition
        data["pet_acquisition"] = {
            **data["pet_acquisition"],
            "series_datetime": acquisition.series_datetime.isoformat(),
            "injection_datetime": acquisition.injection_datetime.isoformat(),
            "decayed_dose_bq": acquisition.decayed_dose_bq,
            "bqml_per_suv": acquisition.bqml_per_suv,
        }
        return data


@dataclass(frozen=True)
class SyntheticStudy:
    """The generated images (SimpleITK, LPS) and their truth."""

    ct_hu: sitk.Image
    pet_suv: sitk.Image
    pet_bqml: sitk.Image
    lesion_labels_ct: sitk.Image
    lesion_labels_pet: sitk.Image
    truth: StudyTruth
    layout: PhantomLayout


def tissue_values(options: StudyOptions) -> tuple[dict[str, float], dict[str, float]]:
    """(CT HU, PET SUVbw) per tissue. Lesion SUV = contrast ratio x background SUV 1.0."""
    ct_hu = {"air": -1000.0, "background": 40.0, "liver": 60.0, "lung": -850.0, "lesion": 120.0}
    pet_suv = {"air": 0.0, "background": 1.0, "liver": 2.0, "lung": 0.3, "lesion": options.contrast_ratio * 1.0}
    return ct_hu, pet_suv


def generate_study(options: StudyOptions = StudyOptions(), acquisition: PetAcquisition = PetAcquisition(),
                   progress: Optional[ProgressCallback] = None) -> SyntheticStudy:
    """Generate CT (HU), PET (SUVbw and Bq/mL) and lesion label maps; deterministic for a given seed."""
    layout = default_layout()
    ct_hu, pet_suv = tissue_values(options)
    rng = np.random.default_rng(options.seed)
    ct_grid = Grid.centred(FIELD_OF_VIEW_MM, (options.ct_pixel_spacing_mm, options.ct_pixel_spacing_mm,
                                              options.ct_slice_thickness_mm))
    pet_grid = Grid.centred(FIELD_OF_VIEW_MM, (options.pet_voxel_mm,) * 3)

    report(progress, 0.0, "CT: sampling anatomy")
    ct = sample_volume(ct_grid, layout, ct_hu, oversampling_for(ct_grid))
    ct += rng.normal(0.0, options.ct_noise_sd_hu, ct.shape) if options.ct_noise_sd_hu > 0 else 0.0
    report(progress, 0.4, "PET: sampling activity and scanner blur")
    suv = _pet_suv(pet_grid, layout, pet_suv, options.pet_fwhm_mm)
    if options.pet_noise_relative_sd > 0:
        suv = np.clip(suv * (1.0 + options.pet_noise_relative_sd * rng.standard_normal(suv.shape)), 0.0, None)
    report(progress, 0.9, "lesion label maps")
    labels_ct = label_map(ct_grid, layout.spheres)
    labels_pet = label_map(pet_grid, layout.spheres)
    truth = _truth(layout, ct_grid, pet_grid, labels_ct, labels_pet, ct_hu, pet_suv, acquisition, options)
    report(progress, 1.0, "study generated")
    return SyntheticStudy(
        ct_hu=ct_grid.image_from_array(ct.astype(np.float32)),
        pet_suv=pet_grid.image_from_array(suv.astype(np.float32)),
        pet_bqml=pet_grid.image_from_array((suv * acquisition.bqml_per_suv).astype(np.float32)),
        lesion_labels_ct=ct_grid.image_from_array(labels_ct),
        lesion_labels_pet=pet_grid.image_from_array(labels_pet),
        truth=truth,
        layout=layout,
    )


def _pet_suv(grid: Grid, layout: PhantomLayout, pet_suv: dict[str, float], fwhm_mm: float) -> np.ndarray:
    """Noise-free PET: activity on a ~1 mm grid, Gaussian PSF, averaged into PET voxels."""
    factors = oversampling_for(grid)
    fine_grid = grid.refined(factors)
    fine = sample_volume(fine_grid, layout, pet_suv).astype(np.float32)
    if fwhm_mm > 0:
        blurred = sitk.SmoothingRecursiveGaussian(fine_grid.image_from_array(fine), fwhm_mm / FWHM_PER_SIGMA)
        fine = sitk.GetArrayFromImage(blurred)
    return block_mean(fine.astype(np.float64), factors)


def _truth(layout: PhantomLayout, ct_grid: Grid, pet_grid: Grid, labels_ct: np.ndarray, labels_pet: np.ndarray,
           ct_hu: dict[str, float], pet_suv: dict[str, float], acquisition: PetAcquisition,
           options: StudyOptions) -> StudyTruth:
    ct_voxel_mm3 = float(np.prod(ct_grid.spacing_mm))
    pet_voxel_mm3 = float(np.prod(pet_grid.spacing_mm))
    ct_counts = np.bincount(labels_ct.ravel(), minlength=len(layout.spheres) + 1)
    pet_counts = np.bincount(labels_pet.ravel(), minlength=len(layout.spheres) + 1)
    spheres = tuple(
        SphereTruth(sphere_id=s.sphere_id, diameter_mm=s.diameter_mm, centre_lps_mm=s.centre_lps_mm,
                    volume_mm3=s.volume_mm3,
                    ct_voxel_count=int(ct_counts[s.sphere_id]),
                    ct_voxel_volume_mm3=int(ct_counts[s.sphere_id]) * ct_voxel_mm3,
                    pet_voxel_count=int(pet_counts[s.sphere_id]),
                    pet_voxel_volume_mm3=int(pet_counts[s.sphere_id]) * pet_voxel_mm3,
                    suv=pet_suv["lesion"], hu=ct_hu["lesion"])
        for s in layout.spheres)
    return StudyTruth(
        spheres=spheres,
        liver_centre_lps_mm=layout.liver.centre_lps_mm,
        liver_semi_axes_mm=layout.liver.semi_axes_mm,
        liver_reference_centre_lps_mm=layout.liver_reference.centre_lps_mm,
        liver_reference_diameter_mm=layout.liver_reference.diameter_mm,
        ct_hu=ct_hu, pet_suv=pet_suv, pet_acquisition=acquisition, options=options,
        ct_grid=ct_grid, pet_grid=pet_grid,
    )
