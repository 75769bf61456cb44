"""Image-specification checks: acquisition and reconstruction rules of a protocol, judged on the image record.

Each protocol ``image_spec`` entry names a ``check``; this module holds one small function per check in a
registry (add a check = add a function). The functions never raise for a bad image: a missing tag is an
item that fails (or warns, for advisory rules) and says which tag is missing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

from StandardSegLib.errors import SUVError
from StandardSegLib.gate.verdict import PASS, GateItem, violation
from StandardSegLib.suv.uptake import uptake_time


@dataclass(frozen=True)
class SpecContext:
    """What the spec checks look at: the image record, the DICOM headers and the SUV conversion (PET)."""

    record: Any  # StandardSegLib.imaging.ImageRecord
    datasets: Sequence[Any]  # pydicom headers in slice order ((), for NRRD/NIfTI without sidecar)
    suv: Any = None  # StandardSegLib.suv.SUVConversion, when it could be computed
    suv_error: Optional[str] = None  # why it could not, for PET


SpecCheck = Callable[[Mapping[str, Any], SpecContext], GateItem]
SPEC_CHECKS: dict[str, SpecCheck] = {}


def spec_check(name: str) -> Callable[[SpecCheck], SpecCheck]:
    def register(function: SpecCheck) -> SpecCheck:
        SPEC_CHECKS[name] = function
        return function
    return register


def evaluate_spec(rules: Sequence[Mapping[str, Any]], context: SpecContext) -> list[GateItem]:
    return [SPEC_CHECKS[rule["check"]](rule, context) for rule in rules]


def _item(rule: Mapping[str, Any], ok: bool, text: str, message: str, **values: Any) -> GateItem:
    severity = rule.get("severity", "fail")
    return GateItem(id=rule["check"], kind="spec", verdict=PASS if ok else violation(severity),
                    severity=severity, rule=text, message=message, source=rule.get("source"), **values)


def _missing(rule: Mapping[str, Any], text: str, what: str, **values: Any) -> GateItem:
    return _item(rule, False, text, f"cannot be checked: {what}", **values)


@spec_check("modality")
def _modality(rule: Mapping[str, Any], context: SpecContext) -> GateItem:
    found, expected = context.record.modality, rule["equals"]
    text = f"Modality (0008,0060) = {expected}"
    if not found:
        return _missing(rule, text, "Modality (0008,0060) is not recorded", threshold=expected)
    return _item(rule, found == expected, text, f"modality is {found}", measured=found, threshold=expected)


@spec_check("slice_thickness_max")
def _slice_thickness(rule: Mapping[str, Any], context: SpecContext) -> GateItem:
    limit = float(rule["value_mm"])
    text = f"slice thickness <= {limit:g} mm"
    record = context.record
    thickness = record.slice_thickness_mm
    basis = "SliceThickness (0018,0050)"
    if thickness is None:  # NRRD/NIfTI: only the slice spacing is known
        thickness, basis = record.spacing[2], "slice spacing (no SliceThickness recorded)"
    spacing = record.spacing_between_slices_mm
    if spacing is not None and spacing > thickness:  # gaps between slices are as bad as thick slices
        thickness, basis = spacing, "slice spacing, which exceeds the thickness"
    return _item(rule, thickness <= limit + 1e-6, text, f"{basis} is {thickness:g} mm",
                 measured=round(float(thickness), 4), threshold=limit, unit="mm")


@spec_check("pixel_spacing_max")
def _pixel_spacing(rule: Mapping[str, Any], context: SpecContext) -> GateItem:
    limit = float(rule["value_mm"])
    text = f"in-plane pixel spacing <= {limit:g} mm"
    spacing = max(float(value) for value in context.record.spacing[:2])
    return _item(rule, spacing <= limit + 1e-6, text, f"largest in-plane spacing is {spacing:g} mm",
                 measured=round(spacing, 4), threshold=limit, unit="mm")


def _allowed_text(rule: Mapping[str, Any], found: Optional[str], what: str, tag: str) -> GateItem:
    allowed = [str(value) for value in rule["values"]]
    text = f"{what} one of {', '.join(allowed)}"
    if not found:
        return _missing(rule, text, f"{tag} is not recorded", threshold=allowed)
    ok = any(value.lower() in found.lower() for value in allowed)
    return _item(rule, ok, text, f"{what} is '{found}'", measured=found, threshold=allowed)


@spec_check("kernel_allowed")
def _kernel(rule: Mapping[str, Any], context: SpecContext) -> GateItem:
    return _allowed_text(rule, _joined(context.record.convolution_kernel), "convolution kernel",
                         "ConvolutionKernel (0018,1210)")


@spec_check("reconstruction_allowed")
def _reconstruction(rule: Mapping[str, Any], context: SpecContext) -> GateItem:
    return _allowed_text(rule, _joined(context.record.reconstruction_method), "reconstruction method",
                         "ReconstructionMethod (0054,1103)")


@spec_check("sequence_allowed")
def _sequence(rule: Mapping[str, Any], context: SpecContext) -> GateItem:
    record = context.record
    names = [_joined(value) for value in (record.sequence_name, record.scanning_sequence, record.series_description)]
    found = " / ".join(name for name in names if name)
    return _allowed_text(rule, found, "sequence", "SequenceName (0018,0024) / ScanningSequence (0018,0020)")


@spec_check("field_strength_allowed")
def _field_strength(rule: Mapping[str, Any], context: SpecContext) -> GateItem:
    allowed = [float(value) for value in rule["values_t"]]
    text = f"field strength one of {', '.join(f'{v:g}' for v in allowed)} T"
    found = context.record.magnetic_field_strength_t
    if found is None:
        return _missing(rule, text, "MagneticFieldStrength (0018,0087) is not recorded", threshold=allowed, unit="T")
    ok = any(abs(float(found) - value) <= 0.05 * value for value in allowed)
    return _item(rule, ok, text, f"field strength is {float(found):g} T", measured=float(found),
                 threshold=allowed, unit="T")


@spec_check("required_tags")
def _required_tags(rule: Mapping[str, Any], context: SpecContext) -> GateItem:
    tags = list(rule["tags"])
    header = context.datasets[0] if context.datasets else None
    missing = [tag for tag in tags if header is None or _empty(header.get(tag))]
    text = f"tags present: {', '.join(tags)}"
    message = "all present" if not missing else f"missing or empty: {', '.join(missing)}"
    return _item(rule, not missing, text, message, measured=missing, threshold=tags)


@spec_check("corrected_image")
def _corrected_image(rule: Mapping[str, Any], context: SpecContext) -> GateItem:
    required = [str(value) for value in rule["required"]]
    text = f"CorrectedImage (0028,0051) includes {', '.join(required)}"
    found = context.record.corrected_image
    if not found:
        return _missing(rule, text, "CorrectedImage (0028,0051) is not recorded", threshold=required)
    found = [str(value) for value in found]
    absent = [value for value in required if value not in found]
    message = f"CorrectedImage is {', '.join(found)}" + (f" (lacks {', '.join(absent)})" if absent else "")
    return _item(rule, not absent, text, message, measured=found, threshold=required)


@spec_check("suv_convertible")
def _suv_convertible(rule: Mapping[str, Any], context: SpecContext) -> GateItem:
    text = "values convertible to SUV (Units, dose, weight, times)"
    if context.suv is not None:
        return _item(rule, True, text, context.suv.rule, measured=context.suv.source_units)
    return _item(rule, False, text, context.suv_error or "no PET headers to compute SUV from")


@spec_check("uptake_time_window")
def _uptake_time(rule: Mapping[str, Any], context: SpecContext) -> GateItem:
    """From the times the SUV decay used when it used any, else from the headers (any Units: a series
    stored as SUV or decay-corrected to administration has the times too)."""
    low, high = float(rule["min_min"]), float(rule["max_min"])
    text = f"uptake time {low:g}-{high:g} min"
    suv = context.suv
    if suv is not None and suv.injection_time and suv.reference_time:
        minutes = (dt.datetime.fromisoformat(suv.reference_time)
                   - dt.datetime.fromisoformat(suv.injection_time)).total_seconds() / 60.0
        how = "injection to the SUV reference time"
    else:
        try:
            uptake = uptake_time(context.datasets, [])
        except SUVError as error:
            return _missing(rule, text, str(error), threshold=[low, high], unit="min")
        minutes, how = uptake.minutes, f"{uptake.injection_source} to {uptake.scan_source}"
    return _item(rule, low <= minutes <= high, text, f"uptake time is {minutes:.1f} min ({how})",
                 measured=round(minutes, 2), threshold=[low, high], unit="min")


@spec_check("body_part")
def _body_part(rule: Mapping[str, Any], context: SpecContext) -> GateItem:
    """BodyPartExamined (0018,0015) against the protocol's body region: DICOM defined terms (PS3.16 Annex L,
    e.g. EXTREMITY, LEG, THIGH), compared whole and case-insensitive (they are codes, not free text)."""
    allowed = [str(value).upper() for value in rule["values"]]
    text = f"BodyPartExamined (0018,0015) one of {', '.join(allowed)}"
    header = context.datasets[0] if context.datasets else None
    found = _joined(header.get("BodyPartExamined")) if header is not None else None
    if not found:
        return _missing(rule, text, "BodyPartExamined (0018,0015) is not recorded", threshold=allowed)
    return _item(rule, found.strip().upper() in allowed, text, f"BodyPartExamined is '{found}'", measured=found,
                 threshold=allowed)


def _joined(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return "\\".join(str(item) for item in value) or None
    return str(value) or None


def _empty(value: Any) -> bool:
    if value is None:
        return True
    inner = getattr(value, "value", value)  # pydicom DataElement or plain value
    return inner is None or inner == "" or (hasattr(inner, "__len__") and len(inner) == 0)
