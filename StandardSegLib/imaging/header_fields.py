"""Read the image-record fields from DICOM headers (or from a Dataset built from a JSON sidecar).

Values are taken from the first slice in spatial order; a field whose value differs between slices is
listed in ``varies_across_slices`` (CT tube current under dose modulation does; kVp should not). Times are
converted to ISO 8601. Reconstruction iterations/subsets are parsed from ReconstructionMethod (0054,1103)
when the vendor writes them into the text (Siemens "PSF+TOF 4i21s", "OSEM3D 3i24s"), unless the standard
NumberOfIterations (0018,9739) / NumberOfSubsets (0018,9740) attributes are present.

For a scanned series (``SeriesHeaders``) the per-slice comparisons use the stored values from the scan and
read one whole header, the first; MR reads every header for the b-values (they may sit in private tags). The
PET attributes of group 0054 are compared across slices when the series is PET/NM or its first slice has any
of them: scanning them in a CT would make GDCM read on into the pixel data of every file.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping, Optional, Sequence

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.multival import MultiValue
from pydicom.valuerep import DA, DT, TM

from StandardSegLib.imaging.dicom_numbers import tag_label
from StandardSegLib.imaging.dicom_scan import SeriesHeaders, stored_dataset

#: Header keywords whose values identify a person or a site; kept out of everything but ``identifiers``.
IDENTIFIER_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "OtherPatientNames", "AccessionNumber",
    "InstitutionName", "InstitutionAddress", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "StudyID",
)

#: Below this, a "dose in Bq" is almost certainly MBq (a clinical FDG dose is ~1e8 Bq; see the SUV manual).
_DOSE_LOOKS_LIKE_MBQ_BELOW = 1e5

_ITERATIONS_SUBSETS = re.compile(r"(\d+)\s*i(?:t(?:er(?:ations?)?)?)?[\s,_x/-]*(\d+)\s*s(?:ub(?:sets?)?)?\b",
                                 re.IGNORECASE)
_GAUSSIAN_FWHM = re.compile(r"gauss\w*?[\s:=]*([0-9]+(?:\.[0-9]+)?)", re.IGNORECASE)


def _text(value: Any) -> Optional[str]:
    if value is None or isinstance(value, MultiValue) and len(value) == 0:
        return None
    text = "\\".join(str(v) for v in value) if isinstance(value, MultiValue) else str(value)
    return text.strip() or None


def _texts(value: Any) -> Optional[tuple[str, ...]]:
    if value is None or value == "":
        return None
    items = tuple(str(v).strip() for v in (value if isinstance(value, MultiValue) else [value]))
    return items if any(items) else None


def _number(value: Any) -> Optional[float]:
    if value is None or value == "" or isinstance(value, MultiValue):
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


#: record field -> (DICOM keyword, converter). Fields compared across slices for ``varies_across_slices``.
SIMPLE_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "modality": ("Modality", _text),
    "manufacturer": ("Manufacturer", _text),
    "manufacturer_model_name": ("ManufacturerModelName", _text),
    "software_versions": ("SoftwareVersions", _texts),
    "image_type": ("ImageType", _texts),
    "study_instance_uid": ("StudyInstanceUID", _text),
    "series_instance_uid": ("SeriesInstanceUID", _text),
    "frame_of_reference_uid": ("FrameOfReferenceUID", _text),
    "series_description": ("SeriesDescription", _text),
    "slice_thickness_mm": ("SliceThickness", _number),
    "spacing_between_slices_tag_mm": ("SpacingBetweenSlices", _number),
    "patient_sex": ("PatientSex", _text),
    "patient_age": ("PatientAge", _text),
    "patient_weight_kg": ("PatientWeight", _number),
    "patient_size_m": ("PatientSize", _number),
    "kvp": ("KVP", _number),
    "tube_current_ma": ("XRayTubeCurrent", _number),
    "exposure_mas": ("Exposure", _number),
    "ctdi_vol_mgy": ("CTDIvol", _number),
    "reconstruction_diameter_mm": ("ReconstructionDiameter", _number),
    "spiral_pitch_factor": ("SpiralPitchFactor", _number),
    "magnetic_field_strength_t": ("MagneticFieldStrength", _number),
    "mr_acquisition_type": ("MRAcquisitionType", _text),
    "scanning_sequence": ("ScanningSequence", _texts),
    "sequence_variant": ("SequenceVariant", _texts),
    "scan_options": ("ScanOptions", _texts),
    "sequence_name": ("SequenceName", _text),
    "repetition_time_ms": ("RepetitionTime", _number),
    "echo_time_ms": ("EchoTime", _number),
    "inversion_time_ms": ("InversionTime", _number),
    "flip_angle_deg": ("FlipAngle", _number),
    "units": ("Units", _text),
    "decay_correction": ("DecayCorrection", _text),
    "corrected_image": ("CorrectedImage", _texts),
    "reconstruction_method": ("ReconstructionMethod", _text),
    "attenuation_correction_method": ("AttenuationCorrectionMethod", _text),
    "scatter_correction_method": ("ScatterCorrectionMethod", _text),
    "randoms_correction_method": ("RandomsCorrectionMethod", _text),
    "series_type": ("SeriesType", _texts),
    "actual_frame_duration_ms": ("ActualFrameDuration", _number),
    "suv_type": ("SUVType", _text),
}

#: Fields that legitimately change from slice to slice and so are not flagged.
_PER_SLICE_EXPECTED = frozenset({"image_type"})
_ACQUISITION_KEYWORDS = ("AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime")
#: Stored values ``header_fields`` reads from every slice (a folder scan reads them in its first pass).
PER_SLICE_KEYWORDS = tuple(keyword for name, (keyword, _) in SIMPLE_FIELDS.items()
                           if name not in _PER_SLICE_EXPECTED) + _ACQUISITION_KEYWORDS
#: PET attributes (group 0054), compared across slices of PET/NM series only (see the module docstring).
PET_KEYWORDS = tuple(keyword for keyword in PER_SLICE_KEYWORDS if tag_for_keyword(keyword) >> 16 == 0x0054)
_PET_MODALITIES = frozenset({"PT", "NM"})


def header_fields(datasets: Sequence[pydicom.Dataset]) -> tuple[dict[str, Any], list[str]]:
    """Record fields read from ``datasets`` (first slice first) and warnings about unreadable values."""
    first = datasets[0]
    scanned = datasets if isinstance(datasets, SeriesHeaders) else None
    warnings: list[str] = []
    values: dict[str, Any] = {}
    varying: list[str] = []
    compared = {name: keyword for name, (keyword, _) in SIMPLE_FIELDS.items()
                if len(datasets) > 1 and name not in _PER_SLICE_EXPECTED}
    if scanned is not None:
        if _text(first.get("Modality")) not in _PET_MODALITIES and not any(k in first for k in PET_KEYWORDS):
            compared = {name: keyword for name, keyword in compared.items() if keyword not in PET_KEYWORDS}
        scanned.prefetch((*compared.values(), *_ACQUISITION_KEYWORDS))
    else:
        holders_by_tag = distinct_values_by_tag(datasets, [tag_for_keyword(k) for k in compared.values()])
    for name, (keyword, convert) in SIMPLE_FIELDS.items():
        values[name] = _convert(first, keyword, convert, warnings)
        if name not in compared:
            continue
        if scanned is not None:
            differs = _varies_in_scan(scanned, keyword, convert)
        else:
            holders = holders_by_tag[tag_for_keyword(keyword)]
            differs = any(_convert(ds, keyword, convert, []) != values[name] for ds in holders)
        if differs:
            varying.append(name)
    values["convolution_kernel"] = _texts(first.get("ConvolutionKernel"))
    values["study_datetime"] = _iso_datetime(first, "StudyDate", "StudyTime", None, warnings)
    values["series_datetime"] = _iso_datetime(first, "SeriesDate", "SeriesTime", None, warnings)
    acquisitions = (_scanned_acquisitions(scanned, warnings) if scanned is not None else
                    [_iso_datetime(ds, *_ACQUISITION_KEYWORDS, warnings) for ds in datasets])
    known = sorted(a for a in acquisitions if a is not None)
    values["acquisition_datetime"] = known[0] if known else None
    frame_reference = _convert(first, "FrameReferenceTime", _number, warnings)
    values["frame_reference_time_ms"] = frame_reference
    values["b_values"] = _b_values(datasets) if values["modality"] == "MR" else None
    values.update(_pet_fields(first, warnings))
    values["varies_across_slices"] = tuple(varying)
    values["identifiers"] = tuple((keyword, str(first.get(keyword))) for keyword in IDENTIFIER_KEYWORDS
                                  if first.get(keyword) not in (None, ""))
    return values, warnings


def _varies_in_scan(scanned: SeriesHeaders, keyword: str, convert: Callable[[Any], Any]) -> bool:
    """Whether the slices' stored values of ``keyword`` decode to more than one record value."""
    stored = scanned.distinct(keyword)
    if len(stored) < 2:
        return False
    decoded = (_convert(stored_dataset({keyword: text}), keyword, convert, []) for text in stored)
    first = next(decoded)
    return any(value != first for value in decoded)


