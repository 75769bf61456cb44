"""One time point of a longitudinal comparison: a report bundle's report.json and its lesions.

A time point is named by the bundle folder, its ``report.json`` or its ``session.json`` (a session sits in
the bundle beside the report). Each lesion's centre is the centroid of its segment file in the bundle
(``segments/<name>.seg.nrrd``), so lesions can be paired by position when their names differ.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import SimpleITK as sitk

from StandardSegLib.errors import InputError
from StandardSegLib.report.report_json import ReportSchemaError, validate_report

REPORT_JSON, SESSION_JSON = "report.json", "session.json"
Point = tuple[float, float, float]


@dataclass(frozen=True)
class Lesion:
    """The measurements a comparison uses, from one segment of report.json (volumes in mL, lengths in mm)."""

    name: str
    volume_ml: Optional[float]
    long_axis_mm: Optional[float]
    units: Optional[str]  # of the uptake values (SUVbw, SUVlbm ...); None without uptake measurements
    suv_max: Optional[float]
    suv_peak: Optional[float]
    suv_mean: Optional[float]
    tlg: Optional[float]
    centre_lps: Optional[Point]


@dataclass(frozen=True)
class Timepoint:
    """A loaded report: the document, where it came from, and its lesions in report order."""

    label: str  # what the comparison calls the input: the path given, or its hash when de-identified
    report: Mapping[str, Any]
    report_sha256: str
    lesions: tuple[Lesion, ...]

    @property
    def failed_lesions(self) -> tuple[str, ...]:
        return tuple(failure.get("name", "?") for failure in self.report.get("failures", []))


def load_timepoint(path: str | Path) -> Timepoint:
    """Read the bundle at ``path`` (folder, report.json or session.json); raise ``InputError`` naming the
    file when it is not a StandardSeg report."""
    report_file = _report_file(Path(path))
    data = report_file.read_bytes()
    try:
        document = json.loads(data)
        validate_report(document)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{report_file}: expected a report.json (standardseg.report/1), found invalid JSON "
                         f"({error})") from None
    except ReportSchemaError as error:
        raise InputError(f"{report_file}: expected a report.json of a StandardSeg bundle: {error}") from None
    digest = hashlib.sha256(data).hexdigest()
    label = f"report.json sha256 {digest[:12]}" if document["deidentified"] else str(path)
    segments = report_file.parent / "segments"
    lesions = tuple(_lesion(segment, segments) for segment in document["segments"])
    return Timepoint(label=label, report=document, report_sha256=digest, lesions=lesions)


def _report_file(path: Path) -> Path:
    if path.is_dir():
        path = path / REPORT_JSON
    elif path.name == SESSION_JSON:
        path = path.with_name(REPORT_JSON)
    if not path.is_file():
        raise InputError(f"{path}: expected a report bundle (its folder, report.json or session.json), "
                         f"found no such file")
    return path


def _lesion(segment: Mapping[str, Any], segments: Path) -> Lesion:
    measurements = segment["measurements"]
    uptake = measurements.get("uptake") or {}
    volume = measurements.get("volume_voxels_mm3")
    axial = measurements.get("axial") or {}
    return Lesion(name=segment["name"], volume_ml=None if volume is None else volume / 1000.0,
                  long_axis_mm=axial.get("long_axis_mm"), units=uptake.get("units"),
                  suv_max=uptake.get("suv_max"), suv_peak=uptake.get("suv_peak"), suv_mean=uptake.get("suv_mean"),
                  tlg=uptake.get("tlg_suv_ml"), centre_lps=_centroid(segments / f"{segment['name']}.seg.nrrd"))


def _centroid(path: Path) -> Optional[Point]:
    """Physical (LPS) centroid of the non-zero voxels of a segment file; None when the file is absent."""
    if not path.is_file():
        return None
    try:
        mask = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(f"{path}: cannot read the segment ({str(error).strip().splitlines()[-1]})") from None
    if mask.GetNumberOfComponentsPerPixel() > 1:
        mask = sitk.VectorIndexSelectionCast(mask, 0)
    shape = sitk.LabelShapeStatisticsImageFilter()
    shape.Execute(sitk.Cast(mask != 0, sitk.sitkUInt8))
    return tuple(shape.GetCentroid(1)) if shape.HasLabel(1) else None
