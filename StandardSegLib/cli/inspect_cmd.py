"""``standardseg inspect PATH``: what an image's headers say, without decoding any pixels.

The record is what the ESR/EORTC consensus asks a quantitative study to report (acquisition,
reconstruction, geometry); for PET it also shows the SUV conversion, or why SUV is not available, since
this is where a user finds out that a header is missing or contradictory.

JSON output (``--json``): one object whose keys are, in this order, the ``ImageRecord`` fields

- source: ``source_format``
- acquisition: ``modality``, ``manufacturer``, ``manufacturer_model_name``, ``software_versions``,
  ``image_type``, ``study_datetime``, ``series_datetime``, ``acquisition_datetime``, ``study_instance_uid``,
  ``series_instance_uid``, ``frame_of_reference_uid``, ``series_description``
- geometry: ``matrix`` [rows, columns, slices], ``number_of_slices``, ``pixel_spacing_mm`` [row, column],
  ``slice_thickness_mm``, ``spacing_between_slices_mm`` (measured from positions),
  ``spacing_between_slices_tag_mm`` (as stored), ``orientation`` (6 direction cosines),
  ``image_position_first`` (mm), ``origin`` (mm, LPS), ``spacing`` (mm, x y z), ``direction`` (3x3, columns
  are the index axes)
- patient: ``patient_sex``, ``patient_age``, ``patient_weight_kg``, ``patient_size_m``
- CT: ``kvp``, ``tube_current_ma``, ``exposure_mas``, ``ctdi_vol_mgy``, ``convolution_kernel``,
  ``reconstruction_diameter_mm``, ``spiral_pitch_factor``
- MR: ``magnetic_field_strength_t``, ``mr_acquisition_type``, ``scanning_sequence``, ``sequence_variant``,
  ``scan_options``, ``sequence_name``, ``repetition_time_ms``, ``echo_time_ms``, ``inversion_time_ms``,
  ``flip_angle_deg``, ``b_values``
- PET: ``radiopharmaceutical``, ``radionuclide``, ``half_life_s``, ``total_dose_bq``, ``total_dose_note``,
  ``injection_datetime``, ``injection_time``, ``units``, ``decay_correction``, ``corrected_image``,
  ``reconstruction_method``, ``reconstruction_iterations``, ``reconstruction_subsets``,
  ``reconstruction_filter``, ``reconstruction_filter_fwhm_mm``, ``attenuation_correction_method``,
  ``scatter_correction_method``, ``randoms_correction_method``, ``series_type``, ``frame_reference_time_ms``,
  ``actual_frame_duration_ms``, ``suv_type``
- checks: ``varies_across_slices`` (record fields whose value differs between slices), ``warnings``

then ``identifiers`` (only with ``--show-identifiers``: PatientName, PatientID, ... as stored) and ``suv``:
``null`` unless the modality is PT; for PT either ``{"available": true, ...SUVConversion.to_dict()}``
(suv_type, factors, rule, source_units, reference_time, injection_time, decay_factor, normaliser, warnings)
or ``{"available": false, "reason": "..."}``. Absent values are ``null``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Optional, Sequence

import pydicom

from StandardSegLib.cli.output import print_json, to_jsonable
from StandardSegLib.cli.progress_bar import TerminalProgress
from StandardSegLib.errors import SUVError

#: Groups shown in text output only for their modality (or, when the modality is unknown, if a value is set).
_MODALITY_GROUPS = {"CT": "CT", "MR": "MR", "PET": "PT"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect", help="show an image's acquisition, reconstruction and geometry record (headers only)",
        description="Read the headers of an image (DICOM folder or file, NRRD, NIfTI, MetaImage with optional "
        "JSON sidecar) and print what the ESR/EORTC consensus asks to report: acquisition and reconstruction "
        "parameters, geometry, and for PET the SUV conversion or why it is unavailable. Pixels are not read.")
    parser.add_argument("path", help="DICOM series folder or file, .nrrd/.nhdr, .nii/.nii.gz, .mha/.mhd")
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID to inspect when a folder holds "
                        "several series")
    parser.add_argument("--json", action="store_true", help="print one JSON object (keys: see module docs)")
    parser.add_argument("--show-identifiers", action="store_true",
                        help="also print patient/site identifiers (PatientName, PatientID, ...); off by default")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from StandardSegLib.imaging import read_image_headers  # lazy: keeps `standardseg --help` fast

    record, datasets = read_image_headers(args.path, series_uid=args.series, progress=TerminalProgress(sys.stderr))
    result = record.to_dict(include_identifiers=args.show_identifiers)
    result["suv"] = suv_summary(datasets) if record.modality == "PT" else None
    if args.json:
        print_json(result)
    else:
        _print_text(result, record.field_groups())
    return 0


def suv_summary(datasets: Sequence[pydicom.Dataset]) -> dict[str, Any]:
    """SUVbw conversion of a PET series, or why it cannot be computed (never raises SUVError)."""
    from StandardSegLib.suv import suv_conversion

    try:
        return {"available": True, **suv_conversion(datasets, suv_type="SUVbw").to_dict()}
    except SUVError as error:
        return {"available": False, "reason": str(error)}


def _print_text(result: dict[str, Any], groups: dict[str, tuple[str, ...]]) -> None:
    modality = result.get("modality")
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for group, names in groups.items():
        rows = [(name, _format(result[name])) for name in names]
        expected = _MODALITY_GROUPS.get(group)
        if expected and modality != expected and (modality is not None or all(result[n] is None for n in names)):
            continue
        if group == "checks":
            rows = [(name, value) for name, value in rows if name != "warnings" and value != "-"]
            rows += [("warnings" if k == 0 else "", text) for k, text in enumerate(result["warnings"])]
            if not rows:
                continue
        sections.append((group, rows))
    if "identifiers" in result:
        sections.append(("identifiers", [(key, str(value)) for key, value in result["identifiers"].items()]))
    if result["suv"] is not None:
        sections.append(("SUV", _suv_rows(result["suv"])))
    width = max(len(name) for _, rows in sections for name, _ in rows)
    for group, rows in sections:
        print(f"[{group}]")
        for name, value in rows:
            print(f"  {name.ljust(width)}  {value}")


def _suv_rows(suv: dict[str, Any]) -> list[tuple[str, str]]:
    if not suv["available"]:
        return [("available", "no"), ("reason", suv["reason"])]
    factors = suv["factors"]
    spread = f"{min(factors):.6g}" if min(factors) == max(factors) else f"{min(factors):.6g} .. {max(factors):.6g}"
    rows = [("available", "yes"), ("suv_type", suv["suv_type"]), ("factor", f"{spread} (SUV = value x factor)")]
    rows += [(key, _format(suv[key])) for key in ("rule", "source_units", "reference_time", "injection_time",
                                                  "decay_factor", "normaliser", "warnings")]
    return rows


def _format(value: Optional[Any]) -> str:
    value = to_jsonable(value)
    if value is None or value == [] or value == {}:
        return "-"
    if isinstance(value, list):
        if value and isinstance(value[0], list):
            return "  ".join("(" + ", ".join(_number(v) for v in row) + ")" for row in value)
        return ", ".join(_number(v) if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={_format(item)}" for key, item in value.items())
    return _number(value) if isinstance(value, float) else str(value)


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