def _scanned_acquisitions(scanned: SeriesHeaders, warnings: list[str]) -> list[Optional[str]]:
    """Each slice's acquisition date-time (warnings per slice, as for whole headers), decoded once per value."""
    decoded: dict[tuple[Optional[str], ...], tuple[Optional[str], list[str]]] = {}
    acquisitions = []
    for row in scanned.rows(_ACQUISITION_KEYWORDS):
        if row not in decoded:
            notes: list[str] = []
            stored = dict(zip(_ACQUISITION_KEYWORDS, row))
            # one value each (the usual case): pydicom would decode DA/TM/DT to this same text, padding removed
            source = stored if not any("\\" in text for text in row if text) else stored_dataset(stored)
            decoded[row] = (_iso_datetime(source, *_ACQUISITION_KEYWORDS, notes), notes)
        value, notes = decoded[row]
        acquisitions.append(value)
        warnings.extend(notes)
    return acquisitions


def distinct_values_by_tag(datasets: Sequence[pydicom.Dataset],
                           tags: Sequence[int]) -> dict[int, list[pydicom.Dataset]]:
    """Per tag, one dataset per distinct *stored* value (compared undecoded, so 600 slices cost little).

    The stored elements are looked up in one plain dict per dataset (``Dataset.items()`` exposes them without
    decoding): ``Dataset.get_item`` per tag and slice cost more than parsing the header did. Headers read
    here are never deferred (no ``defer_size``), so a stored value is always the value itself.
    """
    holders: dict[int, dict[Any, pydicom.Dataset]] = {tag: {} for tag in tags}
    for dataset in datasets:
        elements = dict(dataset.items())
        for tag in tags:
            element = elements.get(tag)
            stored = None if element is None else element.value
            try:
                holders[tag].setdefault(stored, dataset)
            except TypeError:  # already decoded into an unhashable value (a MultiValue or a Sequence)
                holders[tag].setdefault(repr(stored), dataset)
    return {tag: list(found.values()) for tag, found in holders.items()}


