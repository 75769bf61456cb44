"""Threshold calibration on the phantom: the thresholds that reproduce the sphere volumes.

For each sphere of at least 17 mm (smaller ones are dominated by partial volume; EANM/EARL practice) the
percent-of-max threshold that gives the sphere's true volume 4/3 pi r^3 is read off the voxels of a wide
(15 %) ``segment`` and checked with a ``segment`` call at that percent (``pet-percent-max`` in the sphere's
VOI, the same code path as every segment; its volume error is reported). Then:

- percent of max: the mean over those spheres, with its standard error;
- ``pet-contrast``: T = a x mean(>= 70 % max) + b x background (the contrast-oriented form of
  ``segmentation.pet_thresholds``), fitted by least squares to the spheres' volume-reproducing thresholds;
  a and b are ratios, so coefficients fitted in Bq/mL apply to SUV images. Their standard errors come from the
  residual variance (n - 2 degrees of freedom) times (X'X)^-1; the residuals are given per sphere as the
  threshold difference and the volume error that a and b give through ``segment``.

Limitation (stated in every result): the spheres have ~1 mm cold glass walls and no lesion does; the wall
lowers the measured edge, so thresholds calibrated on NEMA spheres overestimate the volume of small lesions
in cold-wall-free tissue (the effect grows as the sphere shrinks; Hofheinz et al. 2010, Berthon et al. 2014).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import SimpleITK as sitk
import yaml

from StandardSegLib.errors import InputError
from StandardSegLib.phantom_analysis.recovery import hottest_voxel, sphere_crop, sphere_voi, true_volume_ml
from StandardSegLib.roi import clipped_shape_mask
from StandardSegLib.protocols.model import thaw
from StandardSegLib.segmentation import segment

if TYPE_CHECKING:
    from StandardSegLib.gate.reference_tissue import ReferenceMeasurement
    from StandardSegLib.gate.verdict import GateVerdict
    from StandardSegLib.phantom_analysis.locate import LocatedSphere
    from StandardSegLib.protocols.model import Protocol

MIN_DIAMETER_MM = 17.0
LESION_PERCENT = 70.0
PERCENT_METHOD = "pet-percent-max"
#: The low threshold whose segment holds every candidate voxel (spheres >= 17 mm recover far above it).
WIDE_PERCENT = 15.0
GLASS_WALL_LIMITATION = (
    "NEMA/IEC spheres have ~1 mm cold glass walls that lesions do not have: thresholds calibrated on them "
    "overestimate the volume of small lesions (the smaller the lesion, the larger the error); use them as a "
    "trial, validated on your own lesion data.")


@dataclass(frozen=True)
class CalibrationResult:
    document: dict[str, Any]
    percent: float
    a: float
    b: float


def calibrate(image: sitk.Image, spheres: Sequence["LocatedSphere"], *, protocol: "Protocol",
              verdict: "GateVerdict", units: str, background: "ReferenceMeasurement") -> CalibrationResult:
    """Percent-of-max and pet-contrast coefficients fitted on the spheres >= 17 mm (see module docstring)."""
    used = [sphere for sphere in spheres if sphere.diameter_mm >= MIN_DIAMETER_MM]
    if len(used) < 3:
        raise InputError(f"phantom calibration: needs at least 3 spheres of >= {MIN_DIAMETER_MM:g} mm, found "
                         f"{len(used)}")

    crops = {sphere.diameter_mm: sphere_crop(image, sphere) for sphere in used}
    seeds = {diameter: hottest_voxel(crop, clipped_shape_mask(crop, sphere_voi(sphere))[0])
             for (diameter, crop), sphere in zip(crops.items(), used)}

    def run(sphere: "LocatedSphere", percent: float) -> Any:
        return segment(crops[sphere.diameter_mm], protocol=protocol, verdict=verdict, method=PERCENT_METHOD,
                       units=units, seeds_lps=[seeds[sphere.diameter_mm]], roi=sphere_voi(sphere),
                       parameters={"percent": percent})

    rows = []
    for sphere in used:
        crop = crops[sphere.diameter_mm]
        wide = run(sphere, WIDE_PERCENT)
        maximum = float(wide.provenance.details["max"])
        percent = 100.0 * _volume_matching_threshold(crop, wide.mask, true_volume_ml(sphere.diameter_mm)) / maximum
        matched = run(sphere, percent).provenance.volume_mm3 / 1000.0
        hot = run(sphere, LESION_PERCENT)
        inside = sitk.GetArrayViewFromImage(hot.mask) > 0
        lesion_mean = float(sitk.GetArrayViewFromImage(crop)[inside].astype(np.float64).mean())
        rows.append({"diameter_mm": sphere.diameter_mm, "percent_of_max": percent, "max": maximum,
                     "threshold": percent / 100.0 * maximum, "lesion_mean_70": lesion_mean,
                     "percent_volume_error_pct": 100.0 * (matched / true_volume_ml(sphere.diameter_mm) - 1.0)})
    percents = np.array([row["percent_of_max"] for row in rows])
    design = np.array([[row["lesion_mean_70"], background.mean] for row in rows])
    target = np.array([row["threshold"] for row in rows])
    (a, b), *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ np.array([a, b])
    dof = len(rows) - 2
    variance = float(residual @ residual / dof) if dof > 0 else math.nan
    covariance = variance * np.linalg.inv(design.T @ design)
    for row, difference, sphere in zip(rows, residual, used):
        percent = 100.0 * (a * row["lesion_mean_70"] + b * background.mean) / row["max"]
        volume = run(sphere, min(max(percent, 0.1), 100.0)).provenance.volume_mm3 / 1000.0
        row.update(contrast_threshold_residual=float(difference),
                   contrast_volume_error_pct=100.0 * (volume / true_volume_ml(sphere.diameter_mm) - 1.0))
    document = {
        "spheres_used_mm": [row["diameter_mm"] for row in rows],
        "percent_of_max": {"value": float(percents.mean()),
                           "standard_error": float(percents.std(ddof=1) / math.sqrt(len(percents))),
                           "sd": float(percents.std(ddof=1))},
        "pet_contrast": {"a": float(a), "b": float(b), "lesion_percent": LESION_PERCENT,
                         "a_standard_error": float(math.sqrt(covariance[0, 0])),
                         "b_standard_error": float(math.sqrt(covariance[1, 1])),
                         "residual_sd": math.sqrt(variance), "degrees_of_freedom": dof,
                         "form": "threshold = a x mean(>= 70 % of max) + b x background"},
        "per_sphere": rows,
        "limitation": GLASS_WALL_LIMITATION,
    }
    return CalibrationResult(document, float(percents.mean()), float(a), float(b))


def _volume_matching_threshold(image: sitk.Image, wide: sitk.Image, target_ml: float) -> float:
    """The threshold whose segment holds the true volume: the value of the k-th hottest voxel of the wide
    (low-threshold) segment, k = true volume / voxel volume. The segment at that threshold is the hot voxels of
    the wide one still connected to the seed; ``calibrate`` runs it and reports its volume error."""
    values = np.sort(sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(wide) > 0].astype(np.float64))[::-1]
    count = int(round(target_ml * 1000.0 / float(np.prod(image.GetSpacing()))))
    if not 0 < count < values.size:
        raise InputError(f"phantom calibration: the {WIDE_PERCENT:g} % segment holds {values.size} voxels, fewer "
                         f"than the sphere's {count}")
    return float(0.5 * (values[count - 1] + values[count]))


def trial_protocol(protocol: "Protocol", calibration: CalibrationResult, *, scan_sha256: str,
                   when: dt.date) -> dict[str, Any]:
    """A copy of ``protocol`` whose pet-contrast coefficients come from this phantom scan, with provenance
    (scan hash, date, fit residuals) in its sources; a new id and a pre-release version mark it as a trial."""
    document = thaw(protocol.document)
    contrast = calibration.document["pet_contrast"]
    stamp = when.strftime("%Y%m%d")
    residuals = ", ".join(f"{row['diameter_mm']:g} mm {row['contrast_volume_error_pct']:+.1f} %"
                          for row in calibration.document["per_sphere"])
    provenance = (f"trial calibration by standardseg phantom on {when.isoformat()}: phantom scan sha256 "
                  f"{scan_sha256}; pet-contrast a = {contrast['a']:.4f} +/- {contrast['a_standard_error']:.4f}, "
                  f"b = {contrast['b']:.4f} +/- {contrast['b_standard_error']:.4f} fitted on the "
                  f"{', '.join(f'{d:g}' for d in calibration.document['spheres_used_mm'])} mm spheres; "
                  f"volume errors with them: {residuals}; {GLASS_WALL_LIMITATION}")
    document["id"] = f"{protocol.id}-trial-{stamp}"
    document["version"] = f"{protocol.version}-trial.{stamp}"
    document["title"] = f"{protocol.title} (trial calibration {when.isoformat()})"
    document["source"] = [*document["source"], provenance]
    segmentation = document["segmentation"]
    segmentation["methods"]["pet-contrast"] = {"a": round(contrast["a"], 6), "b": round(contrast["b"], 6),
                                               "lesion_percent": LESION_PERCENT}
    segmentation["source"] = f"{segmentation['source']}; pet-contrast coefficients: {provenance}"
    return document


def write_protocol(document: Mapping[str, Any], folder: Path) -> Path:
    path = folder / f"{document['id']}.yaml"
    path.write_text("# Trial protocol written by `standardseg phantom`; see its source list for the calibration.\n"
                    + yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True, width=110),
                    encoding="utf-8")
    return path
