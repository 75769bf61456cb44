"""The whole phantom analysis: locate, background, true activity, recovery per sphere, EARL verdicts and the
threshold calibration, as one document whose keys ``standardseg phantom --json`` and phantom.json keep.

The image stays in its own units (Bq/mL for a phantom): no SUV tags are needed or invented. The protocol's
gate is still evaluated and recorded; when it fails only for want of SUV tags (a phantom has no patient) the
segmentation runs under an override whose written reason says so, recorded in the document.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.files import sha256_of
from StandardSegLib.gate.evaluate import evaluate_gate
from StandardSegLib.gate.reference_tissue import ReferenceMeasurement
from StandardSegLib.phantom_analysis.activity import (TrueActivity, check_activity_arguments, fitted_activity,
                                                      given_activity)
from StandardSegLib.phantom_analysis.background import measure_background
from StandardSegLib.phantom_analysis.calibration import CalibrationResult, calibrate, trial_protocol
from StandardSegLib.phantom_analysis.earl import overall_verdicts, protocol_bands, sphere_verdicts
from StandardSegLib.phantom_analysis.locate import FWHM_PER_SIGMA, PhantomLocation, locate_phantom
from StandardSegLib.phantom_analysis.recovery import SphereRecovery, measure_sphere
from StandardSegLib.report.report_json import software_versions

if TYPE_CHECKING:
    from StandardSegLib.imaging.loaded import LoadedImage
    from StandardSegLib.phantom_analysis.locate import LocatedSphere
    from StandardSegLib.protocols.model import Protocol

SCHEMA_ID = "urn:standardseg:schema:phantom:1"
OVERRIDE_OPERATOR = "standardseg phantom"
OVERRIDE_REASON = ("phantom analysis in the image's own units: a phantom has no patient weight or injected dose, "
                   "so the SUV items of the gate do not apply and no SUV tags are invented")


@dataclass(frozen=True)
class ActivityArguments:
    sphere: Optional[float] = None
    background: Optional[float] = None
    ratio: Optional[float] = None


@dataclass(frozen=True)
class PhantomAnalysis:
    document: dict[str, Any]
    image: sitk.Image  # the analysed image (post-filtered when asked)
    location: PhantomLocation
    spheres: tuple[SphereRecovery, ...]
    calibration: CalibrationResult
    trial_protocol: dict[str, Any]


def scan_sha256(loaded: "LoadedImage") -> str:
    """One SHA-256 for the scan: of the ``sha256sum`` listing of its files by name (names only, no folders)."""
    listing = sorted(f"{sha256_of(path)}  {path.name}\n" for path in loaded.source_files)
    return hashlib.sha256("".join(listing).encode("utf-8")).hexdigest()


def analyse_phantom(loaded: "LoadedImage", protocol: "Protocol", *, activity: ActivityArguments = ActivityArguments(),
                    filter_fwhm_mm: Optional[float] = None, today: Optional[dt.date] = None) -> PhantomAnalysis:
    phantom = protocol.document.get("phantom")
    if not phantom:
        raise InputError(f"protocol {protocol.id} describes no phantom (phantom: sphere diameters, bands); use "
                         "pet-nema-iec-phantom or a copy of it")
    check_activity_arguments(activity.sphere, activity.background, activity.ratio)
    if filter_fwhm_mm is not None and not filter_fwhm_mm > 0:
        raise InputError(f"phantom: --filter-fwhm must be > 0 mm, found {filter_fwhm_mm:g}")
    if loaded.record.modality != "PT":
        raise InputError(f"phantom: expected a PET image (Modality PT), found {loaded.record.modality}")
    units = getattr(loaded.record, "units", None) or "raw"
    image = sitk.Cast(loaded.image, sitk.sitkFloat32)
    warnings: list[str] = []
    if units == "raw":
        warnings.append("no Units (0054,1001) in the headers: values are the stored real-world values (for a "
                        "reconstructed PET normally Bq/mL); give activities in the same units")
    if filter_fwhm_mm is not None:
        image = sitk.SmoothingRecursiveGaussian(image, filter_fwhm_mm / FWHM_PER_SIGMA)
    evaluation = evaluate_gate(protocol, loaded)
    verdict = evaluation.verdict
    if not verdict.allows_segmentation:
        verdict = verdict.with_override(OVERRIDE_OPERATOR, OVERRIDE_REASON)
    diameters = [float(d) for d in phantom["sphere_inner_diameters_mm"]]
    location = locate_phantom(image, diameters)
    warnings += location.warnings
    background = measure_background(image, location, diameters)
    warnings += background.warnings
    reference = ReferenceMeasurement("phantom-background", "NEMA NU 2 background ROIs (37 mm, 5 slices)", units,
                                     0, math.nan, background.mean, background.sd, background.mean)
    true = given_activity(activity.sphere, activity.background, activity.ratio, background.mean)
    if true is None:
        true = fitted_activity(image, location.spheres[0].centre_lps, location.spheres[0].diameter_mm,
                               background.mean)
        warnings.append(f"true sphere activity fitted (no --sphere-activity or --sphere-to-background): "
                        f"{true.value:.6g} {units}")
    if activity.background is not None and abs(background.mean / activity.background - 1.0) > 0.1:
        warnings.append(f"measured background {background.mean:.6g} differs from the given "
                        f"{activity.background:.6g} by {100 * (background.mean / activity.background - 1):+.1f} %")
    bands = protocol_bands(phantom, protocol.id)
    order = {d: i for i, d in enumerate(diameters)}
    spheres = tuple(measure_sphere(image, sphere, protocol=protocol, verdict=verdict, units=units,
                                   background=reference) for sphere in location.spheres)
    warnings += [f"{result.diameter_mm:g} mm sphere: {reason}" for result in spheres
                 for reason in result.refusals.values()]
    sphere_documents = [_sphere_document(result, located, true, bands, order[result.diameter_mm])
                        for result, located in zip(spheres, location.spheres)]
    calibration = calibrate(image, location.spheres, protocol=protocol, verdict=verdict, units=units,
                            background=reference)
    contrast = calibration.document["pet_contrast"]
    for name in ("a", "b"):
        if not contrast[f"{name}_standard_error"] < abs(contrast[name]):
            warnings.append(f"calibration: pet-contrast {name} = {contrast[name]:.3g} is not determined by this scan "
                            f"(standard error {contrast[f'{name}_standard_error']:.3g}); do not use the trial "
                            "protocol's coefficients without more data")
    digest = scan_sha256(loaded)
    when = today or dt.date.today()
    trial = trial_protocol(protocol, calibration, scan_sha256=digest, when=when)
    document = {
        "schema": SCHEMA_ID,
        "software": software_versions(),
        "protocol": {"id": protocol.id, "version": protocol.version, "sha256": protocol.content_sha256},
        "scan": {"sha256": digest, "files": len(loaded.source_files), "date": when.isoformat()},
        "units": units,
        "filter_fwhm_mm": filter_fwhm_mm,
        "arguments": {"sphere_activity": activity.sphere, "background_activity": activity.background,
                      "sphere_to_background": activity.ratio},
        "gate": verdict.to_dict(),
        "true_activity": true.to_dict(),
        "background": background.to_dict(),
        "phantom": {"ring_centre_lps": list(location.ring_centre_lps), "ring_radius_mm": location.ring_radius_mm,
                    "plane_normal": list(location.plane_normal), "lung_centre_lps": (
                        list(location.lung_centre_lps) if location.lung_centre_lps else None),
                    "background_estimate": location.background_estimate},
        "spheres": sphere_documents,
        "earl": {"source": phantom.get("source"),
                 "overall": overall_verdicts(sphere_documents, list(bands))},
        "calibration": {**calibration.document, "trial_protocol": {"id": trial["id"], "version": trial["version"]}},
        "warnings": warnings,
    }
    return PhantomAnalysis(document, image, location, spheres, calibration, trial)


def _sphere_document(result: SphereRecovery, located: "LocatedSphere", true: TrueActivity, bands: dict,
                     index: int) -> dict:
    rcs = {"rc_max": result.max / true.value, "rc_peak": result.peak / true.value,
           "rc_a50": result.mean_a50 / true.value}
    document = {"diameter_mm": result.diameter_mm, "centre_lps": list(result.centre_lps),
                "centre_sd_mm": located.centre_sd_mm, "centre_uncertain": located.uncertain,
                "max": result.max, "peak": result.peak, "mean_a50": result.mean_a50, **rcs,
                "methods": {name: {**values, "rc_mean": values["mean"] / true.value}
                            for name, values in result.methods.items()}}
    for version, verdicts in sphere_verdicts(bands, index, rcs).items():
        document[version.lower()] = verdicts
    return document
