"""Standardised SUV from PET DICOM headers: one factor per slice, and the rule that produced it.

SUV = activity concentration (Bq/mL) x normaliser / decayed dose (Bq), with the normaliser the body
weight, lean body mass or ideal body weight in g (g/mL) or the body surface area in cm^2 (cm^2/mL).
The factors multiply the *rescaled* voxel values (RescaleSlope already applied per slice by the image
loader), so the slope never appears here. Rules: the SUV manual of Vácha et al. (OncoRay/IBSI, CC BY 4.0)
and QIBA, see ``units``, ``decay`` and ``body_size``. Whatever cannot be computed safely raises
``SUVError`` naming the tag: never a plausible wrong SUV.

Header conventions handled here:
- RescaleIntercept (0028,1052) must be 0 in every slice (manual: exclude otherwise).
- Numeric attributes are read strictly (``tags.read_float``): a wrong VR, several values, NaN or infinity
  is refused, never multiplied by.
- PatientWeight (0010,1030) above 1000 was entered in grams (manual, "Patient's weight"); a weight outside
  ``WEIGHT_RANGE_KG`` (10 g, a mouse in preclinical PET, to 1000 kg) after that is refused.
- RadionuclideTotalDose (0018,1074) below ``MBQ_DOSE_LIMIT`` = 1e5 was entered in MBq: FDG doses cluster
  near 4e2 (MBq) and 4e8 (Bq) (manual, Fig. 2); 1e5 Bq (0.1 MBq) or 1e5 MBq (100 GBq) are both impossible
  patient doses, so the cut-off cannot misclassify a real one. A dose outside ``DOSE_RANGE_BQ`` (1 MBq to
  20 GBq) after that is refused: no PET injection is that small or large, so the value or its VR is wrong.
- PatientSize (0010,1020) is in metres; a value above ``MAX_HEIGHT_M`` is refused (often cm or a weight).
- DecayCorrection NONE while CorrectedImage (0028,0051) lists DECY contradicts itself: refused.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import pydicom
import SimpleITK as sitk

from StandardSegLib.errors import SUVError
from StandardSegLib.imaging import require_zero_pet_intercept
from StandardSegLib.suv import body_size, decay, tags
from StandardSegLib.suv.units import SourceScale, source_scale

SUV_TYPES = ("SUVbw", "SUVlbm", "SUVbsa", "SUVibw")
#: Lean-body-mass formulas selectable for SUVlbm; Janmahasatian is the default (the formula recommended for
#: SUL by Tahari et al., J Nucl Med 2014;55:1481, and the one MITK's docs call IBSI-SUV-recommended).
LBM_FORMULAS = ("LBMJANMA", "LBMJAMES128", "LBM")
MBQ_DOSE_LIMIT = 1e5
DOSE_RANGE_BQ = (1e6, 2e10)
GRAM_WEIGHT_LIMIT = 1000.0
WEIGHT_RANGE_KG = (0.01, 1000.0)
MAX_HEIGHT_M = 3.0

_TARGET_KIND = {"SUVbw": "BW", "SUVbsa": "BSA", "SUVibw": "IBW"}


@dataclass(frozen=True)
class SUVConversion:
    """How to turn a rescaled PET series into ``suv_type``: SUV = rescaled value x ``factors[k]``.

    ``factors`` has one entry per slice (sitk z-index) or a single entry for the whole series.
    """

    suv_type: str
    factors: tuple[float, ...]
    rule: str
    source_units: str
    reference_time: Optional[str]
    injection_time: Optional[str]
    decay_factor: Optional[float]
    normaliser: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "suv_type": self.suv_type,
            "factors": list(self.factors),
            "rule": self.rule,
            "source_units": self.source_units,
            "reference_time": self.reference_time,
            "injection_time": self.injection_time,
            "decay_factor": self.decay_factor,
            "normaliser": dict(self.normaliser),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class _Patient:
    weight_kg: Optional[float]
    height_m: Optional[float]
    sex: Optional[str]

    def normaliser(self, kind: str, purpose: str) -> float:
        return body_size.normaliser(kind, self.weight_kg, self.height_m, self.sex, purpose)


def suv_conversion(datasets: Sequence[pydicom.Dataset], suv_type: str = "SUVbw", *,
                   lbm_formula: str = "LBMJANMA", reference_time_method: str = "qiba") -> SUVConversion:
    """Work out the per-slice SUV factors of a PET series from its headers (``datasets[k]`` = slice k).

    ``lbm_formula`` chooses the LBM of SUVlbm (see ``LBM_FORMULAS``); ``reference_time_method`` the
    DecayCorrection START reference time (``"qiba"`` default, or ``"frame"``: see ``decay``).
    """
    if suv_type not in SUV_TYPES:
        raise SUVError(f"SUV type {suv_type!r} is not one of {', '.join(SUV_TYPES)}")
    if lbm_formula not in LBM_FORMULAS:
        raise SUVError(f"LBM formula {lbm_formula!r} is not one of {', '.join(LBM_FORMULAS)}")
    if not datasets:
        raise SUVError("no DICOM headers given: SUV needs the PET series' headers")
    warnings: list[str] = []
    _check_intercepts(datasets)
    units = tags.read_text(datasets[0], "Units") or ""
    scale = source_scale(datasets, warnings)
    _check_corrections(datasets, warnings)
    patient = _read_patient(datasets, warnings)
    target = _TARGET_KIND.get(suv_type, lbm_formula)
    if scale.suv_kind is not None:
        return _from_stored_suv(suv_type, target, units, scale, patient, warnings)
    return _from_activity(datasets, suv_type, target, units, scale, patient, reference_time_method, warnings)


def apply_suv(image: sitk.Image, conversion: SUVConversion) -> sitk.Image:
    """``image`` (rescaled values) times the conversion factors, slice by slice, as float64."""
    factors = np.asarray(conversion.factors, dtype=np.float64)
    result = sitk.Cast(image, sitk.sitkFloat64)
    if factors.size == 1:
        return result * float(factors[0])
    if image.GetDimension() != 3 or image.GetSize()[2] != factors.size:
        raise SUVError(f"SUV conversion has {factors.size} slice factors but the image has size "
                       f"{image.GetSize()}: headers and pixels do not belong to the same series")
    array = sitk.GetArrayFromImage(result)
    array *= factors[:, None, None]
    converted = sitk.GetImageFromArray(array)
    converted.CopyInformation(image)
    return converted


def _check_intercepts(datasets: Sequence[pydicom.Dataset]) -> None:
    for index, ds in enumerate(datasets):
        require_zero_pet_intercept(tags.read_float(ds, "RescaleIntercept"), f"slice {index}", SUVError)


def _check_corrections(datasets: Sequence[pydicom.Dataset], warnings: list[str]) -> None:
    corrected = tags.read_codes(datasets[0], "CorrectedImage")
    decay_mode = tags.read_text(datasets[0], "DecayCorrection")
    if decay_mode == "NONE" and "DECY" in corrected:
        raise SUVError("DecayCorrection (0054,1102) is NONE but CorrectedImage (0028,0051) lists DECY: the header "
                       "contradicts itself about decay correction")
    expected = ("ATTN",) if decay_mode == "NONE" else ("ATTN", "DECY")
    missing = [code for code in expected if code not in corrected]
    if missing:
        warnings.append(f"CorrectedImage (0028,0051) lacks {' and '.join(missing)} "
                        f"(found {'/'.join(corrected) or 'nothing'})")


def _read_patient(datasets: Sequence[pydicom.Dataset], warnings: list[str]) -> _Patient:
    def series(keyword: str, reader=tags.read_float):
        return tags.series_value(datasets, lambda ds: reader(ds, keyword), tags.tag_name(keyword))

    weight = series("PatientWeight")
    if weight is not None and weight > GRAM_WEIGHT_LIMIT:
        warnings.append(f"PatientWeight {weight:g} interpreted as grams (values above {GRAM_WEIGHT_LIMIT:g})")
        weight /= 1000.0
    if weight is not None and weight < 0:
        raise SUVError(f"PatientWeight (0010,1030) is negative ({weight:g}); expected kg")
    low, high = WEIGHT_RANGE_KG
    if weight and not low <= weight <= high:
        raise SUVError(f"PatientWeight (0010,1030) gives {weight:g} kg, outside {low:g}-{high:g} kg: not a body "
                       "weight in kg (or in g above 1000)")
    height = series("PatientSize")
    if height is not None and not 0 <= height <= MAX_HEIGHT_M:
        raise SUVError(f"PatientSize (0010,1020) is {height:g}, expected a height in metres "
                       f"(0-{MAX_HEIGHT_M:g}); cm or a weight entered here?")
    return _Patient(weight, height, series("PatientSex", tags.read_text))


def _from_stored_suv(suv_type: str, target: str, units: str, scale: SourceScale, patient: _Patient,
                     warnings: list[str]) -> SUVConversion:
    """Values are already an SUV of ``scale.suv_kind``: rescale by the ratio of normalisers."""
    if scale.suv_kind == target:
        factors, normaliser, how = scale.factors, {"stored_suv_type": target}, "no conversion needed"
    else:
        purpose = f"converting stored SUV ({scale.suv_kind}) to {suv_type}"
        wanted = patient.normaliser(target, purpose)
        stored = patient.normaliser(scale.suv_kind, purpose)
        factors = tuple(value * wanted / stored for value in scale.factors)
        stored_key = _key(scale.suv_kind)
        if stored_key == _key(target):  # two lean body masses: keep both
            stored_key = f"stored_{stored_key}"
        normaliser = {"stored_suv_type": scale.suv_kind, stored_key: stored, _key(target): wanted}
        names = body_size.NORMALISER_NAMES
        how = f"= stored SUV x {names[target]} / {names[scale.suv_kind]}"
        if target not in ("BW", "BSA", "IBW"):
            normaliser["lbm_formula"] = target
    return SUVConversion(suv_type, _validated(factors), f"{scale.description}; {suv_type} {how}", units,
                         None, None, None, normaliser, tuple(warnings))


def _from_activity(datasets: Sequence[pydicom.Dataset], suv_type: str, target: str, units: str,
                   scale: SourceScale, patient: _Patient, reference_time_method: str,
                   warnings: list[str]) -> SUVConversion:
    """Values are (after ``scale``) Bq/mL: divide by the dose decayed to the images' reference time."""
    normaliser_value = patient.normaliser(target, suv_type)
    normaliser = {_key(target): normaliser_value}
    if target not in ("BW", "BSA", "IBW"):
        normaliser["lbm_formula"] = target
    items = [tags.radiopharmaceutical_item(ds) for ds in datasets]
    if len(datasets[0].get("RadiopharmaceuticalInformationSequence") or ()) > 1:
        warnings.append("RadiopharmaceuticalInformationSequence has several items; the first is used")
    dose_bq = tags.series_value(
        items, lambda item: None if item is None else tags.read_float(item, "RadionuclideTotalDose"),
        tags.tag_name("RadionuclideTotalDose"))
    if not dose_bq or dose_bq <= 0:
        raise SUVError(f"RadionuclideTotalDose (0018,1074) is missing or zero: {suv_type} from Units {units} "
                       "needs the injected dose")
    if dose_bq < MBQ_DOSE_LIMIT:
        warnings.append(f"RadionuclideTotalDose {dose_bq:g} interpreted as MBq (values below {MBQ_DOSE_LIMIT:g})")
        dose_bq *= 1e6
    low, high = DOSE_RANGE_BQ
    if not low <= dose_bq <= high:
        raise SUVError(f"RadionuclideTotalDose (0018,1074) gives {dose_bq:g} Bq, outside {low:g}-{high:g} Bq "
                       f"(1 MBq-20 GBq): not an injected PET dose in Bq (or MBq below {MBQ_DOSE_LIMIT:g})")
    decay_mode = tags.series_value(datasets, lambda ds: tags.read_text(ds, "DecayCorrection"),
                                   tags.tag_name("DecayCorrection"))
    base = tuple(factor * normaliser_value / dose_bq for factor in scale.factors)
    prefix = f"{scale.description}, DecayCorrection {decay_mode}"
    formula = f"{suv_type} = Bq/mL x {_key(target)} / dose"
    if decay_mode == "ADMIN":
        _check_injection_before_scan(datasets, items[0], warnings)
        rule = f"{prefix} (images decay-corrected to administration: no dose decay); {formula}"
        return SUVConversion(suv_type, _validated(base), rule, units, None, None, 1.0, normaliser, tuple(warnings))
    for keyword in ("RadionuclideHalfLife", "RadiopharmaceuticalStartDateTime", "RadiopharmaceuticalStartTime"):
        tags.series_value(items, lambda item: None if item is None else str(item.get(keyword, "")),
                          tags.tag_name(keyword))
    item = items[0]
    half_life = decay.half_life_s(item, warnings)
    if decay_mode == "START":
        reference, how = decay.reference_time(datasets, half_life, reference_time_method, warnings)
        injected, injected_how = decay.injection_time(item, reference, warnings)
        elapsed_s = (reference - injected).total_seconds()
        if elapsed_s < 0:
            raise SUVError(f"injection ({injected_how}, {injected.isoformat()}) is after the reference time "
                           f"({reference.isoformat()}): the times in the header contradict each other")
        fraction = decay.decay_fraction(elapsed_s, half_life)
        factors = tuple(value / fraction for value in base)
        rule = (f"{prefix}, reference time = {how}, injection = {injected_how}, dose decayed over "
                f"{elapsed_s:.1f} s with half-life {half_life:g} s; {formula}")
        return SUVConversion(suv_type, _validated(factors), rule, units, reference.isoformat(), injected.isoformat(),
                             fraction, normaliser, tuple(warnings))
    if decay_mode == "NONE":
        factors, injected, injected_how = _uncorrected_frames(datasets, item, base, half_life, warnings)
        rule = (f"{prefix}, each slice corrected to injection ({injected_how}) with lambda T / (1 - exp(-lambda "
                f"T)) x exp(lambda (t_acq - t_inj)), half-life {half_life:g} s; {formula}")
        return SUVConversion(suv_type, _validated(factors), rule, units, None, injected.isoformat(), None, normaliser,
                             tuple(warnings))
    raise SUVError(f"DecayCorrection (0054,1102) is {decay_mode or 'missing'}, expected START, ADMIN or NONE: "
                   "the time the activity refers to is unknown")