def reconstruction_iterations_subsets(text: Optional[str]) -> tuple[Optional[int], Optional[int]]:
    """Iterations and subsets written into a reconstruction-method text, e.g. "OSEM3D 3i24s" -> (3, 24)."""
    match = _ITERATIONS_SUBSETS.search(text or "")
    return (int(match.group(1)), int(match.group(2))) if match else (None, None)


def gaussian_fwhm_mm(texts: Sequence[str]) -> Optional[float]:
    """FWHM of a Gaussian post-filter named in a kernel/filter text, e.g. "XYZGAUSS5.00" -> 5.0."""
    for text in texts:
        match = _GAUSSIAN_FWHM.search(text)
        if match:
            return float(match.group(1))
    return None


def _pet_fields(first: pydicom.Dataset, warnings: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    sequence = first.get("RadiopharmaceuticalInformationSequence")
    item = sequence[0] if sequence else pydicom.Dataset()
    values["radiopharmaceutical"] = _text(item.get("Radiopharmaceutical"))
    codes = item.get("RadionuclideCodeSequence")
    values["radionuclide"] = _text(codes[0].get("CodeMeaning")) if codes else None
    values["half_life_s"] = _convert(item, "RadionuclideHalfLife", _number, warnings)
    dose = _convert(item, "RadionuclideTotalDose", _number, warnings)
    values["total_dose_bq"] = dose
    if dose is not None:
        note = "as stored in RadionuclideTotalDose (0018,1074); DICOM defines the unit as Bq"
        if 0 < dose < _DOSE_LOOKS_LIKE_MBQ_BELOW:
            note += "; a value this small is probably MBq"
        values["total_dose_note"] = note
    values["injection_datetime"] = _iso_datetime(item, None, None, "RadiopharmaceuticalStartDateTime", warnings)
    start_time = item.get("RadiopharmaceuticalStartTime")
    values["injection_time"] = _parse(TM, start_time, "RadiopharmaceuticalStartTime", warnings)
    method = _text(first.get("ReconstructionMethod"))
    iterations = _convert(first, "NumberOfIterations", _number, warnings)
    subsets = _convert(first, "NumberOfSubsets", _number, warnings)
    if iterations is None and subsets is None:
        iterations, subsets = reconstruction_iterations_subsets(method)
    values["reconstruction_iterations"] = None if iterations is None else int(iterations)
    values["reconstruction_subsets"] = None if subsets is None else int(subsets)
    if _text(first.get("Modality")) == "PT":
        kernel = _texts(first.get("ConvolutionKernel"))
        values["reconstruction_filter"] = kernel
        values["reconstruction_filter_fwhm_mm"] = gaussian_fwhm_mm([*(kernel or ()), method or ""])
    return values


def _b_values(datasets: Sequence[pydicom.Dataset]) -> Optional[tuple[float, ...]]:
    """Distinct diffusion b-values (s/mm²): DiffusionBValue (0018,9087), else the vendor's private tag."""
    found = {value for value in (_b_value(ds) for ds in datasets) if value is not None}
    return tuple(sorted(found)) if found else None


def _b_value(dataset: pydicom.Dataset) -> Optional[float]:
    if dataset.get("DiffusionBValue") not in (None, ""):
        return float(dataset.DiffusionBValue)
    for group, creator, offset in ((0x0019, "SIEMENS MR HEADER", 0x0C), (0x2001, "Philips Imaging DD 001", 0x03)):
        try:
            return float(dataset.private_block(group, creator)[offset].value)
        except (KeyError, TypeError, ValueError):
            continue
    try:  # GE: first value of (0043,1039); values above 1e9 carry a flag in the high digits
        ge = dataset.private_block(0x0043, "GEMS_PARM_01")[0x39].value
        return float(int(ge[0]) % 100000)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _convert(dataset: pydicom.Dataset, keyword: str, convert: Callable[[Any], Any], warnings: list[str]) -> Any:
    """``convert`` of the attribute's value; an unusable value (text in a number, NaN, an IS of ``inf`` that
    pydicom cannot even decode) is recorded as None with a warning naming the tag."""
    try:
        return convert(dataset.get(keyword))
    except (TypeError, ValueError, OverflowError) as error:
        warnings.append(f"{tag_label(keyword)}: unusable value {_stored_text(dataset, keyword)!r} ({error}); "
                        "recorded as None")
        return None


def _stored_text(dataset: pydicom.Dataset, keyword: str) -> str:
    """The attribute's value as written, even when pydicom cannot decode it."""
    try:
        return str(dataset.get(keyword))
    except (TypeError, ValueError, OverflowError):
        raw = dataset.get_item(tag_for_keyword(keyword))
        value = getattr(raw, "value", b"")
        return value.decode("latin-1", "replace").strip() if isinstance(value, bytes) else str(value)


def _iso_datetime(dataset: pydicom.Dataset | Mapping[str, Any], date_keyword: Optional[str],
                  time_keyword: Optional[str], datetime_keyword: Optional[str], warnings: list[str]) -> Optional[str]:
    """ISO 8601 from a DT attribute if present, else from a DA + TM pair (date alone if no time)."""
    if datetime_keyword and dataset.get(datetime_keyword) not in (None, ""):
        return _parse(DT, dataset.get(datetime_keyword), datetime_keyword, warnings)
    if not date_keyword or dataset.get(date_keyword) in (None, ""):
        return None
    date = _parse(DA, dataset.get(date_keyword), date_keyword, warnings)
    time = _parse(TM, dataset.get(time_keyword), time_keyword, warnings) if time_keyword else None
    if date is None:
        return None
    return f"{date}T{time}" if time else date


def _parse(kind: type, value: Any, keyword: Optional[str], warnings: list[str]) -> Optional[str]:
    if value in (None, ""):
        return None
    try:
        parsed = value if isinstance(value, kind) else kind(str(value))
        return parsed.isoformat() if parsed is not None else None
    except ValueError as error:
        warnings.append(f"{keyword}: unreadable value {str(value)!r} ({error}); recorded as None")
        return None
