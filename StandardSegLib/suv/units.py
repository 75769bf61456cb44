"""What the rescaled voxel values of a PET series are, from Units (0054,1001) and SUVType (0054,1006).

Either an activity concentration (Bq/mL, after a per-slice factor) that still needs dose and decay, or an
SUV of some normalisation already. Rules of the SUV manual (Vácha et al., "Voxel values and their unit"):

- BQML: activity concentration.
- GML: SUV normalised by SUVType (empty = BW; LBM, LBMJAMES128, LBMJANMA, IBW). GML with SUVType BSA is
  contradictory (BSA gives cm2/mL).
- CM2ML: SUVbsa (SUVType BSA or empty; any other SUVType is contradictory).
- CNTS (Philips): value x SUV Scale Factor (7053,1000) = SUVbw, preferred because it is the direct route the
  manual gives first and needs no dose or time tags; else value x Activity Concentration Scale Factor
  (7053,1009) = Bq/mL. Private creator "Philips PET Private Group". A factor of 0.0 means "cannot be
  converted" (Philips conformance statement). With neither factor the series is refused.
- CPS: dose-calibrated (CorrectedImage has DCAL): Bq/mL = value / voxel volume (mL); otherwise
  value x DoseCalibrationFactor (0054,1322) / voxel volume; voxel volume from PixelSpacing and
  SliceThickness. CPS often means uncorrected data, so ATTN and NORM must be in CorrectedImage.
- PROPCNTS, PROPCPS, 1CM and anything else: no defined conversion, refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pydicom

from StandardSegLib.errors import SUVError
from StandardSegLib.suv import tags

PHILIPS_CREATOR = "Philips PET Private Group"
PHILIPS_SUV_FACTOR_OFFSET = 0x00        # (7053,1000) SUV Scale Factor
PHILIPS_ACTIVITY_FACTOR_OFFSET = 0x09   # (7053,1009) Activity Concentration Scale Factor

UNDEFINED_UNITS = {
    "PROPCNTS": "proportional to counts, no defined conversion",
    "PROPCPS": "proportional to counts per second (non-quantitative images), no defined conversion",
    "1CM": "linear attenuation coefficients (a mu-map), not activity",
}


@dataclass(frozen=True)
class SourceScale:
    """Per-slice factors from rescaled value to either Bq/mL (``suv_kind`` None) or an SUV of ``suv_kind``."""

    factors: tuple[float, ...]
    suv_kind: Optional[str]   # DICOM SUVType of the stored SUV ("BW", "LBMJAMES128", "BSA", ...) or None
    description: str


def source_scale(datasets: Sequence[pydicom.Dataset], warnings: list[str]) -> SourceScale:
    units = tags.series_value(datasets, lambda ds: tags.read_text(ds, "Units"), tags.tag_name("Units"))
    suv_type = tags.series_value(datasets, lambda ds: tags.read_text(ds, "SUVType"), tags.tag_name("SUVType"))
    if units is None:
        raise SUVError("Units (0054,1001) is missing: the meaning of the voxel values is unknown")
    if units == "BQML":
        return SourceScale((1.0,), None, "Units BQML (activity concentration)")
    if units == "GML":
        kind = suv_type or "BW"
        if kind == "BSA":
            raise SUVError("Units (0054,1001) GML contradicts SUVType (0054,1006) BSA (SUVbsa is in CM2ML)")
        return SourceScale((1.0,), kind, f"Units GML (stored SUV, SUVType {suv_type or 'empty = BW'})")
    if units == "CM2ML":
        if suv_type not in (None, "BSA"):
            raise SUVError(f"Units (0054,1001) CM2ML contradicts SUVType (0054,1006) {suv_type} "
                           "(CM2ML is body-surface-area SUV)")
        return SourceScale((1.0,), "BSA", "Units CM2ML (stored SUVbsa)")
    if units == "CNTS":
        return _philips_counts(datasets, warnings)
    if units == "CPS":
        return _counts_per_second(datasets)
    reason = UNDEFINED_UNITS.get(units, "not a unit with a defined SUV conversion")
    raise SUVError(f"Units (0054,1001) is {units}: {reason}; SUV cannot be computed")


def _philips_counts(datasets: Sequence[pydicom.Dataset], warnings: list[str]) -> SourceScale:
    def factors(offset: int) -> Optional[tuple[float, ...]]:
        values = [tags.private_float(ds, 0x7053, PHILIPS_CREATOR, offset, warnings, "PHILIPS") for ds in datasets]
        if any(value is None or value == 0.0 for value in values):
            return None
        return tuple(values)

    suv_factors = factors(PHILIPS_SUV_FACTOR_OFFSET)
    if suv_factors is not None:
        return SourceScale(suv_factors, "BW", "Units CNTS x Philips SUV Scale Factor (7053,1000) = SUVbw")
    activity_factors = factors(PHILIPS_ACTIVITY_FACTOR_OFFSET)
    if activity_factors is not None:
        return SourceScale(activity_factors, None,
                           "Units CNTS x Philips Activity Concentration Scale Factor (7053,1009) = Bq/mL")
    raise SUVError("Units (0054,1001) is CNTS but neither Philips SUV Scale Factor (7053,1000) nor Activity "
                   "Concentration Scale Factor (7053,1009) is present and non-zero in every slice: counts "
                   "cannot be converted to SUV")


def _counts_per_second(datasets: Sequence[pydicom.Dataset]) -> SourceScale:
    corrected = tags.series_value(datasets, lambda ds: tags.read_codes(ds, "CorrectedImage"),
                                  tags.tag_name("CorrectedImage"))
    for code, meaning in (("ATTN", "attenuation"), ("NORM", "detector normalisation")):
        if code not in corrected:
            raise SUVError(f"Units (0054,1001) CPS and CorrectedImage (0028,0051) lacks {code}: images without "
                           f"{meaning} correction are not quantitative")
    calibration = 1.0
    how = "dose calibrated (DCAL)"
    if "DCAL" not in corrected:
        calibration = tags.series_value(datasets, lambda ds: tags.read_float(ds, "DoseCalibrationFactor"),
                                        tags.tag_name("DoseCalibrationFactor"))
        if not calibration:
            raise SUVError("Units (0054,1001) CPS, CorrectedImage (0028,0051) lacks DCAL and "
                           "DoseCalibrationFactor (0054,1322) is missing: counts per second cannot be "
                           "converted to Bq/mL")
        how = f"x DoseCalibrationFactor {calibration:g}"
    factors = []
    for index, ds in enumerate(datasets):
        spacing = ds.get("PixelSpacing")
        thickness = tags.read_float(ds, "SliceThickness")
        if not spacing or len(spacing) != 2 or not thickness:
            raise SUVError(f"PixelSpacing (0028,0030) or SliceThickness (0018,0050) missing in slice {index}: "
                           "Units CPS needs the voxel volume")
        voxel_ml = float(spacing[0]) * float(spacing[1]) * thickness / 1000.0
        factors.append(calibration / voxel_ml)
    return SourceScale(tuple(factors), None, f"Units CPS {how} / voxel volume (mL) = Bq/mL")