def _check_injection_before_scan(datasets: Sequence[pydicom.Dataset], item: Optional[pydicom.Dataset],
                                 warnings: list[str]) -> None:
    """DecayCorrection ADMIN needs no times, but an injection after the scan means the header is wrong."""
    acquired = [value for value in decay.acquisition_datetimes(datasets, warnings) if value is not None]
    if not acquired or item is None or not (item.get("RadiopharmaceuticalStartDateTime")
                                            or item.get("RadiopharmaceuticalStartTime")):
        return
    injected, how = decay.injection_time(item, min(acquired), warnings)
    if injected > min(acquired):
        raise SUVError(f"injection ({how}, {injected.isoformat()}) is after the scan ({min(acquired).isoformat()}): "
                       "the times in the header contradict each other")


def _uncorrected_frames(datasets: Sequence[pydicom.Dataset], item: pydicom.Dataset, base: tuple[float, ...],
                        half_life: float, warnings: list[str]) -> tuple[tuple[float, ...], dt.datetime, str]:
    """DecayCorrection NONE: per-slice factor from the slice's acquisition time and frame duration."""
    acquisitions = decay.acquisition_datetimes(datasets, warnings)
    for index, value in enumerate(acquisitions):
        if value is None:
            raise SUVError(f"AcquisitionTime (0008,0032) is missing in slice {index}: DecayCorrection NONE "
                           "needs each slice's acquisition time")
    injected, injected_how = decay.injection_time(item, min(acquisitions), warnings)
    decay_constant = math.log(2.0) / half_life
    factors = []
    for index, (ds, acquired) in enumerate(zip(datasets, acquisitions)):
        duration_ms = tags.read_float(ds, "ActualFrameDuration")
        if not duration_ms:
            raise SUVError(f"ActualFrameDuration (0018,1242) is missing in slice {index}: DecayCorrection NONE "
                           "needs each frame's duration")
        elapsed_s = (acquired - injected).total_seconds()
        if elapsed_s < 0:
            raise SUVError(f"slice {index} was acquired before the injection ({injected_how}): the times in "
                           "the header contradict each other")
        correction = (decay.frame_average_factor(decay_constant, duration_ms / 1000.0)
                      * math.exp(decay_constant * elapsed_s))
        factors.append(base[index if len(base) > 1 else 0] * correction)
    return tuple(factors), injected, injected_how


def _key(kind: str) -> str:
    return {"BW": "weight_g", "BSA": "bsa_cm2", "IBW": "ibw_g"}.get(kind, "lbm_g")


def _validated(factors: Sequence[float]) -> tuple[float, ...]:
    """The factors, collapsed to one entry when every slice has the same; refused unless finite and > 0."""
    if not all(math.isfinite(value) and value > 0 for value in factors):
        raise SUVError(f"SUV factors are not finite positive numbers ({list(factors)[:3]}...): check the "
                       "scale factors, dose and weight in the headers")
    return (factors[0],) if len(set(factors)) == 1 else tuple(factors)
